// dependsOn and suspend end to end, on the local control plane with the real runner and
// controller: a HelmRelease waits for its dependency to be Ready and is installed once it is,
// without being touched; so does one whose dependency lives in a namespace the controller does
// not watch (read directly), and one whose dependency the controller may not read says so; a
// suspended HelmRelease is looked at but not acted on (no upgrade, no uninstall on delete), and is
// upgraded once unsuspended.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, kubeConfig, kubectl, tempNamespace, tokenKubeconfig, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  type HelmReleaseView,
  metricValue,
  type RunningController,
  startController,
  useController,
  waitForCondition,
} from '../support/controller.js';
import type { RunningRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const hrs = helmReleases();

let ns: string;
let runner: RunningRunner;
let controller: RunningController;

useController('hr-deps', (suite) => ({ ns, runner, controller } = suite));

const chart = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });
const releaseSecrets = async (release: string) =>
  (await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${release}` })).items;
const deploymentExists = async (name: string) =>
  apps.readNamespacedDeployment({ namespace: ns, name }).then(
    () => true,
    () => false,
  );
/**
 * The suite controller's work queue as its metrics tell it: keys queued so far, reconciles that
 * ended in success (what a suspended HelmRelease's reconcile ends in), and whether nothing is
 * queued or running. A missing sample throws.
 */
async function workQueue(): Promise<{ adds: number; succeeded: number; idle: boolean }> {
  const text = await controller.metrics();
  const sample = (name: string, labels: Record<string, string> = {}) => {
    const v = metricValue(text, name, labels);
    if (v === undefined) throw new Error(`no ${name} sample in the controller's metrics`);
    return v;
  };
  return {
    adds: sample('workqueue_adds_total'),
    succeeded: sample('controller_runtime_reconcile_total', { result: 'success' }),
    idle: sample('workqueue_depth') === 0 && sample('controller_runtime_active_workers') === 0,
  };
}

