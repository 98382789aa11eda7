// decide: the reconciler's policy, as pure functions from what was observed to a plan. No I/O,
// no clock: table-tested in decide.test.ts. The reconciler performs at most one action per
// reconcile, so a plan names one.
import type { HelmReleaseSpec, HelmReleaseStatus, PreviousRelease } from '../api/helm-release.js';
import type { ReleaseRevision } from '../runner/client.js';
import { Reason } from './conditions.js';
import { type Desired, previousDeployed, type ReleaseState } from './state.js';
import { crossNamespaceRefusal, releaseIdentity, type TenancyPolicy } from './tenancy.js';

export type Plan =
  | { readonly kind: 'install'; readonly reason: string }
  | { readonly kind: 'upgrade'; readonly reason: string }
  | { readonly kind: 'test'; readonly reason: string }
  | { readonly kind: 'unlock'; readonly reason: string; readonly revision: number }
  /** `counter`: the failure counter a failed remediation adds to, so remediation loops end. */
  | { readonly kind: 'rollback'; readonly reason: string; readonly toRevision: number; readonly counter: 'install' | 'upgrade' }
  | { readonly kind: 'uninstall-remediation'; readonly reason: string; readonly counter?: 'install' | 'upgrade' }
  | { readonly kind: 'correct-drift'; readonly reason: string }
  /** The current release is Ready: uninstall one installed under an earlier name or namespace. */
  | { readonly kind: 'uninstall-previous'; readonly reason: string; readonly previous: PreviousRelease }
  /** Deletion of the HelmRelease: uninstall the release, then drop the finalizer. */
  | { readonly kind: 'uninstall'; readonly reason: string }
  /** Deletion without uninstall (Orphan, suspended, or nothing installed). */
  | { readonly kind: 'release-finalizer'; readonly reason: string }
  /** Nothing to do now; not Ready yet; look again later. */
  | { readonly kind: 'wait'; readonly reason: Reason; readonly message: string; readonly requeueAfterMs: number }
  /** Cannot progress until the spec or the cluster changes. */
  | { readonly kind: 'stall'; readonly reason: Reason; readonly message: string }
  /** The release is as asked. `drifted` counts objects reported but not corrected (warn mode). */
  | { readonly kind: 'ready'; readonly message: string; readonly drifted: number };

export type ActionPlan = Extract<
  Plan,
  { kind: 'install' | 'upgrade' | 'test' | 'unlock' | 'rollback' | 'uninstall-remediation' | 'correct-drift' | 'uninstall' | 'uninstall-previous' }
>;

/** How long to wait before looking again at a release another operation holds. */
export const LOCK_RECHECK_MS = 5_000;
/** How long to wait before looking again at an unready dependency (its change also wakes us). */
export const DEPENDENCY_RECHECK_MS = 10_000;

export interface PreflightInput {
  readonly spec: HelmReleaseSpec;
  /** The HelmRelease's namespace. */
  readonly namespace: string;
  readonly tenancy: TenancyPolicy;
  readonly allowInsecureHttp: boolean;
  /** `namespace/name` of each dependency that is missing or not Ready. */
  readonly dependenciesNotReady: readonly string[];
}

/** Checks made before asking the runner anything; a plan when the reconcile stops here. */
export function preflight(input: PreflightInput): Plan | undefined {
  const { spec } = input;
  const crossNamespace = crossNamespaceRefusal(spec, input.namespace, input.tenancy);
  if (crossNamespace) return { kind: 'stall', reason: Reason.CrossNamespaceRefused, message: crossNamespace };
  const identity = releaseIdentity(spec, input.namespace, input.tenancy);
  if (identity.kind === 'refused') return { kind: 'stall', reason: Reason.ServiceAccountRequired, message: identity.message };
  if (spec.repo.startsWith('http://') && !input.allowInsecureHttp) {
    return {
      kind: 'stall',
      reason: Reason.InsecureRepository,
      message: `repository ${spec.repo} uses plain HTTP, which this controller refuses (it runs without --allow-insecure-http); use https:// or oci://`,
    };
  }
  if (input.dependenciesNotReady.length > 0) {
    return {
      kind: 'wait',
      reason: Reason.DependencyNotReady,
      message: `waiting for ${input.dependenciesNotReady.join(', ')} to be Ready`,
      requeueAfterMs: DEPENDENCY_RECHECK_MS,
    };
  }
  return undefined;
}

export interface DeletionInput {
  readonly spec: HelmReleaseSpec | undefined;
  readonly releaseExists: boolean;
  /**
   * Who the release records as its owner: `self` this HelmRelease, `other` another one, `none`
   * nobody (installed with the Helm CLI and never adopted).
   */
  readonly owner: 'self' | 'other' | 'none';
  /** Why, when the owner is not `self` (names the other owner). */
  readonly ownerReason?: string;
}

/** What to do for a HelmRelease being deleted (its finalizer still present). */
export function decideDeletion(input: DeletionInput): Extract<Plan, { kind: 'uninstall' | 'release-finalizer' }> {
  if (!input.spec) return { kind: 'release-finalizer', reason: 'the spec is invalid, so the release to uninstall is unknown: it is left installed' };
  if (input.spec.suspend) return { kind: 'release-finalizer', reason: 'the HelmRelease is suspended: the release is left installed' };
  if (input.spec.deletionPolicy === 'Orphan') return { kind: 'release-finalizer', reason: 'deletionPolicy is Orphan: the release is left installed' };
  if (!input.releaseExists) return { kind: 'release-finalizer', reason: 'nothing is installed' };
  if (input.owner !== 'self') {
    return { kind: 'release-finalizer', reason: `the release is not owned by this HelmRelease (${input.ownerReason ?? 'it records no owner'}): it is left installed` };
  }
  return { kind: 'uninstall', reason: 'the HelmRelease was deleted' };
}

