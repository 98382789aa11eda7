// The generated HelmRelease CRD on the real API server: bad specs are refused at `kubectl apply`
// with a message that says what is wrong, good ones are admitted with the documented defaults
// (the same ones zod applies), `kubectl explain` shows the proto comments and `kubectl get` the
// design's columns. No reconciler runs here. The CRD is applied, never deleted: other suites on
// the same cluster use it.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { CRD_FILE } from '../../src/api/crd/buf.js';
import { CRD_NAME, type CustomResourceDefinition } from '../../src/api/crd/generate.js';
import { BAD_SPECS, GOOD_SPECS, MINIMAL_SPEC } from '../../src/api/crd/spec-cases.js';
import { API_VERSION, HelmReleaseSpecSchema, KIND } from '../../src/api/helm-release.js';
import { kubectl, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';

interface Outcome {
  readonly ok: boolean;
  /** stdout when ok, stderr otherwise. */
  readonly output: string;
}

/** Runs kubectl and reports failure as an outcome instead of throwing: refusals are the point here. */
async function tryKubectl(args: readonly string[]): Promise<Outcome> {
  try {
    return { ok: true, output: (await kubectl(args)).stdout };
  } catch (e) {
    const stderr = (e as { stderr?: unknown }).stderr;
    return { ok: false, output: typeof stderr === 'string' && stderr !== '' ? stderr : String(e) };
  }
}

let ns: string;
let cleanupNs: () => Promise<void>;
let dir: string;
let crd: CustomResourceDefinition;
let counter = 0;

/** `kubectl apply -f` of a HelmRelease with this spec, from a YAML file as a user would. */
async function apply(spec: unknown, extraArgs: readonly string[] = [], name = `hr-${++counter}`): Promise<Outcome> {
  const file = join(dir, `${name}.yaml`);
  // YAML 1.1, as kubectl reads it: a string such as `yes` is quoted instead of becoming a bool.
  const manifest = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace: ns }, spec };
  await writeFile(file, stringify(manifest, { version: '1.1' }));
  return tryKubectl(['apply', '-f', file, ...extraArgs]);
}

beforeAll(async () => {
  ({ name: ns, cleanup: cleanupNs } = await tempNamespace('api-admission'));
  dir = await mkdtemp(join(tmpdir(), 'admission-'));
  const crdPath = join(repoRoot, CRD_FILE);
  crd = parseYaml(await readFile(crdPath, 'utf8')) as CustomResourceDefinition;
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdPath]);
  await kubectl(['wait', '--for=condition=Established', `crd/${CRD_NAME}`, '--timeout=60s']);
  // Established comes slightly before the resource is served everywhere (discovery, OpenAPI).
  await waitFor('helmreleases to be served', async () => ((await tryKubectl(['get', 'helmreleases', '-n', ns])).ok ? true : undefined));
});

