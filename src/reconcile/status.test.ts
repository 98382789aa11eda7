import { describe, expect, it } from 'vitest';
import { HelmReleaseSpecSchema, type HelmReleaseStatus } from '../api/helm-release.js';
import { type ReleaseState, ReleaseStatus } from '../runner/client.js';
import type { ActionResult } from './actions/action.js';
import { Reason } from './conditions.js';
import { MAX_PREVIOUS_RELEASES, nextStatus, previousReleasesOf, type StatusInput, summarize } from './status.js';

const spec = HelmReleaseSpecSchema.parse({ repo: 'oci://charts.example.com/team', name: 'plain', version: '1.0.0' });
const state: ReleaseState = {
  exists: true,
  revision: 1,
  status: ReleaseStatus.DEPLOYED,
  chartName: 'plain',
  chartVersion: '1.0.0',
  appVersion: '1.0.0',
  valuesDigest: 'v1',
  configDigest: 'c1',
  pendingLockHeld: false,
  operationInProgress: false,
  description: '',
  tests: undefined,
  firstDeployedTime: undefined,
  lastDeployedTime: undefined,
};
const desired = { chartVersion: '1.0.0', valuesDigest: 'v1', configDigest: 'c1' };
const installed: ActionResult = { action: 'install', succeeded: true, reason: Reason.InstallSucceeded, message: 'installed plain@1.0.0', counter: 'install', attempted: true, state };

function input(prev: HelmReleaseStatus | undefined, over: Partial<StatusInput>): StatusInput {
  return {
    prev,
    generation: 1,
    nowIso: '2026-11-25T10:00:00Z',
    spec,
    desired,
    observed: { state, history: [] },
    result: undefined,
    drifted: undefined,
    verdict: { kind: 'ready', reason: Reason.InSync, message: 'in sync' },
    newAttempt: false,
    releaseName: 'web',
    releaseNamespace: 'apps',
    ...over,
  };
}

describe('nextStatus', () => {
  const afterInstall = nextStatus(input(undefined, { result: installed, newAttempt: true, verdict: summarize([], undefined, installed, undefined, false) }));

  it('records an install: Ready and Released true, the release, the attempt', () => {
    expect(afterInstall.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'InstallSucceeded'],
      ['Released', 'True', 'InstallSucceeded'],
    ]);
    expect(afterInstall.release).toMatchObject({ name: 'web', namespace: 'apps', revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    expect(afterInstall).toMatchObject({ lastAttemptedChartVersion: '1.0.0', lastAttemptedValuesDigest: 'v1', lastAttemptedGeneration: 1, failures: 0 });
  });

  it('is unchanged by a later in-sync reconcile with a clean drift check, even at another time', () => {
    const prevReady = afterInstall.conditions ?? [];
    const again = nextStatus(input(afterInstall, { nowIso: '2026-11-25T11:00:00Z', drifted: 0, verdict: summarize(prevReady, { kind: 'ready', message: 'in sync', drifted: 0 }, undefined, undefined, false) }));
    expect(again).toEqual(afterInstall);
  });

  it('reports drift, then its correction, with times', () => {
    const drifted = nextStatus(input(afterInstall, { drifted: 2, nowIso: '2026-11-25T11:00:00Z' }));
    expect(drifted.conditions?.find((c) => c.type === 'Drifted')).toMatchObject({ status: 'True', reason: 'DriftDetected' });
    expect(drifted.drift).toEqual({ objectsDrifted: 2, lastDetectedTime: '2026-11-25T11:00:00Z' });
    const corrected: ActionResult = { action: 'correct-drift', succeeded: true, reason: Reason.DriftCorrected, message: 're-applied 2' };
    const after = nextStatus(input(drifted, { result: corrected, drifted: 2, nowIso: '2026-11-25T11:00:05Z' }));
    expect(after.conditions?.find((c) => c.type === 'Drifted')).toMatchObject({ status: 'False', reason: 'DriftCorrected' });
    expect(after.drift).toMatchObject({ objectsDrifted: 0, lastCorrectedTime: '2026-11-25T11:00:05Z' });
  });

  it('counts a failed upgrade against the attempt and keeps Ready false', () => {
    const failed: ActionResult = { action: 'upgrade', succeeded: false, reason: Reason.UpgradeFailed, message: 'upgrade failed', counter: 'upgrade', attempted: true, remediated: true };
    const s = nextStatus(input(afterInstall, { result: failed, generation: 2, newAttempt: true, verdict: summarize([], undefined, failed, undefined, false) }));
    expect(s).toMatchObject({ failures: 1, upgradeFailures: 1, installFailures: 0, lastAttemptedGeneration: 2 });
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'UpgradeFailed' });
    expect(s.conditions?.find((c) => c.type === 'Remediated')).toMatchObject({ status: 'True', reason: 'RollbackSucceeded' });
    expect(s.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True' });
  });

  it('a handled reconcile request restarts the counters even when the action is the uninstall of a failed install', () => {
    const exhausted = { ...afterInstall, failures: 4, installFailures: 4 };
    const uninstalled: ActionResult = { action: 'uninstall', succeeded: true, reason: Reason.UninstallSucceeded, message: 'uninstalled' };
    const verdict = summarize([], undefined, uninstalled, undefined, false);
    const s = nextStatus(input(exhausted, { result: uninstalled, verdict, handledReconcileRequest: '2026-12-01T10:00:00Z' }));
    expect(s).toMatchObject({ failures: 0, installFailures: 0, upgradeFailures: 0, lastHandledReconcileTime: '2026-12-01T10:00:00Z' });
    // Without a request the same reconcile keeps counting.
    const kept = nextStatus(input(exhausted, { result: uninstalled, verdict }));
    expect(kept).toMatchObject({ failures: 4, installFailures: 4 });
  });

  it('a handled request that asks to keep the failure counters records the request and keeps them', () => {
    const exhausted = { ...afterInstall, failures: 4, installFailures: 4 };
    const verdict = { kind: 'stalled' as const, reason: Reason.RetriesExhausted, message: 'install failed 4 time(s)' };
    const s = nextStatus(input(exhausted, { verdict, handledReconcileRequest: '2026-12-01T11:00:00Z', keepFailures: true }));
    expect(s).toMatchObject({ failures: 4, installFailures: 4, lastHandledReconcileTime: '2026-12-01T11:00:00Z' });
  });

  it('an uninstall that starts a new attempt records the attempt and counts its failure', () => {
    const failedUninstall: ActionResult = { action: 'uninstall', succeeded: false, reason: Reason.UninstallFailed, message: 'uninstall failed', counter: 'install' };
    const old = { ...afterInstall, installFailures: 3, failures: 3, lastAttemptedGeneration: 1 };
    const s = nextStatus(input(old, { result: failedUninstall, generation: 2, newAttempt: true, verdict: summarize([], undefined, failedUninstall, undefined, false) }));
    expect(s).toMatchObject({ installFailures: 1, failures: 1, lastAttemptedGeneration: 2, lastAttemptedValuesDigest: 'v1' });
  });

  it('keeps lastTransitionTime while the status does not change', () => {
    const later = nextStatus(input(afterInstall, { nowIso: '2026-11-25T12:00:00Z', verdict: { kind: 'ready', reason: 'Other', message: 'x' } }));
    expect(later.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-11-25T10:00:00Z');
  });
});

