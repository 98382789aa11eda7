// A release left `uninstalling` end to end, on the local control plane with the real runner and
// controller. Helm records `uninstalling` before it runs the pre-delete hooks and keeps it when
// one fails; the `fail-delete` chart's pre-delete Job fails while the release's ResourceQuota
// `<release>-fail-delete` refuses its pod. As a remediation, that uninstall is retried and
// counted against remediation.retries, then Stalled (never sent to Unlock, which only clears
// pending-*); on deletion of the HelmRelease the deletion waits. Helm runs the hooks recorded in
// the release, so fixing the values does not let the uninstall through; deleting the quota does.
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, helm, helmHistory, kubeConfig, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  requestReconcile,
  type RunningController,
  useController,
  waitForCondition,
  watchConditions,
} from '../support/controller.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);
const hrs = helmReleases();

let ns: string;
let controller: RunningController;

useController('hr-uninstalling', (suite) => ({ ns, controller } = suite));

const failDelete = (extra: Record<string, unknown> = {}) => ({
  repo: clusterEnv().PLANTON_OCI_REPO,
  name: 'fail-delete',
  version: '1.0.0',
  timeout: '60s',
  ...extra,
});

/** `[revision, status]` of every revision, newest first, as the Helm CLI lists them; [] when Helm finds none. */
const history = async (release: string) => (await helmHistory(ns, release)).map((r): [number, string] => [r.revision, r.status]);

