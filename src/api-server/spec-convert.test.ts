import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findRepoRoot, CRD_FILE } from '../api/crd/buf.js';
import { GOOD_SPECS } from '../api/crd/spec-cases.js';
import { DeletionPolicy } from '../gen/planton/helm/v1/helm_release.js';
import { durationText, ENUM_SPELLINGS, SpecConversionError, specFromCrd, specToCrd } from './spec-convert.js';

const FULL = {
  repo: 'oci://registry.example.com/charts',
  name: 'podinfo',
  version: '6.5.4',
  values: { replicaCount: 2, nested: { list: [1, 'two', null, true] } },
  valuesFrom: [
    { kind: 'Secret', name: 'db', key: 'values.yaml', targetPath: 'db.password', optional: true },
    { kind: 'ConfigMap', name: 'common' },
  ],
  atomic: false,
  wait: true,
  timeout: '1h30m',
  interval: '1500ms',
  releaseName: 'web',
  targetNamespace: 'apps',
  createNamespace: true,
  auth: { secretRef: { name: 'creds' }, caSecretRef: { name: 'ca' } },
  driftDetection: { mode: 'warn', ignore: [{ paths: ['/spec/replicas'], target: { group: 'apps', kind: 'Deployment', name: 'web' } }] },
  remediation: { retries: 0, strategy: 'uninstall' },
  test: { enable: true, ignoreFailures: true },
  dependsOn: [{ name: 'db', namespace: 'data' }, { name: 'cache' }],
  serviceAccountName: 'deployer',
  maxHistory: 0,
  suspend: true,
  deletionPolicy: 'Orphan',
};

describe('spec conversion', () => {
  it('carries every field of the CRD JSON through the proto message and back', () => {
    expect(specToCrd(specFromCrd(FULL))).toEqual(FULL);
  });

  it('leaves out what is not set, so a server-side apply owns only what the caller wrote', () => {
    expect(specToCrd(specFromCrd({ repo: 'https://c.example.com', name: 'x', version: '1.0.0' }))).toEqual({ repo: 'https://c.example.com', name: 'x', version: '1.0.0' });
  });

  // In the message's terms: a duration may come back spelled otherwise (0.5h as 30m).
  it.each(GOOD_SPECS.map((c) => [c.name, c.spec] as const))('round-trips the admission suite’s good spec: %s', (_name, spec) => {
    const message = specFromCrd(spec);
    expect(specFromCrd(specToCrd(message))).toEqual(message);
  });

  it('has the CRD’s spelling for every enum value', () => {
    const crd = parseYaml(readFileSync(join(findRepoRoot(import.meta.dirname), CRD_FILE), 'utf8')) as {
      spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, Record<string, unknown>> } } } } }[] };
    };
    const p = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties ?? {};
    const enumAt = (...path: string[]): unknown => {
      let node: Record<string, unknown> | undefined = p[path[0] ?? ''];
      for (const step of path.slice(1)) node = (node?.[step] as Record<string, unknown> | undefined);
      return node?.['enum'];
    };
    expect([...ENUM_SPELLINGS.deletionPolicy.values()]).toEqual(enumAt('deletionPolicy'));
    expect([...ENUM_SPELLINGS.valuesSourceKind.values()]).toEqual(enumAt('valuesFrom', 'items', 'properties', 'kind'));
    expect([...ENUM_SPELLINGS.driftDetectionMode.values()]).toEqual(enumAt('driftDetection', 'properties', 'mode'));
    expect([...ENUM_SPELLINGS.remediationStrategy.values()]).toEqual(enumAt('remediation', 'properties', 'strategy'));
  });

  it('writes durations the way people do', () => {
    expect(durationText({ seconds: 90, nanos: 0 }, 't')).toBe('1m30s');
    expect(durationText({ seconds: 600, nanos: 0 }, 't')).toBe('10m');
    expect(durationText({ seconds: 3600, nanos: 0 }, 't')).toBe('1h');
    expect(durationText({ seconds: 1, nanos: 500_000_000 }, 't')).toBe('1500ms');
    expect(() => durationText({ seconds: -1, nanos: 0 }, 'spec.timeout')).toThrow('spec.timeout: must be a positive duration');
    expect(() => durationText({ seconds: 0, nanos: 1 }, 'spec.timeout')).toThrow('whole number of milliseconds');
  });

  it('names the field of an unknown enum value, a wrong type or an unknown field', () => {
    const spec = specFromCrd({ repo: 'https://c.example.com', name: 'x', version: '1.0.0' });
    expect(() => specToCrd({ ...spec, deletionPolicy: 42 as DeletionPolicy })).toThrow(new SpecConversionError('spec.deletionPolicy', 'unknown value 42; one of 1, 2'));
    expect(() => specFromCrd({ ...FULL, deletionPolicy: 'orphan' })).toThrow('spec.deletionPolicy: must be one of Delete, Orphan');
    expect(() => specFromCrd({ ...FULL, timeout: 'soon' })).toThrow('spec.timeout: must be a duration');
    expect(() => specFromCrd({ ...FULL, valuesFrom: [{ kind: 'Secret', name: 3 }] })).toThrow('spec.valuesFrom[0].name: must be a string');
    expect(() => specFromCrd({ ...FULL, colour: 'blue' })).toThrow('spec.colour: unknown field');
    expect(() => specFromCrd([])).toThrow('spec: must be an object');
  });
});
