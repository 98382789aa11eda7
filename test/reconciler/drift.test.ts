// Drift end to end, on the local control plane with the real runner and controller: a change made
// to a release's objects outside Helm (`kubectl scale`, `kubectl patch`) is found at the next
// periodic check and re-applied (mode enabled), only reported (mode warn), or not seen at all when
// an ignore rule covers the field; none of this makes a new Helm revision.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, kubectl, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  type HelmReleaseView,
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

useController('hr-drift', (suite) => ({ ns, runner, controller } = suite));

const plain = (extra: Record<string, unknown> = {}) => ({
  repo: clusterEnv().PLANTON_OCI_REPO,
  name: 'plain',
  version: '1.0.0',
  timeout: '60s',
  ...extra });

const replicas = async (name: string) => (await apps.readNamespacedDeployment({ namespace: ns, name })).spec?.replicas;
const message = async (name: string) => (await core.readNamespacedConfigMap({ namespace: ns, name })).data?.['message'];

/** Revisions of the Helm release, as the Helm CLI lists them. */
async function helmRevisions(release: string): Promise<number[]> {
  const { stdout } = await helm(['history', release, '--namespace', ns, '--output', 'json']);
  return (JSON.parse(stdout) as { revision: number }[]).map((h) => h.revision);
}

type WithHandled = HelmReleaseView & { status?: { lastHandledReconcileTime?: string } };

/**
 * Asks for a reconcile through the request annotation and waits until the controller reports it
 * handled (status.lastHandledReconcileTime): proof that a full reconcile, drift check included,
 * ran after everything done before this call.
 */
async function reconcileNow(name: string): Promise<WithHandled> {
  const at = new Date().toISOString();
  await kubectl(['annotate', '--overwrite', '--namespace', ns, `helmrelease/${name}`, `helm.project-planton.org/reconcile-requested-at=${at}`]);
  return waitFor(`${name} to handle the reconcile request of ${at}`, async () => {
    const hr = (await hrs.get(ns, name)) as WithHandled | undefined;
    return hr?.status?.lastHandledReconcileTime === at ? hr : undefined;
  }, 60_000, 250);
}

describe('drift detection mode enabled (the default)', () => {
  it('re-applies a Deployment scaled by hand, with events and the drift summary, without a new revision', async () => {
    await hrs.create(ns, 'fix', plain({ interval: '3s' }));
    const installed = await waitForCondition(ns, 'fix', 'Ready', 'True');
    expect(installed.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    expect(await replicas('fix-plain')).toBe(1);

    await kubectl(['scale', 'deployment/fix-plain', '--namespace', ns, '--replicas=3']);
    expect(await replicas('fix-plain')).toBe(3);

    // Seen (a Drifted=True status or the DriftDetected event), then corrected.
    const corrected = await waitFor('the drift to be corrected', async () => {
      const hr = await hrs.get(ns, 'fix');
      return hr?.status?.drift?.lastCorrectedTime !== undefined && (await replicas('fix-plain')) === 1 ? hr : undefined;
    }, 90_000, 500);
    expect(corrected.status?.drift?.lastDetectedTime).toBeDefined();
    expect(corrected.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });

    const events = await eventsFor(ns, 'fix');
    const detected = events.find((e) => e.reason === 'DriftDetected');
    expect(detected).toMatchObject({ type: 'Warning' });
    expect(detected?.message).toMatch(/1 object\(s\) differ from the release manifest/);
    const fixed = events.find((e) => e.reason === 'DriftCorrected');
    expect(fixed).toMatchObject({ type: 'Normal' });
    expect(fixed?.message).toContain('Deployment/fix-plain');

    // Drifted ends False (corrected, then nothing found), Ready stays True, and Helm made no
    // new revision: the correction re-applied the objects of revision 1.
    const settled = await reconcileNow('fix');
    expect(condition(settled, 'Drifted')).toMatchObject({ status: 'False' });
    expect(condition(settled, 'Ready')).toMatchObject({ status: 'True' });
    expect(settled.status?.drift?.objectsDrifted).toBe(0);
    expect(settled.status?.release?.revision).toBe(1);
    expect(await helmRevisions('fix')).toEqual([1]);
    expect(await replicas('fix-plain')).toBe(1);
  });

  it('re-applies a ConfigMap value edited by hand', async () => {
    await kubectl(['patch', 'configmap/fix-plain', '--namespace', ns, '--type=merge', '-p', '{"data":{"message":"edited"}}']);
    expect(await message('fix-plain')).toBe('edited');
    const fixed = await waitFor('a DriftCorrected event naming the ConfigMap', async () =>
      (await eventsFor(ns, 'fix')).find((e) => e.reason === 'DriftCorrected' && e.message.includes('ConfigMap/fix-plain')), 90_000, 500);
    expect(fixed.message).toBe('re-applied 1 drifted object(s): ConfigMap/fix-plain');
    expect(await message('fix-plain')).toBe('hello');
    expect(await helmRevisions('fix')).toEqual([1]);
  });
});

