import { describe, expect, it } from 'vitest';
import { ChangeType, type DiffResponse, type ObjectDiff } from './client.js';
import { diffDocument, hasChanges, lineDiff, type ReleaseDiff, renderDiffText } from './diff-render.js';

const obj = (o: Partial<ObjectDiff> & Pick<ObjectDiff, 'kind' | 'name' | 'change'>): ObjectDiff => ({ apiVersion: 'v1', namespace: 'web', fields: [], ...o });

const upgrade: DiffResponse = {
  install: false,
  chartVersion: '6.6.0',
  objects: [
    obj({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'podinfo',
      change: ChangeType.UPDATE,
      fields: [
        { path: '/spec/replicas', live: '1', desired: '2', redacted: false },
        { path: '/metadata/labels', live: '{"app":"podinfo","tier":"a","x":"1","y":"2","z":"3","w":"4"}', desired: '{"app":"podinfo","tier":"b","x":"1","y":"2","z":"3","w":"4"}', redacted: false },
      ],
    }),
    obj({ kind: 'Secret', name: 'podinfo-token', change: ChangeType.UPDATE, fields: [{ path: '/data/token', live: '', desired: '', redacted: true }] }),
    obj({ kind: 'ConfigMap', name: 'extra', change: ChangeType.CREATE }),
    obj({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', namespace: '', name: 'old', change: ChangeType.DELETE }),
    obj({ kind: 'Service', name: 'same', change: ChangeType.UNCHANGED }),
  ],
};
const diffs: ReleaseDiff[] = [{ namespace: 'web', name: 'podinfo', response: upgrade }];

describe('text rendering', () => {
  it('prints each changed object with has been added / removed / has changed and a unified diff of its fields', () => {
    expect(renderDiffText(diffs, false)).toBe(
      [
        'HelmRelease web/podinfo: upgrade (chart version 6.6.0): 1 to add, 2 to change, 1 to remove',
        'web, podinfo, Deployment (apps/v1) has changed:',
        '  @@ /spec/replicas @@',
        '  - 1',
        '  + 2',
        '  @@ /metadata/labels @@',
        '    app: podinfo',
        '  - tier: a',
        '  + tier: b',
        '    x: "1"',
        '    y: "2"',
        '    z: "3"',
        '    ...',
        'web, podinfo-token, Secret (v1) has changed:',
        '  @@ /data/token @@',
        '  ~ (value hidden: Secret data)',
        'web, extra, ConfigMap (v1) has been added',
        'old, ClusterRole (rbac.authorization.k8s.io/v1) has been removed',
        '',
      ].join('\n'),
    );
  });

  it('colours only when asked: red removals, green additions, and nothing else differs', () => {
    const coloured = renderDiffText(diffs, true);
    expect(coloured).toContain('\u001b[31m- 1\u001b[0m');
    expect(coloured).toContain('\u001b[32m+ 2\u001b[0m');
    expect(coloured).toContain('\u001b[32mhas been added\u001b[0m');
    expect(coloured.replace(/\u001b\[\d+m/g, '')).toBe(renderDiffText(diffs, false));
    expect(renderDiffText(diffs, false)).not.toContain('\u001b');
  });

  it('never prints the data of a Secret, even when the server did not redact it', () => {
    const leaky: ReleaseDiff = {
      namespace: 'web',
      name: 'x',
      response: { install: false, chartVersion: '1.0.0', objects: [obj({ kind: 'Secret', name: 's', change: ChangeType.UPDATE, fields: [{ path: '/stringData/password', live: '"hunter2"', desired: '"hunter3"', redacted: false }] })] },
    };
    const text = renderDiffText([leaky], false);
    expect(text).toContain('~ (value hidden: Secret data)');
    expect(text).not.toContain('hunter');
    expect(JSON.stringify(diffDocument([leaky]))).not.toContain('hunter');
  });

  it('says when nothing would change', () => {
    const none: ReleaseDiff = { namespace: 'web', name: 'podinfo', response: { install: false, chartVersion: '6.6.0', objects: [obj({ kind: 'Service', name: 's', change: ChangeType.UNCHANGED })] } };
    expect(renderDiffText([none], false)).toBe('HelmRelease web/podinfo: no changes (chart version 6.6.0)\n');
    expect(hasChanges([none])).toBe(false);
  });

  it('shows a new release as an install', () => {
    const install: ReleaseDiff = { namespace: 'web', name: 'new', response: { install: true, chartVersion: '1.0.0', objects: [obj({ kind: 'ConfigMap', name: 'c', change: ChangeType.CREATE })] } };
    expect(renderDiffText([install], false)).toBe('HelmRelease web/new: install (chart version 1.0.0): 1 to add, 0 to change, 0 to remove\nweb, c, ConfigMap (v1) has been added\n');
    expect(hasChanges([install])).toBe(true);
  });

  it('shows a field that appears or disappears with only + or - lines', () => {
    const r: ReleaseDiff = {
      namespace: 'n',
      name: 'r',
      response: {
        install: false,
        chartVersion: '1.0.0',
        objects: [obj({ kind: 'ConfigMap', name: 'c', change: ChangeType.UPDATE, fields: [{ path: '/data/new', live: '', desired: '"a\\nb"', redacted: false }, { path: '/data/old', live: '"x"', desired: '', redacted: false }] })],
      },
    };
    expect(renderDiffText([r], false).split('\n').slice(2)).toEqual(['  @@ /data/new @@', '  + |-', '  + a', '  + b', '  @@ /data/old @@', '  - x', '']);
  });
});

describe('json rendering', () => {
  it('gives machines the changed objects with parsed values, and redacted fields without values', () => {
    expect(diffDocument(diffs)).toEqual({
      changed: true,
      releases: [
        {
          namespace: 'web',
          name: 'podinfo',
          install: false,
          chartVersion: '6.6.0',
          objects: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              namespace: 'web',
              name: 'podinfo',
              change: 'changed',
              fields: [
                { path: '/spec/replicas', live: 1, desired: 2 },
                { path: '/metadata/labels', live: { app: 'podinfo', tier: 'a', x: '1', y: '2', z: '3', w: '4' }, desired: { app: 'podinfo', tier: 'b', x: '1', y: '2', z: '3', w: '4' } },
              ],
            },
            { apiVersion: 'v1', kind: 'Secret', namespace: 'web', name: 'podinfo-token', change: 'changed', fields: [{ path: '/data/token', redacted: true }] },
            { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'extra', change: 'added', fields: [] },
            { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', namespace: '', name: 'old', change: 'removed', fields: [] },
          ],
        },
      ],
    });
  });
});

describe('lineDiff', () => {
  it('keeps common lines and marks the rest', () => {
    expect(lineDiff(['a', 'b', 'c'], ['a', 'x', 'c', 'd'])).toEqual([
      { op: ' ', line: 'a' },
      { op: '-', line: 'b' },
      { op: '+', line: 'x' },
      { op: ' ', line: 'c' },
      { op: '+', line: 'd' },
    ]);
  });
});
