import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeletionPolicy, DriftDetectionMode } from '../gen/planton/helm/v1/helm_release.js';
import { ManifestError } from './errors.js';
import { manifestsFromYaml, type NamespaceChoice, readManifests } from './manifest.js';

const contextNs: NamespaceChoice = { value: 'from-context', explicit: false };
const flagNs = (value: string): NamespaceChoice => ({ value, explicit: true });

const helmRelease = (name: string, extra = '') => `apiVersion: helm.project-planton.org/v1
kind: HelmRelease
metadata:
  name: ${name}
${extra}spec:
  repo: https://charts.example.com/stable
  name: podinfo
  version: 6.5.0
  timeout: 90s
  deletionPolicy: Orphan
  driftDetection: {mode: warn}
  values: {replicaCount: 2}
`;

describe('HelmRelease manifests', () => {
  it('reads every document of a multi-document file, in order, skipping empty ones', () => {
    const text = `${helmRelease('a')}---\n---\n${helmRelease('b', '  namespace: team\n  labels: {tier: web}\n')}`;
    const [a, b, ...rest] = manifestsFromYaml(text, 'apps.yaml', contextNs);
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ name: 'a', namespace: 'from-context', writtenAs: 'HelmRelease', source: 'apps.yaml (document 1)' });
    expect(b).toMatchObject({ name: 'b', namespace: 'team', labels: { tier: 'web' }, source: 'apps.yaml (document 3)' });
  });

  it('converts the spec with the CRD spellings: enum words, Go durations, values as JSON', () => {
    const [m] = manifestsFromYaml(helmRelease('a'), 'a.yaml', contextNs);
    expect(m?.spec).toMatchObject({
      repo: 'https://charts.example.com/stable',
      name: 'podinfo',
      version: '6.5.0',
      timeout: { seconds: 90, nanos: 0 },
      deletionPolicy: DeletionPolicy.ORPHAN,
      driftDetection: { mode: DriftDetectionMode.WARN },
      values: { replicaCount: 2 },
    });
  });

  it('reads a kind: List', () => {
    const text = `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: helm.project-planton.org/v1\n    kind: HelmRelease\n    metadata: {name: x}\n    spec: {repo: "https://r.example.com", name: c, version: 1.0.0}\n`;
    expect(manifestsFromYaml(text, 'l.yaml', contextNs).map((m) => m.name)).toEqual(['x']);
  });

  it('refuses a namespace that disagrees with --namespace, as kubectl does', () => {
    expect(() => manifestsFromYaml(helmRelease('a', '  namespace: team\n'), 'a.yaml', flagNs('other'))).toThrow(
      'a.yaml, HelmRelease a: metadata.namespace is team but --namespace is other',
    );
  });

  it.each([
    ['a misspelt enum word', helmRelease('a').replace('Orphan', 'orphan'), 'a.yaml, HelmRelease a: spec.deletionPolicy: must be one of Delete, Orphan'],
    ['an unknown field', helmRelease('a').replace('  timeout: 90s\n', '  timeOut: 90s\n'), 'a.yaml, HelmRelease a: spec.timeOut: unknown field'],
    ['a bad duration', helmRelease('a').replace('90s', 'ninety'), 'a.yaml, HelmRelease a: spec.timeout: must be a duration'],
    ['no name', 'apiVersion: helm.project-planton.org/v1\nkind: HelmRelease\nmetadata: {}\nspec: {}\n', 'a.yaml: metadata.name: required'],
    ['another kind', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n', 'a.yaml: Deployment (apiVersion apps/v1) is neither a HelmRelease'],
    ['a label that is not a string', helmRelease('a', '  labels: {n: 1}\n'), 'a.yaml, HelmRelease a: metadata.labels.n: must be a string'],
    ['broken YAML', 'kind: [unclosed\n', 'a.yaml: '],
    ['nothing', '# only a comment\n', 'a.yaml: no HelmRelease in it'],
  ])('names the file and the field for %s', (_what, text, message) => {
    expect(() => manifestsFromYaml(text, 'a.yaml', contextNs)).toThrow(ManifestError);
    expect(() => manifestsFromYaml(text, 'a.yaml', contextNs)).toThrow(message);
  });

  it('warns about what it does not send', () => {
    const [m] = manifestsFromYaml(helmRelease('a', '  annotations: {a: b}\n'), 'a.yaml', contextNs);
    expect(m?.warnings).toEqual(['a.yaml, HelmRelease a: metadata.annotations are not sent (the API sets labels only)']);
  });

  it('reads a file from disk and says which one it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'planton-helm-'));
    writeFileSync(join(dir, 'a.yaml'), helmRelease('disk'));
    expect(readManifests(join(dir, 'a.yaml'), contextNs).map((m) => m.name)).toEqual(['disk']);
    expect(() => readManifests(join(dir, 'missing.yaml'), contextNs)).toThrow(`cannot read ${join(dir, 'missing.yaml')}`);
  });
});

