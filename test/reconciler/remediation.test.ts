// Hooks and failure remediation end to end, on the local control plane with the real runner and
// controller. The `hooks` chart's pre-install/pre-upgrade Job fails on request (failHook), which
// fails the install or upgrade after about 5 s: an atomic upgrade is rolled back in the same
// operation and retried until remediation.retries is used up, then Stalled, and a fixed spec
// recovers; a non-atomic install leaves a failed release that is uninstalled before a retry, or
// left for inspection when no retry is left.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  type HelmReleaseView,
  metricValue,
  type RunningController,
  requestReconcile,
  useController,
  waitForCondition,
} from '../support/controller.js';
import type { RunningRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const hrs = helmReleases();

let ns: string;
let runner: RunningRunner;
let controller: RunningController;

useController('hr-remed', (suite) => ({ ns, runner, controller } = suite));

const hooks = (extra: Record<string, unknown> = {}) => ({
  repo: clusterEnv().PLANTON_OCI_REPO,
  name: 'hooks',
  version: '1.0.0',
  timeout: '30s',
  ...extra });

/** data of the ConfigMap the pre-hook writes after its Job completed, or undefined. */
const preHook = async (release: string) =>
  core.readNamespacedConfigMap({ namespace: ns, name: `${release}-hooks-pre` }).then(
    (cm) => cm.data,
    () => undefined,
  );

const jobExists = async (name: string) =>
  batch.readNamespacedJob({ namespace: ns, name }).then(
    () => true,
    () => false,
  );

/** Every occurrence of an event of `name`, oldest first (repeats are counted on one Event). */
function orderedEvents(name: string): Promise<{ type: string; reason: string; message: string }[]> {
  return eventsFor(ns, name);
}

/** `[revision, chart version, status]` of every revision, newest first, as the Helm CLI lists them. */
async function helmHistory(release: string): Promise<[number, string, string][]> {
  const { stdout } = await helm(['history', release, '--namespace', ns, '--output', 'json']);
  return (JSON.parse(stdout) as { revision: number; chart: string; status: string }[])
    .map((h): [number, string, string] => [h.revision, h.chart.replace(/^hooks-/, ''), h.status])
    .sort((a, b) => b[0] - a[0]);
}

/** Waits for Ready=True at the current generation with the release at `revision`. */
async function readyAt(name: string, revision: number): Promise<HelmReleaseView> {
  return waitFor(`${name} Ready at revision ${revision}`, async () => {
    const hr = await waitForCondition(ns, name, 'Ready', 'True');
    return hr.status?.release?.revision === revision ? hr : undefined;
  });
}

describe('chart hooks', () => {
  it('run on install and on upgrade: the pre-hook ConfigMap records each revision, the post-upgrade Job is left', async () => {
    await hrs.create(ns, 'hk', hooks());
    await readyAt('hk', 1);
    expect(await preHook('hk')).toEqual({ revision: '1', chartVersion: '1.0.0' });
    // The pre-hook Job succeeded and was deleted (hook-delete-policy hook-succeeded).
    expect(await jobExists('hk-hooks-pre')).toBe(false);
    expect(await jobExists('hk-hooks-post-upgrade')).toBe(false);

    await hrs.patchSpec(ns, 'hk', { version: '1.1.0' });
    const hr = await readyAt('hk', 2);
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.1.0', status: 'deployed' });
    expect(await preHook('hk')).toEqual({ revision: '2', chartVersion: '1.1.0' });
    const post = await batch.readNamespacedJob({ namespace: ns, name: 'hk-hooks-post-upgrade' });
    expect(post.metadata?.labels?.['planton.test/revision']).toBe('2');
    expect(post.status?.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
  });
});

describe('an atomic upgrade whose pre-upgrade hook fails', () => {
  it('is rolled back, retried remediation.retries times, then Stalled with RetriesExhausted; Ready=False', async () => {
    await hrs.create(ns, 'atom', hooks({ remediation: { retries: 1 } }));
    await readyAt('atom', 1);

    await hrs.patchSpec(ns, 'atom', { version: '1.1.0', values: { failHook: true } });
    const hr = await waitForCondition(ns, 'atom', 'Stalled', 'True', 180_000, 'RetriesExhausted');
    const stalled = condition(hr, 'Stalled');
    expect(stalled?.message).toContain('upgrade failed 2 time(s) and remediation.retries is 1');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
    expect(condition(hr, 'Reconciling')).toBeUndefined();
    expect(condition(hr, 'Released')).toMatchObject({ status: 'False', reason: 'UpgradeFailed' });
    expect(condition(hr, 'Remediated')).toMatchObject({ status: 'True', reason: 'RollbackSucceeded' });
    expect(hr.status).toMatchObject({ upgradeFailures: 2, failures: 2, installFailures: 0 });

    // Each failed upgrade was rolled back by the same operation: 1 deployed, 2 failed, 3 rollback
    // to 1, 4 failed (the retry), 5 rollback to 1. The release is back at 1.0.0.
    expect(hr.status?.release).toMatchObject({ revision: 5, chartVersion: '1.0.0', status: 'deployed' });
    expect(await helmHistory('atom')).toEqual([
      [5, '1.0.0', 'deployed'],
      [4, '1.1.0', 'failed'],
      [3, '1.0.0', 'superseded'],
      [2, '1.1.0', 'failed'],
      [1, '1.0.0', 'superseded'],
    ]);
    expect(hr.status?.history?.map((h) => [h.revision, h.chartVersion, h.status])).toEqual([
      [5, '1.0.0', 'deployed'],
      [4, '1.1.0', 'failed'],
      [3, '1.0.0', 'superseded'],
      [2, '1.1.0', 'failed'],
      [1, '1.0.0', 'superseded'],
    ]);
    // The failing pre-upgrade Job never let the pre-hook ConfigMap of a later revision through.
    expect(await preHook('atom')).toEqual({ revision: '1', chartVersion: '1.0.0' });

    const events = await orderedEvents('atom');
    const failed = events.filter((e) => e.reason === 'UpgradeFailed');
    expect(failed).toHaveLength(2);
    expect(failed.every((e) => e.type === 'Warning' && e.message.startsWith('upgrade to hooks@1.1.0 failed'))).toBe(true);
    expect(events.find((e) => e.reason === 'RetriesExhausted')).toMatchObject({ type: 'Warning' });
    // -2: stalled (the metric's help text); a missing series fails here too.
    expect(metricValue(await controller.metrics(), 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'atom' })).toBe(-2);
  });

  it('a reconcile request retries the upgrade from zero: two more failed upgrades, rolled back, then Stalled again', async () => {
    const at = await requestReconcile(ns, 'atom');
    const hr = await waitFor('Stalled again after the request', async () => {
      const cur = await hrs.get(ns, 'atom');
      const again = cur?.status?.lastHandledReconcileTime === at && condition(cur, 'Stalled')?.reason === 'RetriesExhausted';
      return again && cur.status?.upgradeFailures === 2 && cur.status.release?.revision === 9 ? cur : undefined;
    }, 240_000, 1_000);
    expect(condition(hr, 'Stalled')?.message).toContain('upgrade failed 2 time(s) and remediation.retries is 1');
    // 6 failed, 7 rollback to 1.0.0, 8 failed, 9 rollback.
    expect((await helmHistory('atom')).slice(0, 4)).toEqual([
      [9, '1.0.0', 'deployed'],
      [8, '1.1.0', 'failed'],
      [7, '1.0.0', 'superseded'],
      [6, '1.1.0', 'failed'],
    ]);
    expect((await orderedEvents('atom')).filter((e) => e.reason === 'UpgradeFailed')).toHaveLength(4);
  });

  it('recovers when the spec is fixed: upgraded to 1.1.0, Ready=True, Stalled gone, counters reset', async () => {
    await hrs.patchSpec(ns, 'atom', { values: { failHook: false } });
    const hr = await readyAt('atom', 10);
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.1.0', status: 'deployed' });
    expect(condition(hr, 'Ready')).toMatchObject({ reason: 'UpgradeSucceeded' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(condition(hr, 'Remediated')).toBeUndefined();
    expect(hr.status).toMatchObject({ failures: 0, installFailures: 0, upgradeFailures: 0 });
    expect(await preHook('atom')).toEqual({ revision: '10', chartVersion: '1.1.0' });
  });
});

describe('a non-atomic install whose pre-install hook fails', () => {
  it('with retries 0: InstallFailed, then Stalled at once; the failed release is left for inspection', async () => {
    await hrs.create(ns, 'keep', hooks({ atomic: false, values: { failHook: true }, remediation: { retries: 0 } }));
    const hr = await waitForCondition(ns, 'keep', 'Stalled', 'True', 120_000, 'RetriesExhausted');
    expect(condition(hr, 'Stalled')?.message).toContain('install failed 1 time(s) and remediation.retries is 0');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'False', reason: 'InstallFailed' });
    expect(condition(hr, 'Remediated')).toBeUndefined();
    expect(hr.status).toMatchObject({ installFailures: 1, failures: 1 });
    // Not remediated (ADR 0003: retries N allows N + 1 attempts, then the release is left as it
    // is): revision 1 stays failed, and so does the hook Job that failed it.
    expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'failed' });
    expect(await helmHistory('keep')).toEqual([[1, '1.0.0', 'failed']]);
    const job = await batch.readNamespacedJob({ namespace: ns, name: 'keep-hooks-pre' });
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')?.status).toBe('True');
    const events = (await orderedEvents('keep')).map((e) => e.reason);
    expect(events).toContain('InstallFailed');
    expect(events).toContain('RetriesExhausted');
    expect(events).not.toContain('UninstallSucceeded');
  });

  it('recovers when the spec is fixed: the failed release is uninstalled, then installed again', async () => {
    await hrs.patchSpec(ns, 'keep', { values: { failHook: false } });
    const hr = await readyAt('keep', 1);
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.0.0', status: 'deployed' });
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(hr.status).toMatchObject({ failures: 0, installFailures: 0, upgradeFailures: 0 });
    expect(await helmHistory('keep')).toEqual([[1, '1.0.0', 'deployed']]);
    const events = (await orderedEvents('keep')).map((e) => e.reason);
    expect(events.indexOf('UninstallSucceeded')).toBeGreaterThan(events.indexOf('RetriesExhausted'));
    expect(events.lastIndexOf('InstallSucceeded')).toBeGreaterThan(events.indexOf('UninstallSucceeded'));
  });

  it('with retries 1: the failed install is uninstalled (Remediated), retried once, then Stalled', async () => {
    await hrs.create(ns, 'retry', hooks({ atomic: false, values: { failHook: true }, remediation: { retries: 1 } }));
    const hr = await waitForCondition(ns, 'retry', 'Stalled', 'True', 180_000, 'RetriesExhausted');
    expect(condition(hr, 'Stalled')?.message).toContain('install failed 2 time(s) and remediation.retries is 1');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
    expect(condition(hr, 'Remediated')).toMatchObject({ status: 'True', reason: 'UninstallSucceeded' });
    expect(hr.status).toMatchObject({ installFailures: 2, failures: 2 });
    // The first failed revision was uninstalled before the retry; the retry's is left.
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'failed' });
    expect(await helmHistory('retry')).toEqual([[1, '1.0.0', 'failed']]);
    const events = (await orderedEvents('retry')).map((e) => e.reason);
    expect(events.filter((r) => r === 'InstallFailed')).toHaveLength(2);
    expect(events.filter((r) => r === 'UninstallSucceeded')).toHaveLength(1);
    expect(events.indexOf('UninstallSucceeded')).toBeGreaterThan(events.indexOf('InstallFailed'));
    expect(events.indexOf('UninstallSucceeded')).toBeLessThan(events.lastIndexOf('InstallFailed'));
  });

  it('a reconcile request tries it again from zero: uninstalled, installed twice more, then Stalled again', async () => {
    const before = (await orderedEvents('retry')).filter((e) => e.reason === 'InstallFailed').length;
    const at = await requestReconcile(ns, 'retry');
    // retries 1: two more attempts, each failing on the hook, and the failed release removed
    // before each of them.
    const events = await waitFor('two more InstallFailed events', async () => {
      const all = await orderedEvents('retry');
      return all.filter((e) => e.reason === 'InstallFailed').length >= before + 2 ? all : undefined;
    }, 240_000, 1_000);
    const hr = await waitFor('Stalled again after the request', async () => {
      const cur = await hrs.get(ns, 'retry');
      const stalled = condition(cur, 'Stalled');
      return cur?.status?.lastHandledReconcileTime === at && stalled?.reason === 'RetriesExhausted' && cur.status.installFailures === 2 ? cur : undefined;
    }, 120_000, 1_000);
    expect(condition(hr, 'Stalled')?.message).toContain('install failed 2 time(s) and remediation.retries is 1');
    expect(events.filter((e) => e.reason === 'InstallFailed')).toHaveLength(before + 2);
    expect(events.filter((e) => e.reason === 'UninstallSucceeded').length).toBeGreaterThanOrEqual(3);
    expect(await helmHistory('retry')).toEqual([[1, '1.0.0', 'failed']]);
  });
});
