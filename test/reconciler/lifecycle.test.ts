// The reconciler end to end, on the local control plane with the real runner: a HelmRelease is
// installed, upgraded when its version or values change, left alone when nothing changes, and
// uninstalled (or orphaned) when deleted.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterEnv, kubeConfig, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  metricValue,
  type RunningController,
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

useController('hr-life', (suite) => ({ ns, runner, controller } = suite));

const deploymentExists = async (name: string) =>
  apps.readNamespacedDeployment({ namespace: ns, name }).then(
    () => true,
    () => false,
  );

describe('a HelmRelease from the OCI repository', () => {
  it('is installed: Ready=True, revision 1, finalizer, event, objects in the cluster', async () => {
    await hrs.create(ns, 'web', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', values: { message: 'v1' }, timeout: '60s' });
    const hr = await waitForCondition(ns, 'web', 'Ready', 'True');
    expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(hr.metadata.finalizers).toContain('helm.project-planton.org/finalizer');
    expect(hr.status?.history?.[0]).toMatchObject({ revision: 1, status: 'deployed' });
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'web-plain' });
    expect(cm.data?.['message']).toBe('v1');
    expect(await deploymentExists('web-plain')).toBe(true);
    expect((await eventsFor(ns, 'web')).map((e) => e.reason)).toContain('InstallSucceeded');
  });

  it('is upgraded when the version changes', async () => {
    await hrs.patchSpec(ns, 'web', { version: '1.1.0' });
    const hr = await waitFor('revision 2', async () => {
      const h = await waitForCondition(ns, 'web', 'Ready', 'True');
      return h.status?.release?.revision === 2 ? h : undefined;
    });
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.1.0', status: 'deployed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
    expect(hr.status?.history?.map((h) => [h.revision, h.status])).toEqual([
      [2, 'deployed'],
      [1, 'superseded'],
    ]);
  });

  it('is upgraded when the values change', async () => {
    await hrs.patchSpec(ns, 'web', { values: { message: 'v2' } });
    await waitFor('revision 3 with the new values', async () => {
      const h = await hrs.get(ns, 'web');
      const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'web-plain' });
      return h?.status?.release?.revision === 3 && cm.data?.['message'] === 'v2' ? true : undefined;
    });
  });

  it('is left alone when nothing changes: reconciled again, no upgrade, no write', async () => {
    await hrs.patchSpec(ns, 'web', { interval: '2s' });
    const settled = await waitFor('the interval change to be observed', async () => {
      const h = await hrs.get(ns, 'web');
      return h?.status?.observedGeneration === h?.metadata.generation ? h : undefined;
    });
    const before = metricValue(await controller.metrics(), 'controller_runtime_reconcile_total', { result: 'requeue_after' }) ?? 0;
    await waitFor('three more reconciles', async () => {
      const now = metricValue(await controller.metrics(), 'controller_runtime_reconcile_total', { result: 'requeue_after' }) ?? 0;
      return now >= before + 3 ? true : undefined;
    }, 60_000, 500);
    const after = await hrs.get(ns, 'web');
    expect(after?.metadata.resourceVersion).toBe(settled.metadata.resourceVersion);
    expect(after?.status?.release?.revision).toBe(3);
  });

  it('exposes its reconciliation status as a metric (1 = Ready)', async () => {
    const text = await controller.metrics();
    expect(metricValue(text, 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'web' })).toBe(1);
    expect(metricValue(text, 'planton_helm_release_actions_total', { action: 'install', outcome: 'success' })).toBeGreaterThanOrEqual(1);
  });

  it('is uninstalled through the finalizer when deleted', async () => {
    await hrs.delete(ns, 'web');
    await waitFor('the HelmRelease to be gone', async () => ((await hrs.get(ns, 'web')) === undefined ? true : undefined));
    expect(await deploymentExists('web-plain')).toBe(false);
    const secrets = await core.listNamespacedSecret({ namespace: ns, labelSelector: 'owner=helm,name=web' });
    expect(secrets.items).toHaveLength(0);
  });
});

describe('a HelmRelease from the HTTP repository with deletionPolicy Orphan', () => {
  it('is installed, and deleting it keeps the release', async () => {
    await hrs.create(ns, 'kept', { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0', deletionPolicy: 'Orphan', timeout: '60s' });
    await waitForCondition(ns, 'kept', 'Ready', 'True');
    await hrs.delete(ns, 'kept');
    await waitFor('the HelmRelease to be gone', async () => ((await hrs.get(ns, 'kept')) === undefined ? true : undefined));
    expect(await deploymentExists('kept-plain')).toBe(true);
    const secrets = await core.listNamespacedSecret({ namespace: ns, labelSelector: 'owner=helm,name=kept' });
    expect(secrets.items.length).toBeGreaterThan(0);
  });
});