describe('a HelmRelease that dependsOn another', () => {
  it('waits while the dependency does not exist: Ready=False DependencyNotReady, nothing installed', async () => {
    await hrs.create(ns, 'app', chart({ dependsOn: [{ name: 'db' }] }));
    const hr = await waitForCondition(ns, 'app', 'Ready', 'False', 60_000, 'DependencyNotReady');
    expect(condition(hr, 'Ready')?.message).toContain(`${ns}/db`);
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(hr.status?.release).toBeUndefined();
    expect(await releaseSecrets('app')).toHaveLength(0);
    expect(await deploymentExists('app-plain')).toBe(false);
  });

  it('is installed once the dependency is Ready, without any change to it', async () => {
    const generation = (await hrs.get(ns, 'app'))?.metadata.generation;
    await hrs.create(ns, 'db', chart());
    const db = await waitForCondition(ns, 'db', 'Ready', 'True');
    expect(db.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    const app = await waitFor('app to be installed and Ready', async () => {
      const h = await hrs.get(ns, 'app');
      return condition(h, 'Ready')?.status === 'True' ? h : undefined;
    }, 120_000, 500);
    expect(app.metadata.generation).toBe(generation);
    expect(app.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect(condition(app, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(await deploymentExists('app-plain')).toBe(true);
    expect((await eventsFor(ns, 'app')).map((e) => e.reason)).toEqual(expect.arrayContaining(['DependencyNotReady', 'InstallSucceeded']));
  });
});

/**
 * A kubeconfig for a ServiceAccount of `namespace` that holds, in that namespace only, what the
 * controller needs (deploy/controller/rbac.yaml's rules as a Role). Returns the file's path.
 */
async function namespaceOnlyKubeconfig(namespace: string, dir: string): Promise<string> {
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const name = 'namespace-only-controller';
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name },
      rules: [
        { apiGroups: ['helm.project-planton.org'], resources: ['helmreleases', 'helmreleases/status', 'helmreleases/finalizers'], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'list', 'watch'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
  const token = (await kubectl(['create', 'token', name, '--namespace', namespace, '--duration', '1h'])).stdout.trim();
  return tokenKubeconfig(token, join(dir, `${namespace}.kubeconfig`));
}

describe('a HelmRelease that dependsOn one outside the namespace its controller watches', () => {
  // `ns` is watched by the suite's controller; `other` by a second controller sharing the runner;
  // `limited` by a third that runs as a ServiceAccount allowed in `limited` only.
  let other: string;
  let limited: string;
  let dir: string;
  const controllers: RunningController[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hr-deps-'));
    for (const prefix of ['hr-deps-other', 'hr-deps-limited']) {
      const made = await tempNamespace(prefix);
      cleanups.push(made.cleanup);
      if (prefix === 'hr-deps-other') other = made.name;
      else limited = made.name;
    }
    const kubeconfig = await namespaceOnlyKubeconfig(limited, dir);
    controllers.push(await startController({ runnerSocket: runner.socket, namespace: other }));
    controllers.push(await startController({ runnerSocket: runner.socket, namespace: limited, args: ['--kubeconfig', kubeconfig] }));
  });
  afterAll(async () => {
    for (const c of controllers) await c.stop();
    for (const c of cleanups) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits while it does not exist, reading it directly: DependencyNotReady naming it as not found', async () => {
    await hrs.create(ns, 'web', chart({ dependsOn: [{ name: 'db', namespace: other }] }));
    const hr = await waitForCondition(ns, 'web', 'Ready', 'False', 60_000, 'DependencyNotReady');
    expect(condition(hr, 'Ready')?.message).toBe(`waiting for ${other}/db (not found) to be Ready`);
    expect(hr.status?.release).toBeUndefined();
  });

  it('is installed once that dependency is Ready (made Ready by the controller of its namespace)', async () => {
    await hrs.create(other, 'db', chart());
    const db = await waitForCondition(other, 'db', 'Ready', 'True');
    expect(db.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    const web = await waitFor('web to be installed and Ready', async () => {
      const h = await hrs.get(ns, 'web');
      return condition(h, 'Ready')?.status === 'True' ? h : undefined;
    }, 120_000, 500);
    expect(web.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect(condition(web, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(await deploymentExists('web-plain')).toBe(true);
  });

  it('says so when its controller may not read the dependency: DependencyNotReady naming it and why, nothing installed', async () => {
    // The dependency is Ready; what is missing is the permission to see it.
    expect(condition(await hrs.get(other, 'db'), 'Ready')?.status).toBe('True');
    await hrs.create(limited, 'blocked', chart({ dependsOn: [{ name: 'db', namespace: other }] }));
    const hr = await waitForCondition(limited, 'blocked', 'Ready', 'False', 60_000, 'DependencyNotReady');
    expect(condition(hr, 'Ready')?.message).toBe(
      `waiting for ${other}/db (cannot be read: this controller is not allowed to get HelmReleases in namespace ${other}) to be Ready`,
    );
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(hr.status?.release).toBeUndefined();
    expect((await core.listNamespacedSecret({ namespace: limited, labelSelector: 'owner=helm,name=blocked' })).items).toHaveLength(0);
    const warning = (await eventsFor(limited, 'blocked')).find((e) => e.reason === 'DependencyNotReady');
    expect(warning?.message).toContain(`${other}/db (cannot be read`);
  });
});

describe('a suspended HelmRelease', () => {
  it('is not upgraded when its version changes, though the controller looks at it', async () => {
    await hrs.create(ns, 'paused', chart());
    await waitForCondition(ns, 'paused', 'Ready', 'True');
    await hrs.patchSpec(ns, 'paused', { suspend: true });
    await waitFor('the suspension to be seen (status metric -3)', async () => {
      const v = metricValue(await controller.metrics(), 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'paused' });
      return v === -3 ? true : undefined;
    }, 60_000, 500);

    const before = await waitFor('the controller to be idle', async () => {
      const q = await workQueue();
      return q.idle ? q : undefined;
    }, 60_000, 250);
    const patched = (await hrs.patchSpec(ns, 'paused', { version: '1.1.0' })) as HelmReleaseView;
    // The generation change was queued, reconciled to success, and nothing is left queued or
    // running (an upgrade it started would be over by then): the controller looked and did nothing.
    await waitFor('the version change to be reconciled', async () => {
      const q = await workQueue();
      return q.adds > before.adds && q.succeeded > before.succeeded && q.idle ? true : undefined;
    }, 60_000, 250);
    const hr = await hrs.get(ns, 'paused');
    // Not even a status write: the object is at the version the spec patch made.
    expect(hr?.metadata.resourceVersion).toBe(patched.metadata.resourceVersion);
    expect(hr?.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0' });
    expect(await releaseSecrets('paused')).toHaveLength(1);
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'paused-plain' });
    expect(cm.data?.['version']).toBeUndefined();
    const metrics = await controller.metrics();
    expect(metricValue(metrics, 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'paused' })).toBe(-3);
    // The action counter is there (paused itself was installed by this controller): no upgrade in it.
    expect(metricValue(metrics, 'planton_helm_release_actions_total', { action: 'install', outcome: 'success' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'planton_helm_release_actions_total', { action: 'upgrade' })).toBeUndefined();
  });

  it('is upgraded once unsuspended', async () => {
    await hrs.patchSpec(ns, 'paused', { suspend: false });
    const hr = await waitFor('revision 2', async () => {
      const h = await waitForCondition(ns, 'paused', 'Ready', 'True');
      return h.status?.release?.revision === 2 ? h : undefined;
    });
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.1.0', status: 'deployed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'paused-plain' });
    expect(cm.data?.['version']).toBe('1.1.0');
  });

  it('is deleted without uninstalling the release: the finalizer is released, the release stays', async () => {
    await hrs.patchSpec(ns, 'paused', { suspend: true });
    await waitFor('the suspension to be seen (status metric -3)', async () => {
      const v = metricValue(await controller.metrics(), 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'paused' });
      return v === -3 ? true : undefined;
    }, 60_000, 500);
    await hrs.delete(ns, 'paused');
    await waitFor('the HelmRelease to be gone', async () => ((await hrs.get(ns, 'paused')) === undefined ? true : undefined), 60_000, 500);
    expect(await deploymentExists('paused-plain')).toBe(true);
    const secrets = await releaseSecrets('paused');
    expect(secrets.length).toBeGreaterThan(0);
    expect(secrets.some((s) => s.metadata?.labels?.['status'] === 'deployed')).toBe(true);
    const orphaned = (await eventsFor(ns, 'paused')).find((e) => e.reason === 'Orphaned');
    expect(orphaned?.message).toContain('suspended');
  });
});