const planton = (spec: string, apiVersion = 'kubernetes.planton.dev/v1') => `apiVersion: ${apiVersion}
kind: KubernetesHelmRelease
metadata:
  name: redis
  org: acme
  labels: {team: data}
spec:
${spec}`;

describe('Project Planton KubernetesHelmRelease manifests', () => {
  const basic = `  namespace: {value: cache}
  createNamespace: true
  repo: https://charts.example.com/bitnami
  name: redis
  version: 18.19.0
  values:
    architecture: replication
    replicaCount: "3"
`;

  it('becomes a HelmRelease named like it, in spec.namespace, with its chart, values and createNamespace', () => {
    const [m] = manifestsFromYaml(planton(basic), 'redis.yaml', contextNs);
    expect(m).toMatchObject({ name: 'redis', namespace: 'cache', labels: { team: 'data' }, writtenAs: 'KubernetesHelmRelease', warnings: [] });
    expect(m?.spec).toMatchObject({
      repo: 'https://charts.example.com/bitnami',
      name: 'redis',
      version: '18.19.0',
      createNamespace: true,
      targetNamespace: '',
      // Planton's values are strings, and stay strings, as Planton hands them to Helm.
      values: { architecture: 'replication', replicaCount: '3' },
    });
  });

  it("accepts Planton's own apiVersion and snake_case field names, and a plain namespace string", () => {
    const spec = `  target_cluster: {cluster_name: prod}
  namespace: cache
  create_namespace: true
  repo: https://charts.example.com/bitnami
  name: redis
  version: 18.19.0
`;
    const [m] = manifestsFromYaml(planton(spec, 'kubernetes.project-planton.org/v1'), 'redis.yaml', contextNs);
    expect(m).toMatchObject({ namespace: 'cache', spec: { createNamespace: true } });
    expect(m?.warnings).toEqual([
      'redis.yaml, KubernetesHelmRelease redis: spec.targetCluster is ignored: the release goes to the cluster of the API server planton-helm calls',
    ]);
  });

  it('is kept in the namespace -n names when that is another one, installing into spec.namespace', () => {
    const [m] = manifestsFromYaml(planton(basic), 'redis.yaml', flagNs('platform'));
    expect(m).toMatchObject({ namespace: 'platform', spec: { targetNamespace: 'cache', createNamespace: true } });
  });

  it("goes to the command's namespace when it has no spec.namespace", () => {
    const [m] = manifestsFromYaml(planton('  repo: https://r.example.com\n  name: c\n  version: 1.0.0\n'), 'c.yaml', contextNs);
    expect(m).toMatchObject({ namespace: 'from-context', spec: { targetNamespace: '' } });
  });

  it.each([
    ['a namespace reference', basic.replace('{value: cache}', '{valueFrom: {kind: KubernetesNamespace, name: x}}'), 'spec.namespace: a reference to another resource cannot be resolved'],
    ['an unknown field', `${basic}  atomic: true\n`, 'spec.atomic: unknown field of a KubernetesHelmRelease'],
    ['a field given in both spellings', `${basic}  create_namespace: false\n`, 'spec.create_namespace: given twice (as createNamespace too)'],
    ['values that are not a map', basic.replace(/ {2}values:[\s\S]*$/, '  values: [a]\n'), 'spec.values: must be a map'],
    ['createNamespace that is not a boolean', basic.replace('createNamespace: true', 'createNamespace: "yes"'), 'spec.createNamespace: must be true or false'],
  ])('refuses %s, naming the field', (_what, spec, message) => {
    expect(() => manifestsFromYaml(planton(spec), 'r.yaml', contextNs)).toThrow(`r.yaml, KubernetesHelmRelease redis: ${message}`);
  });

  it('refuses a wrongly typed chart field with the same message as for a HelmRelease', () => {
    expect(() => manifestsFromYaml(planton(basic.replace('version: 18.19.0', 'version: 18')), 'r.yaml', contextNs)).toThrow(
      'r.yaml, KubernetesHelmRelease redis: spec.version: must be a string',
    );
  });
});
