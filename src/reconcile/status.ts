// The HelmRelease status the reconciler writes: built from the previous status and what this
// reconcile observed and did. Ready (and Reconciling/Stalled) is computed only by summarize().
// Deterministic: the same inputs give an equal status, so an unchanged release is not re-patched.
import type { Condition, HelmReleaseSpec, HelmReleaseStatus, PreviousRelease, ReleaseHistoryEntry, ReleaseInfo } from '../api/helm-release.js';
import type { ReleaseRevision, ReleaseState } from '../runner/client.js';
import type { ActionResult } from './actions/action.js';
import { ConditionType, type ConditionInput, findCondition, Reason, removeCondition, setCondition } from './conditions.js';
import type { Plan } from './decide.js';
import type { ErrorVerdict } from './errors.js';
import { helmStatus, type Desired } from './state.js';

/** What the reconcile came to, for Ready and the reconciliation-status metric. */
export type Verdict =
  | { readonly kind: 'ready'; readonly reason: string; readonly message: string }
  | { readonly kind: 'progressing'; readonly reason: string; readonly message: string }
  | { readonly kind: 'failed'; readonly reason: string; readonly message: string }
  | { readonly kind: 'stalled'; readonly reason: string; readonly message: string }
  | { readonly kind: 'unknown'; readonly reason: string; readonly message: string };

/** Ready, from the plan and its result or the error met. `followUp`: another action comes next. */
export function summarize(
  prev: readonly Condition[],
  plan: Plan | undefined,
  result: ActionResult | undefined,
  error: ErrorVerdict | undefined,
  followUp: boolean,
): Verdict {
  if (error) {
    if (error.reason === Reason.RunnerUnavailable) return { kind: 'unknown', reason: error.reason, message: error.message };
    return { kind: error.stalled ? 'stalled' : 'failed', reason: error.reason, message: error.message };
  }
  if (result?.action === 'uninstall-previous') {
    // The release the spec names is Ready; removing an old one does not change that (its
    // outcome is an event, and a failure is retried with backoff).
    return readyAsBefore(prev, 'the release is in sync');
  }
  if (result) {
    if (!result.succeeded) return { kind: 'failed', reason: result.reason, message: result.message };
    if (followUp || result.action === 'unlock' || result.action === 'rollback' || (result.action === 'uninstall')) {
      return { kind: 'progressing', reason: result.reason, message: result.message };
    }
    return { kind: 'ready', reason: result.reason, message: result.message };
  }
  if (!plan) return { kind: 'unknown', reason: Reason.Progressing, message: 'reconciling' };
  switch (plan.kind) {
    case 'ready':
      return readyAsBefore(prev, plan.message);
    case 'wait':
      return { kind: 'progressing', reason: plan.reason, message: plan.message };
    case 'stall':
      return { kind: 'stalled', reason: plan.reason, message: plan.message };
    default:
      return { kind: 'progressing', reason: Reason.Progressing, message: plan.reason };
  }
}

/** Ready as it was when it was already True (so nothing is rewritten), else InSync. */
function readyAsBefore(prev: readonly Condition[], message: string): Verdict {
  const ready = findCondition(prev, ConditionType.Ready);
  if (ready?.status === 'True') return { kind: 'ready', reason: ready.reason, message: ready.message };
  return { kind: 'ready', reason: Reason.InSync, message };
}

/** At most this many earlier releases are remembered for uninstalling. */
export const MAX_PREVIOUS_RELEASES = 16;

/**
 * status.previousReleases for a reconcile of the release `name` in `namespace`: the earlier list,
 * plus the release the status last showed when the spec now names another one, minus the one
 * the spec names (renamed back). The oldest entries beyond MAX_PREVIOUS_RELEASES are forgotten.
 */
export function previousReleasesOf(prev: HelmReleaseStatus | undefined, name: string, namespace: string): PreviousRelease[] {
  const same = (r: PreviousRelease, n: string, ns: string) => r.name === n && r.namespace === ns;
  const out = (prev?.previousReleases ?? []).filter((r) => !same(r, name, namespace)).map((r) => ({ name: r.name, namespace: r.namespace }));
  const shown = prev?.release;
  if (shown && !same(shown, name, namespace) && !out.some((r) => same(r, shown.name, shown.namespace))) {
    out.push({ name: shown.name, namespace: shown.namespace });
  }
  return out.slice(-MAX_PREVIOUS_RELEASES);
}

