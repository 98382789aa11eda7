// Chart tests (`helm test`) end to end, on the local control plane with the real runner and
// controller. The `testable` chart's test hook is a Job that passes under KWOK, or fails after
// about 5 s with testShouldFail. A passing test is recorded (TestSuccess, history testResult); a
// failing one is only reported with ignoreFailures, and otherwise fails the release, which is
// remediated within remediation.retries and then Stalled.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  type HelmReleaseView,
  type RunningController,
  requestReconcile,
  useController,
  waitForCondition,
} from '../support/controller.js';
import type { RunningRunner } from '../support/runner.js';

const kc = kubeConfig();
const batch = kc.makeApiClient(k8s.BatchV1Api);
const hrs = helmReleases();

let ns: string;
let runner: RunningRunner;
let controller: RunningController;

useController('hr-tests', (suite) => ({ ns, runner, controller } = suite));

const testable = (extra: Record<string, unknown> = {}) => ({
  repo: clusterEnv().PLANTON_OCI_REPO,
  name: 'testable',
  version: '1.0.0',
  timeout: '30s',
  ...extra });

/** Every occurrence of an event of `name`, oldest first (repeats are counted on one Event). */
function orderedEvents(name: string): Promise<{ type: string; reason: string; message: string }[]> {
  return eventsFor(ns, name);
}

/** `[revision, status]` of every revision, newest first, as the Helm CLI lists them. */
async function helmHistory(release: string): Promise<[number, string][]> {
  const { stdout } = await helm(['history', release, '--namespace', ns, '--output', 'json']);
  return (JSON.parse(stdout) as { revision: number; status: string }[])
    .map((h): [number, string] => [h.revision, h.status])
    .sort((a, b) => b[0] - a[0]);
}

/** Waits until the HelmRelease at its current generation satisfies `ok`. */
function waitForStatus(name: string, what: string, ok: (hr: HelmReleaseView) => boolean, timeoutMs = 120_000): Promise<HelmReleaseView> {
  return waitFor(`${name}: ${what}`, async () => {
    const hr = await hrs.get(ns, name);
    return hr && hr.status?.observedGeneration === hr.metadata.generation && ok(hr) ? hr : undefined;
  }, timeoutMs, 500);
}

