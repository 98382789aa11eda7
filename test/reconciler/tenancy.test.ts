// Two tenants sharing one controller in lockdown mode (--default-service-account deployer, no
// namespace may act as the controller itself, --no-cross-namespace-refs), on the local control
// plane with the real runner: each tenant's namespace has a ServiceAccount `deployer` bound to the
// `admin` role of that namespace only. Tenant A tries, through every field of the spec, to install
// into, read from, upgrade, take over or uninstall what tenant B has; each attempt is refused in
// a way the user can read (condition, reason, message), and B's release never changes.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, helmHistory as history, kubeConfig, namespaceAdmin, tempNamespace, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  installCrd,
  type RunningController,
  startController,
  waitForCondition,
} from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const hrs = helmReleases();
const shard = `tenancy-${Math.random().toString(36).slice(2, 8)}`;

let a: string;
let b: string;
let runner: RunningRunner;
let controller: RunningController;
const cleanups: (() => Promise<void>)[] = [];

/** A namespace with a `deployer` ServiceAccount that may do anything in it, and nothing elsewhere. */
async function tenant(prefix: string): Promise<string> {
  const ns = await tempNamespace(prefix);
  cleanups.push(ns.cleanup);
  await namespaceAdmin(ns.name, 'deployer');
  return ns.name;
}

beforeAll(async () => {
  await Promise.all([buildRunner(), installCrd()]);
  a = await tenant('tenant-a');
  b = await tenant('tenant-b');
  runner = await startRunner();
  controller = await startController({
    runnerSocket: runner.socket,
    namespace: '',
    args: [
      '--watch-namespace', '',
      '--label-selector', `planton-test=${shard}`,
      '--default-service-account', 'deployer',
      '--no-cross-namespace-refs',
    ],
  });
}, 300_000);

afterAll(async () => {
  await controller?.stop();
  await runner?.stop();
  for (const c of cleanups) await c();
});

const labels = { labels: { 'planton-test': shard } };
const plain = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });
const probe = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'tenant-probe', version: '1.0.0', timeout: '30s', ...extra });


/** `[revision, status]` of every revision of a release, newest first. */
const helmHistory = async (namespace: string, release: string) => (await history(namespace, release)).map((r): [number, string] => [r.revision, r.status]);

/** B's release is exactly as B left it. */
async function expectBUntouched(): Promise<void> {
  expect(await helmHistory(b, 'b-app')).toEqual([[1, 'deployed']]);
  const cm = await core.readNamespacedConfigMap({ namespace: b, name: 'b-app-plain' });
  expect(cm.data?.['message']).toBe('tenant b');
  const names = (await core.listNamespacedConfigMap({ namespace: b })).items.map((c) => c.metadata?.name ?? '');
  expect(names.filter((n) => n.includes('probe') || n.startsWith('a-'))).toEqual([]);
}

describe('tenant B', () => {
  it('installs its release as its own ServiceAccount (the default one)', async () => {
    await core.createNamespacedSecret({ namespace: b, body: { metadata: { name: 'b-secret' }, stringData: { password: 'b-only' } } });
    await hrs.create(b, 'b-app', plain({ values: { message: 'tenant b' } }), labels);
    const hr = await waitForCondition(b, 'b-app', 'Ready', 'True');
    expect(hr.status?.release).toMatchObject({ namespace: b, revision: 1, status: 'deployed' });
  });
});