export interface StatusInput {
  readonly prev: HelmReleaseStatus | undefined;
  readonly generation: number;
  readonly nowIso: string;
  readonly spec: HelmReleaseSpec | undefined;
  readonly desired: Desired | undefined;
  /** The release as last read (after the action, when one ran). */
  readonly observed: { readonly state: ReleaseState; readonly history: readonly ReleaseRevision[] } | undefined;
  readonly result: ActionResult | undefined;
  /** Drift found by this reconcile's check; undefined when not checked. */
  readonly drifted: number | undefined;
  readonly verdict: Verdict;
  /** True when the failure counters restart because a new install or upgrade is attempted. */
  readonly newAttempt: boolean;
  /**
   * A reconcile request (annotation value) handled by this reconcile: the failure counters start
   * again whatever the action, so the next reconciles count from zero.
   */
  readonly handledReconcileRequest?: string;
  /** The handled request asked to keep the counters: they start again only for a new attempt. */
  readonly keepFailures?: boolean;
  /** Helm release name and namespace, for status.release. */
  readonly releaseName: string;
  readonly releaseNamespace: string;
  /** Releases under earlier names still to uninstall (previousReleasesOf); default: prev's. */
  readonly previousReleases?: readonly PreviousRelease[];
}

export function nextStatus(input: StatusInput): HelmReleaseStatus {
  const { prev, generation, nowIso, verdict, result } = input;
  let conditions: Condition[] = [...(prev?.conditions ?? [])];
  const set = (c: ConditionInput) => {
    conditions = setCondition(conditions, c, generation, nowIso);
  };

  // Ready, Reconciling, Stalled: kstatus. Reconciling and Stalled are absent when not in effect.
  const readyStatus = verdict.kind === 'ready' ? 'True' : verdict.kind === 'unknown' ? 'Unknown' : 'False';
  set({ type: ConditionType.Ready, status: readyStatus, reason: verdict.reason, message: verdict.message });
  conditions = removeCondition(conditions, ConditionType.Reconciling);
  conditions = removeCondition(conditions, ConditionType.Stalled);
  if (verdict.kind === 'stalled') set({ type: ConditionType.Stalled, status: 'True', reason: verdict.reason, message: verdict.message });
  if (verdict.kind === 'progressing' || verdict.kind === 'failed' || verdict.kind === 'unknown') {
    set({ type: ConditionType.Reconciling, status: 'True', reason: verdict.reason, message: verdict.message });
  }

  let counters = input.newAttempt || (input.handledReconcileRequest !== undefined && input.keepFailures !== true)
    ? { failures: 0, installFailures: 0, upgradeFailures: 0 }
    : { failures: prev?.failures ?? 0, installFailures: prev?.installFailures ?? 0, upgradeFailures: prev?.upgradeFailures ?? 0 };
  let attempted: Pick<HelmReleaseStatus, 'lastAttemptedChartVersion' | 'lastAttemptedValuesDigest' | 'lastAttemptedGeneration' | 'lastAttemptedConfigDigest'> = {
    ...(prev?.lastAttemptedChartVersion !== undefined ? { lastAttemptedChartVersion: prev.lastAttemptedChartVersion } : {}),
    ...(prev?.lastAttemptedValuesDigest !== undefined ? { lastAttemptedValuesDigest: prev.lastAttemptedValuesDigest } : {}),
    ...(prev?.lastAttemptedGeneration !== undefined ? { lastAttemptedGeneration: prev.lastAttemptedGeneration } : {}),
    ...(prev?.lastAttemptedConfigDigest !== undefined ? { lastAttemptedConfigDigest: prev.lastAttemptedConfigDigest } : {}),
  };

  if (result) {
    const testsGate = input.spec?.test.enable === true && !input.spec.test.ignoreFailures;
    if (result.action === 'uninstall' && input.newAttempt && input.desired) {
      // The uninstall that starts a new attempt (the spec changed on a release never deployed):
      // recorded as that attempt, so its failures are counted against it.
      attempted = {
        lastAttemptedChartVersion: input.desired.chartVersion,
        lastAttemptedValuesDigest: input.desired.valuesDigest,
        lastAttemptedGeneration: generation,
        lastAttemptedConfigDigest: input.desired.configDigest,
      };
    }
    if (result.attempted && input.desired) {
      attempted = {
        lastAttemptedChartVersion: input.desired.chartVersion,
        lastAttemptedValuesDigest: input.desired.valuesDigest,
        lastAttemptedGeneration: generation,
        lastAttemptedConfigDigest: input.desired.configDigest,
      };
      set({ type: ConditionType.Released, status: result.succeeded ? 'True' : 'False', reason: result.reason, message: result.message });
      conditions = removeCondition(conditions, ConditionType.TestSuccess);
      if (result.succeeded) conditions = removeCondition(conditions, ConditionType.Remediated);
    }
    if (result.remediated) {
      const how = result.action === 'install' ? Reason.UninstallSucceeded : Reason.RollbackSucceeded;
      set({ type: ConditionType.Remediated, status: 'True', reason: how, message: `${result.message}; the failed ${result.action} was undone` });
    }
    if ((result.action === 'rollback' || result.action === 'uninstall')) {
      set({ type: ConditionType.Remediated, status: result.succeeded ? 'True' : 'False', reason: result.reason, message: result.message });
    }
    if (result.testResult) {
      set({ type: ConditionType.TestSuccess, status: result.testResult === 'Succeeded' ? 'True' : 'False', reason: result.reason, message: result.message });
    }
    if (!result.succeeded && result.counter && (result.action !== 'test' || testsGate)) {
      counters = {
        failures: counters.failures + 1,
        installFailures: counters.installFailures + (result.counter === 'install' ? 1 : 0),
        upgradeFailures: counters.upgradeFailures + (result.counter === 'upgrade' ? 1 : 0),
      };
    }
    const done = (result.attempted && !testsGate) || result.action === 'test';
    if (result.succeeded && done) counters = { failures: 0, installFailures: 0, upgradeFailures: 0 };
  }
  if (verdict.kind === 'ready') counters = { failures: 0, installFailures: 0, upgradeFailures: 0 };

  if (input.drifted !== undefined) {
    if (input.drifted > 0) {
      set({ type: ConditionType.Drifted, status: 'True', reason: Reason.DriftDetected, message: `${input.drifted} object(s) differ from the release manifest` });
    } else if (findCondition(conditions, ConditionType.Drifted)?.status === 'True') {
      // Only a change from drifted to clean is written: a clean check of a clean release leaves
      // the status (and the object) untouched.
      set({ type: ConditionType.Drifted, status: 'False', reason: Reason.NoDrift, message: 'no drift' });
    }
  }
  if (result?.action === 'correct-drift' && result.succeeded) {
    set({ type: ConditionType.Drifted, status: 'False', reason: Reason.DriftCorrected, message: result.message });
  }
  if (input.spec?.driftDetection.mode === 'disabled') conditions = removeCondition(conditions, ConditionType.Drifted);

  const drift = driftStatus(prev, input, nowIso);
  const observed = input.observed;
  const release = observed ? releaseInfo(observed.state, input.releaseName, input.releaseNamespace) : prev?.release;
  const history = observed ? historyOf(observed.history, input.spec?.maxHistory ?? 5) : prev?.history;
  const handled = input.handledReconcileRequest ?? prev?.lastHandledReconcileTime;
  const done = result?.action === 'uninstall-previous' && result.succeeded ? result.previous : undefined;
  const previousReleases = (input.previousReleases ?? prev?.previousReleases ?? []).filter(
    (r) => !(done && r.name === done.name && r.namespace === done.namespace),
  );

  return {
    observedGeneration: generation,
    conditions,
    ...(release ? { release } : {}),
    ...(history && history.length > 0 ? { history } : {}),
    ...counters,
    ...attempted,
    ...(drift ? { drift } : {}),
    ...(handled ? { lastHandledReconcileTime: handled } : {}),
    ...(previousReleases.length > 0 ? { previousReleases } : {}),
  };
}