const configMapExists = (name: string) => core.readNamespacedConfigMap({ namespace: ns, name }).then(() => true, () => false);
const releaseSecrets = async (release: string) => (await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${release}` })).items;

/** Removes the cause of the pre-delete hook's failure, as an operator would. */
const deleteQuota = (release: string) => core.deleteNamespacedResourceQuota({ namespace: ns, name: `${release}-fail-delete` });

const reasonsOf = async (name: string) => (await eventsFor(ns, name)).map((e) => e.reason);
const uninstallFailures = async (name: string) => (await eventsFor(ns, name)).filter((e) => e.reason === 'UninstallFailed');

/** Waits until `name` has recorded at least `count` UninstallFailed events; returns them. */
const atLeastUninstallFailures = (name: string, count: number, timeoutMs = 180_000) =>
  waitFor(`${count} UninstallFailed event(s) of ${name}`, async () => {
    const failed = await uninstallFailures(name);
    return failed.length >= count ? failed : undefined;
  }, timeoutMs, 1_000);

/** The actions the controller logged starting for HelmRelease `name`. */
function actionsStarted(name: string): string[] {
  const key = `${ns}/${name}`;
  return controller
    .logs()
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; helmrelease?: string; action?: string };
        return entry.msg === 'action started' && entry.helmrelease === key && entry.action ? [entry.action] : [];
      } catch {
        return [];
      }
    });
}

describe('a non-atomic install whose remediation uninstall fails at the pre-delete hook', () => {
  let watch: Awaited<ReturnType<typeof watchConditions>> | undefined;
  afterAll(() => watch?.stop());

  it('leaves the release uninstalling; the uninstall is retried, counted, then Stalled RetriesExhausted naming uninstalling', async () => {
    watch = await watchConditions(ns, 'stuck');
    await hrs.create(ns, 'stuck', failDelete({
      atomic: false,
      values: { failInstall: true, failDelete: true },
      remediation: { retries: 2, strategy: 'uninstall' },
    }));
    const hr = await waitFor('stuck Stalled RetriesExhausted', async () => {
      const cur = await hrs.get(ns, 'stuck');
      const current = cur?.status?.observedGeneration === cur?.metadata.generation;
      if (current && condition(cur, 'Stalled')?.reason === 'RetriesExhausted') return cur;
      const ready = condition(cur, 'Ready');
      throw new Error(`now Ready=${ready?.status} ${ready?.reason}: ${ready?.message}`);
    }, 180_000, 500);
    const stalled = condition(hr, 'Stalled');
    console.log(`stuck: Stalled ${stalled?.reason}: ${stalled?.message}`);
    expect(stalled?.message).toContain('revision 1 is uninstalling, left by an uninstall that did not finish');
    // One failed install and two failed uninstalls of it: retries 2 allows three attempts.
    expect(stalled?.message).toContain('install failed 3 time(s) and remediation.retries is 2');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
    expect(condition(hr, 'Reconciling')).toBeUndefined();
    expect(condition(hr, 'Released')).toMatchObject({ status: 'False', reason: 'InstallFailed' });
    const remediated = condition(hr, 'Remediated');
    console.log(`stuck: Remediated ${remediated?.status} ${remediated?.reason}: ${remediated?.message}`);
    expect(remediated).toMatchObject({ status: 'False', reason: 'UninstallFailed' });
    expect(remediated?.message).toMatch(/^uninstall failed: .*fail-delete-pre-delete/);
    expect(hr.status).toMatchObject({ installFailures: 3, failures: 3, upgradeFailures: 0 });
    expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'uninstalling' });
    expect(await history('stuck')).toEqual([[1, 'uninstalling']]);

    // The uninstall never got past the hook: the release's objects are all there, and the last
    // attempt's hook Job is kept, failed at its deadline.
    expect(await configMapExists('stuck-fail-delete')).toBe(true);
    const job = await batch.readNamespacedJob({ namespace: ns, name: 'stuck-fail-delete-pre-delete' });
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'DeadlineExceeded' });

    const events = await eventsFor(ns, 'stuck');
    const reasons = events.map((e) => e.reason);
    expect(reasons.filter((r) => r === 'InstallFailed')).toHaveLength(1);
    const failed = events.filter((e) => e.reason === 'UninstallFailed');
    expect(failed).toHaveLength(2);
    expect(failed.every((e) => e.type === 'Warning' && e.message.startsWith('uninstall failed: '))).toBe(true);
    expect(events.find((e) => e.reason === 'RetriesExhausted')).toMatchObject({ type: 'Warning' });
    // Never taken for a lock: no unlock, no runner error ("... is uninstalling, not pending").
    expect(actionsStarted('stuck')).toEqual(['install', 'uninstall-remediation', 'uninstall-remediation']);
    expect(reasons).not.toContain('RunnerError');
    expect(reasons).not.toContain('UnlockFailed');
    expect(reasons).not.toContain('ReleaseLocked');
    const everyCondition = watch.seen.flat();
    expect(everyCondition.filter((c) => ['RunnerError', 'UnlockFailed', 'ReleaseLocked'].includes(c.reason))).toEqual([]);
    expect(everyCondition.filter((c) => c.message.includes('not pending'))).toEqual([]);
  });

  it('after the values are fixed, the next uninstall still runs the hook the release recorded and fails: still uninstalling', async () => {
    await hrs.patchSpec(ns, 'stuck', { values: { failInstall: false, failDelete: false } });
    await atLeastUninstallFailures('stuck', 3);
    const hr = await waitFor('stuck to report the uninstall of generation 2', async () => {
      const cur = await hrs.get(ns, 'stuck');
      const current = cur?.status?.observedGeneration === cur?.metadata.generation;
      return current && condition(cur, 'Ready')?.reason === 'UninstallFailed' ? cur : undefined;
    }, 60_000, 500);
    const ready = condition(hr, 'Ready');
    console.log(`stuck after the values were fixed: Ready ${ready?.status} ${ready?.reason}: ${ready?.message}`);
    expect(ready).toMatchObject({ status: 'False', reason: 'UninstallFailed' });
    expect(ready?.message).toMatch(/^uninstall failed: .*fail-delete-pre-delete/);
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(condition(hr, 'Reconciling')).toMatchObject({ status: 'True', reason: 'UninstallFailed' });
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'uninstalling' });
    expect(await history('stuck')).toEqual([[1, 'uninstalling']]);
    expect(actionsStarted('stuck')).not.toContain('unlock');
  });

  it('the new attempt’s failing uninstalls are counted too: Stalled RetriesExhausted again, not retried for ever', async () => {
    const hr = await waitFor('stuck Stalled for generation 2', async () => {
      const cur = await hrs.get(ns, 'stuck');
      const current = cur?.status?.observedGeneration === cur?.metadata.generation && cur?.status?.lastAttemptedGeneration === cur?.metadata.generation;
      return current && condition(cur, 'Stalled')?.reason === 'RetriesExhausted' ? cur : undefined;
    }, 240_000, 1_000);
    expect(condition(hr, 'Stalled')?.message).toContain('install failed 3 time(s) and remediation.retries is 2');
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'uninstalling' });
  });

  it('once the hook can succeed (its ResourceQuota deleted), it is uninstalled and installed again: Ready', async () => {
    await deleteQuota('stuck');
    // Stalled (above): a user who removed the cause outside the spec asks for a retry.
    await requestReconcile(ns, 'stuck');
    const hr = await waitFor('stuck Ready, its release deployed', async () => {
      const cur = await hrs.get(ns, 'stuck');
      const current = cur?.status?.observedGeneration === cur?.metadata.generation;
      return current && condition(cur, 'Ready')?.status === 'True' && cur?.status?.release?.status === 'deployed' ? cur : undefined;
    }, 180_000, 1_000);
    const ready = condition(hr, 'Ready');
    console.log(`stuck recovered: Ready ${ready?.status} ${ready?.reason}: ${ready?.message}`);
    expect(ready).toMatchObject({ reason: 'InstallSucceeded' });
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(hr.status).toMatchObject({ failures: 0, installFailures: 0, upgradeFailures: 0 });
    expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    // The uninstalling revision is gone; the new one was installed with the fixed values.
    expect(await history('stuck')).toEqual([[1, 'deployed']]);
    const { stdout } = await helm(['get', 'values', 'stuck', '--namespace', ns, '--output', 'json']);
    expect(JSON.parse(stdout)).toEqual({ failInstall: false, failDelete: false });

    const reasons = await reasonsOf('stuck');
    const succeeded = reasons.indexOf('UninstallSucceeded');
    expect(succeeded).toBeGreaterThan(reasons.lastIndexOf('UninstallFailed'));
    expect(reasons.lastIndexOf('InstallSucceeded')).toBeGreaterThan(succeeded);
    expect(actionsStarted('stuck')).not.toContain('unlock');
    expect(watch?.seen.flat().filter((c) => c.reason === 'RunnerError' || c.message.includes('not pending'))).toEqual([]);
  });
});

describe('deleting a HelmRelease whose release fails its pre-delete hook', () => {
  it('waits: UninstallFailed events, the HelmRelease and the release (uninstalling) stay, and the uninstall is retried', async () => {
    await hrs.create(ns, 'doomed', failDelete({ values: { failDelete: true } }));
    await waitForCondition(ns, 'doomed', 'Ready', 'True');
    await hrs.delete(ns, 'doomed');

    const failed = await atLeastUninstallFailures('doomed', 2);
    console.log(`doomed being deleted: ${failed[0]?.type} ${failed[0]?.reason}: ${failed[0]?.message}`);
    expect(failed.every((e) => e.type === 'Warning' && /^uninstall failed: .*fail-delete-pre-delete/.test(e.message))).toBe(true);
    const hr = await hrs.get(ns, 'doomed');
    expect((hr?.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp).toBeDefined();
    expect(hr?.metadata.finalizers).toContain('helm.project-planton.org/finalizer');
    expect(await history('doomed')).toEqual([[1, 'uninstalling']]);
    expect(await configMapExists('doomed-fail-delete')).toBe(true);
    const reasons = await reasonsOf('doomed');
    expect(reasons).not.toContain('Orphaned');
    expect(reasons).not.toContain('UninstallSucceeded');
    expect(actionsStarted('doomed').filter((a) => a === 'uninstall').length).toBeGreaterThanOrEqual(2);
  });

  it('completes once the hook can succeed (its ResourceQuota deleted): the HelmRelease, the release and its objects are gone', async () => {
    await deleteQuota('doomed');
    await waitFor('doomed to be gone', async () => ((await hrs.get(ns, 'doomed')) === undefined ? true : undefined), 180_000, 1_000);
    expect(await releaseSecrets('doomed')).toHaveLength(0);
    expect(await history('doomed')).toEqual([]);
    expect(await configMapExists('doomed-fail-delete')).toBe(false);
    const events = await eventsFor(ns, 'doomed');
    const done = events.find((e) => e.reason === 'UninstallSucceeded');
    console.log(`doomed deleted: ${done?.type} ${done?.reason}: ${done?.message}`);
    expect(done).toMatchObject({ type: 'Normal', message: 'uninstalled the release' });
    const reasons = events.map((e) => e.reason);
    expect(reasons.indexOf('UninstallSucceeded')).toBeGreaterThan(reasons.lastIndexOf('UninstallFailed'));
  });
});