describe('tenant A, against tenant B', () => {
  it.each([
    ['install into B (targetNamespace)', 'a-into-b', { targetNamespace: 'B' }, 'targetNamespace B is another namespace'],
    ['upgrade or take over B’s release (targetNamespace + releaseName)', 'a-takeover', { targetNamespace: 'B', releaseName: 'b-app', values: { message: 'tenant a was here' } }, 'targetNamespace B is another namespace'],
    ['wait on B’s HelmRelease (dependsOn)', 'a-depends', { dependsOn: [{ name: 'b-app', namespace: 'B' }] }, 'dependsOn B/b-app is in another namespace'],
  ])('cannot %s: Stalled CrossNamespaceRefused', async (_what, name, spec, message) => {
    const patched = JSON.parse(JSON.stringify(spec).replaceAll('"B', `"${b}`).replaceAll('B/', `${b}/`)) as Record<string, unknown>;
    await hrs.create(a, name, plain(patched), labels);
    const hr = await waitForCondition(a, name, 'Stalled', 'True', 60_000, 'CrossNamespaceRefused');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'CrossNamespaceRefused' });
    expect(condition(hr, 'Stalled')?.message).toContain(message.replace('B', b));
    expect((await eventsFor(a, name)).map((e) => e.reason)).toContain('CrossNamespaceRefused');
    await expectBUntouched();
  });

  it('cannot read B’s Secret through Helm’s lookup: rendering runs as A’s ServiceAccount and is forbidden', async () => {
    await hrs.create(a, 'a-lookup', probe({ values: { lookupNamespace: b, lookupName: 'b-secret' } }), labels);
    const hr = await waitFor('a-lookup to stop', async () => {
      const cur = await hrs.get(a, 'a-lookup');
      return condition(cur, 'Stalled')?.status === 'True' || condition(cur, 'Released')?.status === 'False' ? cur : undefined;
    }, 120_000, 1_000);
    const ready = condition(hr, 'Ready');
    expect(ready?.status).toBe('False');
    expect(ready?.message).toContain(`system:serviceaccount:${a}:deployer`);
    expect(ready?.message).toContain('forbidden');
    expect(await helmHistory(a, 'a-lookup')).toEqual([]);
    await expectBUntouched();
  });

  it('cannot put objects into B through a chart’s own metadata.namespace: the apply is forbidden', async () => {
    await hrs.create(a, 'a-smuggle', probe({ atomic: false, remediation: { retries: 0 }, values: { namespace: b } }), labels);
    // Helm reads each object before installing it: the read is already forbidden, so nothing
    // is written at all (no revision), and the HelmRelease stalls with Forbidden.
    const hr = await waitForCondition(a, 'a-smuggle', 'Stalled', 'True', 120_000, 'Forbidden');
    const message = condition(hr, 'Ready')?.message ?? '';
    expect(message).toContain(`User "system:serviceaccount:${a}:deployer" cannot get resource "configmaps" in API group "" in the namespace "${b}"`);
    expect(await helmHistory(a, 'a-smuggle')).toEqual([]);
    await expectBUntouched();
  });

  it('runs as the ServiceAccount it names, never as the controller: a ServiceAccount with no rights is Forbidden', async () => {
    await hrs.create(a, 'a-nobody', plain({ serviceAccountName: 'nobody' }), labels);
    const hr = await waitFor('a-nobody to be refused', async () => {
      const cur = await hrs.get(a, 'a-nobody');
      return condition(cur, 'Ready')?.reason === 'Forbidden' ? cur : undefined;
    }, 60_000, 1_000);
    expect(condition(hr, 'Ready')?.message).toContain(`system:serviceaccount:${a}:nobody`);
    expect(await helmHistory(a, 'a-nobody')).toEqual([]);
  });

  it('leaves B’s release in place when A’s HelmReleases that named it are deleted', async () => {
    for (const name of ['a-into-b', 'a-takeover', 'a-depends', 'a-lookup', 'a-smuggle', 'a-nobody']) await hrs.delete(a, name);
    await waitFor('A’s HelmReleases gone', async () => {
      const left = await Promise.all(['a-into-b', 'a-takeover', 'a-depends', 'a-lookup', 'a-smuggle', 'a-nobody'].map((n) => hrs.get(a, n)));
      return left.every((x) => x === undefined) ? true : undefined;
    }, 120_000, 1_000);
    await expectBUntouched();
    expect(condition(await hrs.get(b, 'b-app'), 'Ready')?.status).toBe('True');
  });
});

describe('--controller-identity-namespaces without a default ServiceAccount', () => {
  const shard2 = `${shard}-ident`;
  let second: RunningController | undefined;
  afterAll(async () => {
    await second?.stop();
  });

  it('acts as the controller only in the namespaces listed; elsewhere a release that names no ServiceAccount stalls', async () => {
    second = await startController({
      runnerSocket: runner.socket,
      namespace: '',
      args: ['--watch-namespace', '', '--label-selector', `planton-test=${shard2}`, '--controller-identity-namespaces', a],
    });
    const labels2 = { labels: { 'planton-test': shard2 } };
    await hrs.create(b, 'b-no-sa', plain(), labels2);
    const refused = await waitForCondition(b, 'b-no-sa', 'Stalled', 'True', 60_000, 'ServiceAccountRequired');
    expect(condition(refused, 'Stalled')?.message).toContain(`set spec.serviceAccountName to a ServiceAccount of namespace ${b}`);
    expect(await helmHistory(b, 'b-no-sa')).toEqual([]);
    await hrs.create(a, 'a-platform', plain(), labels2);
    await waitForCondition(a, 'a-platform', 'Ready', 'True');
    for (const [ns, name] of [[b, 'b-no-sa'], [a, 'a-platform']] as const) await hrs.delete(ns, name);
    await waitFor('both gone', async () => ((await hrs.get(b, 'b-no-sa')) === undefined && (await hrs.get(a, 'a-platform')) === undefined ? true : undefined), 120_000, 1_000);
    expect(await helmHistory(a, 'a-platform')).toEqual([]);
  });
});
