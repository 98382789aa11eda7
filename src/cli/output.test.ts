import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { HelmReleaseSpec, HelmReleaseStatus, ReleaseHistoryEntry } from '../gen/planton/helm/v1/helm_release.js';
import { DeletionPolicy } from '../gen/planton/helm/v1/helm_release.js';
import { type HelmRelease, WatchEventType } from './client.js';
import { formatHelmReleases, formatHistory, formatWatchEvent, helmReleaseObject, humanAge } from './output.js';

const now = new Date('2025-06-01T12:00:00Z');

function release(name: string, opts: { namespace?: string; ready?: string; reason?: string; ageMs?: number; revision?: number; suspend?: boolean; deleting?: boolean } = {}): HelmRelease {
  return {
    namespace: opts.namespace ?? 'default',
    name,
    labels: { team: 'web' },
    spec: HelmReleaseSpec.fromPartial({ repo: 'https://charts.example.com', name: 'podinfo', version: '6.5.0', suspend: opts.suspend ?? false, deletionPolicy: DeletionPolicy.ORPHAN, timeout: { seconds: 90, nanos: 0 } }),
    status: HelmReleaseStatus.fromPartial({
      observedGeneration: 2,
      conditions: opts.ready ? [{ type: 'Ready', status: opts.ready, reason: opts.reason ?? '', message: 'm', lastTransitionTime: now, observedGeneration: 2 }] : [],
      release: opts.revision ? { name, namespace: 'default', revision: opts.revision, chartName: 'podinfo', chartVersion: '6.5.0', appVersion: '6.5.0', status: 'deployed' } : undefined,
    }),
    generation: 2,
    resourceVersion: '42',
    uid: 'u-1',
    creationTime: new Date(now.getTime() - (opts.ageMs ?? 0)),
    deletionTime: opts.deleting ? now : undefined,
  };
}

describe('humanAge', () => {
  it.each([
    [-5_000, '0s'],
    [45_000, '45s'],
    [119_000, '119s'],
    [330_000, '5m30s'],
    [45 * 60_000, '45m'],
    [5.5 * 3_600_000, '5h30m'],
    [30 * 3_600_000, '30h'],
    [(3 * 24 + 4) * 3_600_000, '3d4h'],
    [45 * 86_400_000, '45d'],
    [(2 * 365 + 30) * 86_400_000, '2y30d'],
  ])('%d ms is %s', (ms, text) => expect(humanAge(ms)).toBe(text));
});

describe('table output', () => {
  it('prints NAME READY STATUS CHART VERSION REVISION AGE, aligned like kubectl', () => {
    const text = formatHelmReleases(
      [release('web', { ready: 'True', reason: 'InstallSucceeded', ageMs: 330_000, revision: 3 }), release('a-much-longer-name', { ready: 'False', reason: 'UpgradeFailed', ageMs: 45_000 })],
      'table',
      { allNamespaces: false, now },
    );
    expect(text).toBe(
      [
        'NAME                 READY   STATUS             CHART     VERSION   REVISION   AGE',
        'web                  True    InstallSucceeded   podinfo   6.5.0     3          5m30s',
        'a-much-longer-name   False   UpgradeFailed      podinfo   6.5.0                45s',
        '',
      ].join('\n'),
    );
  });

  it('adds NAMESPACE first with -A; says Unknown before the controller wrote Ready, Suspended and Terminating as they happen', () => {
    const lines = formatHelmReleases(
      [release('new', { namespace: 'a' }), release('held', { namespace: 'b', ready: 'True', reason: 'InstallSucceeded', suspend: true }), release('gone', { namespace: 'c', ready: 'True', deleting: true })],
      'table',
      { allNamespaces: true, now },
    ).split('\n');
    expect(lines[0]?.split(/\s{2,}/)).toEqual(['NAMESPACE', 'NAME', 'READY', 'STATUS', 'CHART', 'VERSION', 'REVISION', 'AGE']);
    expect(lines[1]?.split(/\s+/)).toEqual(['a', 'new', 'Unknown', 'podinfo', '6.5.0', '0s']);
    expect(lines[2]?.split(/\s+/)).toEqual(['b', 'held', 'True', 'Suspended', 'podinfo', '6.5.0', '0s']);
    expect(lines[3]?.split(/\s+/)).toEqual(['c', 'gone', 'True', 'Terminating', 'podinfo', '6.5.0', '0s']);
  });
});