function driftStatus(prev: HelmReleaseStatus | undefined, input: StatusInput, nowIso: string): HelmReleaseStatus['drift'] {
  if (input.spec?.driftDetection.mode === 'disabled') return undefined;
  const base = prev?.drift;
  if (input.drifted === undefined && input.result?.action !== 'correct-drift') return base;
  const correctedNow = input.result?.action === 'correct-drift' && input.result.succeeded;
  if (base === undefined && !correctedNow && (input.drifted ?? 0) === 0) return undefined;
  const objectsDrifted = correctedNow ? 0 : (input.drifted ?? base?.objectsDrifted ?? 0);
  const lastDetectedTime = (input.drifted ?? 0) > 0 ? nowIso : base?.lastDetectedTime;
  const lastCorrectedTime = correctedNow ? nowIso : base?.lastCorrectedTime;
  return {
    objectsDrifted,
    ...(lastDetectedTime ? { lastDetectedTime } : {}),
    ...(lastCorrectedTime ? { lastCorrectedTime } : {}),
  };
}

function releaseInfo(s: ReleaseState, name: string, namespace: string): ReleaseInfo | undefined {
  if (!s.exists || helmStatus(s.status) === 'uninstalled') return undefined;
  return {
    name,
    namespace,
    revision: s.revision,
    chartName: s.chartName,
    chartVersion: s.chartVersion,
    ...(s.appVersion ? { appVersion: s.appVersion } : {}),
    status: helmStatus(s.status),
  };
}

function historyOf(history: readonly ReleaseRevision[], maxHistory: number): ReleaseHistoryEntry[] {
  const limit = maxHistory > 0 ? maxHistory : 5;
  return [...history]
    .sort((a, b) => b.revision - a.revision)
    .slice(0, limit)
    .map((h) => ({
      revision: h.revision,
      chartVersion: h.chartVersion,
      ...(h.appVersion ? { appVersion: h.appVersion } : {}),
      status: helmStatus(h.status),
      ...(h.valuesDigest ? { valuesDigest: h.valuesDigest } : {}),
      ...(h.deployedTime ? { deployedAt: h.deployedTime.toISOString() } : {}),
      ...(h.tests?.ran ? { testResult: h.tests.succeeded ? 'Succeeded' : 'Failed' } : {}),
    }));
}