describe('previousReleasesOf', () => {
  const shown = { name: 'old', namespace: 'apps', revision: 3, chartName: 'plain', chartVersion: '1.0.0', status: 'deployed' };
  it('adds the release the status showed when the spec now names another', () => {
    expect(previousReleasesOf({ release: shown }, 'new', 'apps')).toEqual([{ name: 'old', namespace: 'apps' }]);
    expect(previousReleasesOf({ release: shown }, 'old', 'other-ns')).toEqual([{ name: 'old', namespace: 'apps' }]);
  });
  it('adds nothing when the name is unchanged, once only, and drops the one named again', () => {
    expect(previousReleasesOf({ release: shown }, 'old', 'apps')).toEqual([]);
    expect(previousReleasesOf({ release: shown, previousReleases: [{ name: 'old', namespace: 'apps' }] }, 'new', 'apps')).toHaveLength(1);
    expect(previousReleasesOf({ release: { ...shown, name: 'new' }, previousReleases: [{ name: 'old', namespace: 'apps' }] }, 'old', 'apps')).toEqual([
      { name: 'new', namespace: 'apps' },
    ]);
  });
  it('is bounded', () => {
    const many = Array.from({ length: MAX_PREVIOUS_RELEASES + 5 }, (_, i) => ({ name: `r${i}`, namespace: 'apps' }));
    expect(previousReleasesOf({ previousReleases: many }, 'x', 'apps')).toHaveLength(MAX_PREVIOUS_RELEASES);
  });
  it('nextStatus keeps the list and drops an entry handled by uninstall-previous', () => {
    const previous = { name: 'old', namespace: 'apps' };
    const kept = nextStatus(input(undefined, { previousReleases: [previous] }));
    expect(kept.previousReleases).toEqual([previous]);
    const done: ActionResult = { action: 'uninstall-previous', succeeded: true, reason: Reason.PreviousReleaseUninstalled, message: 'uninstalled', previous };
    const after = nextStatus(input(kept, { result: done, previousReleases: [previous], verdict: summarize(kept.conditions ?? [], undefined, done, undefined, false) }));
    expect(after.previousReleases).toBeUndefined();
    expect(after.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });
});