describe('json and yaml output', () => {
  const expected = {
    apiVersion: 'helm.project-planton.org/v1',
    kind: 'HelmRelease',
    metadata: { name: 'web', namespace: 'default', labels: { team: 'web' }, uid: 'u-1', resourceVersion: '42', generation: 2, creationTimestamp: '2025-06-01T11:55:00Z' },
    spec: { repo: 'https://charts.example.com', name: 'podinfo', version: '6.5.0', timeout: '1m30s', deletionPolicy: 'Orphan' },
    status: {
      observedGeneration: 2,
      conditions: [{ type: 'Ready', status: 'True', reason: 'InstallSucceeded', message: 'm', lastTransitionTime: '2025-06-01T12:00:00.000Z', observedGeneration: 2 }],
      release: { name: 'web', namespace: 'default', revision: 1, chartName: 'podinfo', chartVersion: '6.5.0', appVersion: '6.5.0', status: 'deployed' },
    },
  };
  const hr = release('web', { ready: 'True', reason: 'InstallSucceeded', ageMs: 300_000, revision: 1 });

  it('is the Kubernetes object, the spec spelled as in the CRD', () => {
    expect(helmReleaseObject(hr)).toEqual(expected);
  });

  it('prints one object for get NAME, and a List otherwise, in JSON and YAML alike', () => {
    expect(JSON.parse(formatHelmReleases([hr], 'json', { allNamespaces: false, now, single: true }))).toEqual(expected);
    expect(parseYaml(formatHelmReleases([hr], 'yaml', { allNamespaces: false, now, single: true }))).toEqual(expected);
    expect(JSON.parse(formatHelmReleases([hr], 'json', { allNamespaces: false, now }))).toEqual({ apiVersion: 'v1', kind: 'List', items: [expected], metadata: {} });
    expect(parseYaml(formatHelmReleases([], 'yaml', { allNamespaces: true, now }))).toEqual({ apiVersion: 'v1', kind: 'List', items: [], metadata: {} });
  });

  it('prints a watch event as one JSON line with its type', () => {
    const line = formatWatchEvent(WatchEventType.MODIFIED, hr, 'json', now);
    expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({ type: 'MODIFIED', object: expected });
  });

  it('prints a watch event as a table line with the event and namespace first', () => {
    expect(formatWatchEvent(WatchEventType.ADDED, hr, 'table', now).split(/\s+/).filter(Boolean)).toEqual(['ADDED', 'default', 'web', 'True', 'InstallSucceeded', 'podinfo', '6.5.0', '1', '5m']);
  });
});

describe('history output', () => {
  const revisions = [3, 2, 1].map((revision) =>
    ReleaseHistoryEntry.fromPartial({
      revision,
      chartVersion: `1.${revision}.0`,
      appVersion: '2.0',
      status: revision === 3 ? 'deployed' : 'superseded',
      valuesDigest: 'ab'.repeat(32),
      deployedAt: new Date(Date.UTC(2025, 0, revision)),
      testResult: revision === 3 ? 'Succeeded' : '',
    }),
  );

  it('lists revisions oldest first, as helm history does', () => {
    const lines = formatHistory(revisions, 'table').trimEnd().split('\n');
    expect(lines[0]?.split(/\s{2,}/)).toEqual(['REVISION', 'UPDATED', 'STATUS', 'CHART VERSION', 'APP VERSION', 'TEST', 'VALUES DIGEST']);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      ['1', '2025-01-01T00:00:00Z', 'superseded', '1.1.0', '2.0', 'abababababab'],
      ['2', '2025-01-02T00:00:00Z', 'superseded', '1.2.0', '2.0', 'abababababab'],
      ['3', '2025-01-03T00:00:00Z', 'deployed', '1.3.0', '2.0', 'Succeeded', 'abababababab'],
    ]);
  });

  it('prints the entries as JSON in the same order', () => {
    const entries = JSON.parse(formatHistory(revisions, 'json')) as { revision: number; deployedAt: string }[];
    expect(entries.map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(entries[2]).toEqual({ revision: 3, chartVersion: '1.3.0', appVersion: '2.0', status: 'deployed', valuesDigest: 'ab'.repeat(32), deployedAt: '2025-01-03T00:00:00.000Z', testResult: 'Succeeded' });
  });
});