afterAll(async () => {
  await cleanupNs?.();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('admission of bad HelmReleases', () => {
  it('refuses a version range with the message a user can act on', async () => {
    const outcome = await apply({ ...MINIMAL_SPEC, version: '^1.2' });
    expect(outcome.ok).toBe(false);
    expect(outcome.output).toContain(
      'spec.version: Invalid value: "^1.2": version must be an exact SemVer version such as 1.4.2 (no leading v); ranges and `latest` are not allowed',
    );
  });

  it.each(BAD_SPECS)('refuses $name: $field, "$message", and so does zod', async ({ spec, field, message }) => {
    const outcome = await apply(spec);
    expect(outcome.ok, outcome.output).toBe(false);
    expect(outcome.output).toContain(field);
    expect(outcome.output).toContain(message);
    expect(HelmReleaseSpecSchema.safeParse(spec).success).toBe(false);
  });
});

describe('the release name Helm would get from metadata.name', () => {
  const longName = `a${'b'.repeat(58)}c`;

  it('refuses a metadata.name longer than 53 characters without spec.releaseName', async () => {
    const outcome = await apply(MINIMAL_SPEC, [], longName);
    expect(outcome.ok).toBe(false);
    expect(outcome.output).toContain(
      "metadata.name is longer than 53 characters, Helm's limit for release names: set spec.releaseName",
    );
  });

  it('admits it with spec.releaseName', async () => {
    const outcome = await apply({ ...MINIMAL_SPEC, releaseName: 'short' }, ['--dry-run=server'], longName);
    expect(outcome.ok, outcome.output).toBe(true);
  });
});

describe('admission of good HelmReleases', () => {
  it.each(GOOD_SPECS)('admits $name, with the defaults zod applies', async ({ spec }) => {
    // Server-side apply: client-side `kubectl apply` drops null values (`values: {key: null}`,
    // which tells Helm to remove a chart default) before they reach the API server.
    const outcome = await apply(spec, ['--server-side', '--dry-run=server', '-o', 'json']);
    expect(outcome.ok, outcome.output).toBe(true);
    const admitted = (JSON.parse(outcome.output) as { spec: unknown }).spec;
    // What the API server stored (its defaults applied) means the same to the reconciler as what
    // the user wrote (zod's defaults applied).
    expect(HelmReleaseSpecSchema.parse(admitted)).toEqual(HelmReleaseSpecSchema.parse(spec));
  });

  it('stores a minimal HelmRelease with the documented defaults visible', async () => {
    // suspend: so that a controller another suite may run on this cluster leaves it alone.
    expect((await apply({ ...MINIMAL_SPEC, suspend: true }, [], 'minimal')).ok).toBe(true);
    const stored = JSON.parse((await kubectl(['get', 'helmrelease', 'minimal', '-n', ns, '-o', 'json'])).stdout) as { spec: unknown };
    expect(stored.spec).toEqual({
      ...MINIMAL_SPEC,
      suspend: true,
      atomic: true,
      wait: true,
      timeout: '5m',
      interval: '10m',
      createNamespace: false,
      maxHistory: 5,
      deletionPolicy: 'Delete',
    });
  });
});

describe('kubectl', () => {
  it('explain helmrelease.spec.version prints the proto comment', async () => {
    const description = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec']?.properties?.['version']?.description;
    expect(description).toMatch(/^Exact chart version, a SemVer 2\.0 version/);
    const squash = (s: string): string => s.replace(/\s+/g, ' ');
    // The OpenAPI document that explain reads is published shortly after the CRD.
    const out = await waitFor('kubectl explain to know helmrelease.spec.version', async () => {
      const r = await tryKubectl(['explain', 'helmrelease.spec.version', `--api-version=${API_VERSION}`]);
      return r.ok && squash(r.output).includes(squash(description ?? '')) ? r.output : undefined;
    });
    expect(out).toContain('FIELD: version <string>');
  });

  it('get helmreleases shows READY, STATUS, CHART, VERSION, REVISION and AGE; wait --for=condition=Ready works', async () => {
    expect((await apply({ ...MINIMAL_SPEC, suspend: true }, [], 'columns')).ok).toBe(true);
    // The status a controller would write after a successful install (no controller runs here).
    const status = {
      observedGeneration: 1,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'InstallSucceeded',
          message: 'Installed podinfo 1.4.2',
          lastTransitionTime: '2025-01-01T00:00:00Z',
          observedGeneration: 1,
        },
      ],
      release: { name: 'columns', namespace: ns, revision: 1, chartName: 'podinfo', chartVersion: '1.4.2', status: 'deployed' },
    };
    await kubectl(['patch', 'helmrelease', 'columns', '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);

    const table = (await kubectl(['get', 'helmreleases', 'columns', '-n', ns])).stdout.trimEnd().split('\n');
    expect(table[0]?.split(/\s+/)).toEqual(['NAME', 'READY', 'STATUS', 'CHART', 'VERSION', 'REVISION', 'AGE']);
    expect(table[1]).toMatch(/^columns\s+True\s+Installed podinfo 1\.4\.2\s+podinfo\s+1\.4\.2\s+1\s+\S+$/);

    const byShortName = await kubectl(['get', 'phr', 'columns', '-n', ns, '-o', 'name']);
    expect(byShortName.stdout.trim()).toBe('helmrelease.helm.project-planton.org/columns');
    const byCategory = await kubectl(['get', 'planton', '-n', ns, '-o', 'name']);
    expect(byCategory.stdout).toContain('helmrelease.helm.project-planton.org/columns');

    await kubectl(['wait', '--for=condition=Ready', 'helmrelease/columns', '-n', ns, '--timeout=30s']);
  });
});