/** Failure counters that apply to the desired attempt: reset when the spec or values changed. */
export interface Attempts {
  readonly install: number;
  readonly upgrade: number;
  /** True when the last attempt was made for exactly this generation, chart, values and config. */
  readonly sameAttempt: boolean;
}

export function attemptsFor(status: HelmReleaseStatus | undefined, generation: number, desired: Desired): Attempts {
  const same =
    status?.lastAttemptedGeneration === generation &&
    status.lastAttemptedChartVersion === desired.chartVersion &&
    status.lastAttemptedValuesDigest === desired.valuesDigest &&
    (status.lastAttemptedConfigDigest ?? '') === desired.configDigest;
  return same
    ? { install: status?.installFailures ?? 0, upgrade: status?.upgradeFailures ?? 0, sameAttempt: true }
    : { install: 0, upgrade: 0, sameAttempt: false };
}

export interface DecideInput {
  readonly spec: HelmReleaseSpec;
  readonly state: ReleaseState;
  readonly history: readonly ReleaseRevision[];
  readonly attempts: Attempts;
  /** Objects found drifted, when drift was checked (state InSync, detection not disabled). */
  readonly driftedObjects?: number;
  /** Releases installed under an earlier name or namespace, still to uninstall. */
  readonly previousReleases?: readonly PreviousRelease[];
}

/** The one action (or none) that moves the release towards the spec. */
export function decide(input: DecideInput): Plan {
  const { spec, state, attempts } = input;
  const retries = spec.remediation.retries;
  switch (state.kind) {
    case 'Absent':
      if (attempts.install > retries) return exhausted('install', attempts.install, retries);
      return { kind: 'install', reason: state.reason };
    case 'OwnedByOther':
      return { kind: 'stall', reason: Reason.ReleaseOwnedByOther, message: `${state.reason}: this HelmRelease does not act on it; choose another releaseName or targetNamespace` };
    case 'Locked':
      if (state.stale) return { kind: 'unlock', revision: state.revision, reason: state.reason };
      return { kind: 'wait', reason: Reason.ReleaseLocked, message: state.reason, requeueAfterMs: LOCK_RECHECK_MS };
    case 'OutOfSync':
      if (attempts.upgrade > retries) return exhausted('upgrade', attempts.upgrade, retries);
      return { kind: 'upgrade', reason: state.reason };
    case 'Failed':
    case 'TestFailed':
      return decideFailed(input, state.revision, state.reason);
    case 'Untested':
      return { kind: 'test', reason: state.reason };
    case 'InSync': {
      const plan = decideInSync(spec, input.driftedObjects ?? 0, state.reason);
      const [previous] = input.previousReleases ?? [];
      if (plan.kind === 'ready' && previous) {
        return { kind: 'uninstall-previous', previous, reason: `release ${previous.namespace}/${previous.name} was installed under an earlier releaseName or targetNamespace` };
      }
      return plan;
    }
  }
}

function decideFailed(input: DecideInput, revision: number, reason: string): Plan {
  const { spec, attempts } = input;
  const previous = previousDeployed(input.history, revision);
  if (!attempts.sameAttempt) {
    // The spec or values changed since the failure: try the new desired state directly. A
    // release that never deployed cannot be upgraded, so it is removed and installed again.
    // The uninstall is the first step of the new attempt and counts as one: if it keeps failing
    // (a delete hook), the attempt runs out of retries instead of being tried for ever.
    if (previous === undefined) return { kind: 'uninstall-remediation', reason: `${reason}, and nothing was ever deployed`, counter: 'install' };
    return { kind: 'upgrade', reason: `${reason}; the spec changed since` };
  }
  const failures = previous === undefined ? attempts.install : attempts.upgrade;
  if (failures > spec.remediation.retries) {
    // The state's reason first ("the tests of revision 1 failed", "revision 4 is failed"): the
    // count alone would say "install failed" of an install whose tests failed.
    return exhausted(previous === undefined ? 'install' : 'upgrade', failures, spec.remediation.retries, reason);
  }
  const counter = previous === undefined ? 'install' : 'upgrade';
  if (spec.remediation.strategy === 'uninstall' || previous === undefined) {
    return { kind: 'uninstall-remediation', reason, counter };
  }
  return { kind: 'rollback', toRevision: previous, reason, counter };
}

function decideInSync(spec: HelmReleaseSpec, drifted: number, reason: string): Plan {
  if (drifted > 0 && spec.driftDetection.mode === 'enabled') {
    return { kind: 'correct-drift', reason: `${drifted} object(s) differ from the release manifest` };
  }
  return { kind: 'ready', message: reason, drifted: spec.driftDetection.mode === 'warn' ? drifted : 0 };
}

function exhausted(what: 'install' | 'upgrade', failures: number, retries: number, cause?: string): Plan {
  const count = `${what} failed ${failures} time(s) and remediation.retries is ${retries}: not retrying until the spec or its values change`;
  return { kind: 'stall', reason: Reason.RetriesExhausted, message: cause ? `${cause}; ${count}` : count };
}

/** Whether to ask the runner for drift before deciding. */
export function shouldCheckDrift(spec: HelmReleaseSpec, state: ReleaseState): boolean {
  return state.kind === 'InSync' && spec.driftDetection.mode !== 'disabled';
}