describe('chart tests enabled', () => {
  it('run after the install: TestSuccess=True, the revision records Succeeded, Ready=True', async () => {
    await hrs.create(ns, 'pass', testable({ test: { enable: true } }));
    const hr = await waitForStatus('pass', 'TestSuccess=True and Ready=True', (h) =>
      condition(h, 'TestSuccess')?.status === 'True' && condition(h, 'Ready')?.status === 'True');
    expect(condition(hr, 'TestSuccess')).toMatchObject({ reason: 'TestSucceeded', message: 'tests of revision 1 passed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(hr.status?.history?.[0]).toMatchObject({ revision: 1, status: 'deployed', testResult: 'Succeeded' });
    expect(hr.status).toMatchObject({ failures: 0, installFailures: 0 });
    // The test hook really ran: its Job (kept until the next test run) completed.
    const job = await batch.readNamespacedJob({ namespace: ns, name: 'pass-testable-test' });
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
    const reasons = (await orderedEvents('pass')).map((e) => e.reason);
    expect(reasons.indexOf('InstallSucceeded')).toBeGreaterThanOrEqual(0);
    expect(reasons.indexOf('TestSucceeded')).toBeGreaterThan(reasons.indexOf('InstallSucceeded'));
  });
});

describe('a failing chart test with ignoreFailures', () => {
  it('is only reported: TestSuccess=False, Ready=True, the release stays, nothing counted', async () => {
    await hrs.create(ns, 'ignored', testable({ values: { testShouldFail: true }, test: { enable: true, ignoreFailures: true } }));
    const hr = await waitForStatus('ignored', 'TestSuccess=False and Ready=True', (h) =>
      condition(h, 'TestSuccess')?.status === 'False' && condition(h, 'Ready')?.status === 'True');
    expect(condition(hr, 'TestSuccess')).toMatchObject({ reason: 'TestFailed' });
    expect(condition(hr, 'TestSuccess')?.message).toContain('tests of revision 1 failed');
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(hr.status?.history?.[0]).toMatchObject({ revision: 1, status: 'deployed', testResult: 'Failed' });
    expect(hr.status).toMatchObject({ failures: 0, installFailures: 0 });
    expect(await helmHistory('ignored')).toEqual([[1, 'deployed']]);
    expect((await orderedEvents('ignored')).find((e) => e.reason === 'TestFailed')).toMatchObject({ type: 'Warning' });
  });
});

describe('a failing chart test without ignoreFailures', () => {
  it('with retries 0: fails the release, Stalled RetriesExhausted, Ready=False; the release is left for inspection', async () => {
    await hrs.create(ns, 'gate', testable({ values: { testShouldFail: true }, test: { enable: true }, remediation: { retries: 0 } }));
    const hr = await waitForCondition(ns, 'gate', 'Stalled', 'True', 120_000, 'RetriesExhausted');
    const ready = condition(hr, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
    // The reason a person reads: the tests failed (the install itself succeeded).
    expect(ready?.message).toContain('tests of revision 1 failed');
    expect(ready?.message).toContain('remediation.retries is 0');
    expect(condition(hr, 'Stalled')?.message).toBe(ready?.message);
    expect(condition(hr, 'TestSuccess')).toMatchObject({ status: 'False', reason: 'TestFailed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect(hr.status).toMatchObject({ installFailures: 1, failures: 1 });
    expect(hr.status?.history?.[0]).toMatchObject({ revision: 1, status: 'deployed', testResult: 'Failed' });
    // No retry left, so no remediation (ADR 0003): revision 1 stays.
    expect(condition(hr, 'Remediated')).toBeUndefined();
    expect(await helmHistory('gate')).toEqual([[1, 'deployed']]);
    const reasons = (await orderedEvents('gate')).map((e) => e.reason);
    expect(reasons).toEqual(['InstallSucceeded', 'TestFailed', 'RetriesExhausted']);
  });

  it('a reconcile request tests it again from zero: uninstalled, installed, tested, Stalled again', async () => {
    const at = await requestReconcile(ns, 'gate');
    const hr = await waitFor('Stalled again after the request', async () => {
      const cur = await hrs.get(ns, 'gate');
      const again = cur?.status?.lastHandledReconcileTime === at && condition(cur, 'Stalled')?.reason === 'RetriesExhausted';
      return again && cur.status?.installFailures === 1 ? cur : undefined;
    }, 180_000, 1_000);
    expect(condition(hr, 'Ready')?.message).toContain('tests of revision 1 failed');
    const reasons = (await orderedEvents('gate')).map((e) => e.reason);
    expect(reasons).toEqual(['InstallSucceeded', 'TestFailed', 'RetriesExhausted', 'UninstallSucceeded', 'InstallSucceeded', 'TestFailed', 'RetriesExhausted']);
  });

  it('with retries 1: the failed install is uninstalled and installed again, tested again, then Stalled', async () => {
    await hrs.create(ns, 'retried', testable({ values: { testShouldFail: true }, test: { enable: true }, remediation: { retries: 1 } }));
    const hr = await waitForCondition(ns, 'retried', 'Stalled', 'True', 180_000, 'RetriesExhausted');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
    expect(condition(hr, 'Ready')?.message).toContain('tests of revision 1 failed');
    expect(hr.status).toMatchObject({ installFailures: 2, failures: 2 });
    expect(condition(hr, 'TestSuccess')).toMatchObject({ status: 'False', reason: 'TestFailed' });
    expect(await helmHistory('retried')).toEqual([[1, 'deployed']]);
    const reasons = (await orderedEvents('retried')).map((e) => e.reason);
    expect(reasons).toEqual(['InstallSucceeded', 'TestFailed', 'UninstallSucceeded', 'InstallSucceeded', 'TestFailed', 'RetriesExhausted']);
  });
});