describe('drift detection mode warn', () => {
  it('reports a Deployment scaled by hand and leaves it as it is; Ready stays True', async () => {
    await hrs.create(ns, 'warn', plain({ interval: '3s', driftDetection: { mode: 'warn' } }));
    await waitForCondition(ns, 'warn', 'Ready', 'True');
    await kubectl(['scale', 'deployment/warn-plain', '--namespace', ns, '--replicas=3']);

    const reported = await waitForCondition(ns, 'warn', 'Drifted', 'True', 90_000, 'DriftDetected');
    expect(condition(reported, 'Drifted')?.message).toMatch(/1 object\(s\) differ from the release manifest/);
    expect(reported.status?.drift?.objectsDrifted).toBeGreaterThanOrEqual(1);
    expect(reported.status?.drift?.lastDetectedTime).toBeDefined();
    expect(reported.status?.drift?.lastCorrectedTime).toBeUndefined();
    expect(condition(reported, 'Ready')).toMatchObject({ status: 'True' });

    // Two more full reconciles later, still reported and still not corrected.
    await reconcileNow('warn');
    const later = await reconcileNow('warn');
    expect(condition(later, 'Drifted')).toMatchObject({ status: 'True', reason: 'DriftDetected' });
    expect(condition(later, 'Ready')).toMatchObject({ status: 'True' });
    expect(later.status?.drift?.objectsDrifted).toBeGreaterThanOrEqual(1);
    expect(later.status?.drift?.lastCorrectedTime).toBeUndefined();
    expect(later.status?.release?.revision).toBe(1);
    expect(await replicas('warn-plain')).toBe(3);

    const events = await eventsFor(ns, 'warn');
    expect(events.find((e) => e.reason === 'DriftDetected')).toMatchObject({ type: 'Warning' });
    expect(events.map((e) => e.reason)).not.toContain('DriftCorrected');
  });

  it('upgrades over the reported drift: the next upgrade takes the hand-changed field back', async () => {
    // The scaled Deployment's replicas belong to kubectl's field manager now; the upgrade
    // forces the conflict (the HelmRelease is the source of truth) instead of failing on it.
    await hrs.patchSpec(ns, 'warn', { values: { message: 'after-drift' } });
    const hr = await waitFor('revision 2 deployed', async () => {
      const h = await hrs.get(ns, 'warn');
      return h?.status?.release?.revision === 2 && condition(h, 'Ready')?.status === 'True' ? h : undefined;
    }, 120_000);
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
    expect(await message('warn-plain')).toBe('after-drift');
    expect(await replicas('warn-plain')).toBe(1);
    expect(await helmRevisions('warn')).toEqual([1, 2]);
  });
});

describe('a drift ignore rule', () => {
  it('hides /spec/replicas of the Deployment: scaling is neither reported nor reverted, other drift still is', async () => {
    // Default interval (10m): the only reconciles after the install are the ones asked for below.
    await hrs.create(ns, 'hpa', plain({ driftDetection: { ignore: [{ paths: ['/spec/replicas'], target: { kind: 'Deployment' } }] } }));
    await waitForCondition(ns, 'hpa', 'Ready', 'True');
    await kubectl(['scale', 'deployment/hpa-plain', '--namespace', ns, '--replicas=3']);

    // A clean check of a clean release writes nothing (ADR 0003): no Drifted condition, no
    // drift summary, as before the scale.
    const checked = await reconcileNow('hpa');
    expect(condition(checked, 'Drifted')).toBeUndefined();
    expect(checked.status?.drift?.lastDetectedTime).toBeUndefined();
    expect(condition(checked, 'Ready')).toMatchObject({ status: 'True' });
    expect(await replicas('hpa-plain')).toBe(3);
    expect((await eventsFor(ns, 'hpa')).map((e) => e.reason)).not.toContain('DriftDetected');

    // A field the rule does not cover is still corrected, and the correction leaves replicas alone.
    await kubectl(['patch', 'configmap/hpa-plain', '--namespace', ns, '--type=merge', '-p', '{"data":{"message":"edited"}}']);
    const fixed = await reconcileNow('hpa');
    expect(fixed.status?.drift?.lastCorrectedTime).toBeDefined();
    expect(condition(fixed, 'Drifted')).toMatchObject({ status: 'False', reason: 'DriftCorrected' });
    expect(await message('hpa-plain')).toBe('hello');
    expect(await replicas('hpa-plain')).toBe(3);
    const corrected = (await eventsFor(ns, 'hpa')).filter((e) => e.reason === 'DriftCorrected');
    expect(corrected).toHaveLength(1);
    expect(corrected[0]?.message).toContain('ConfigMap/hpa-plain');
    expect(corrected[0]?.message).not.toContain('Deployment');
    expect(await helmRevisions('hpa')).toEqual([1]);
  });
});
