// determineReleaseState: what the Helm release is, compared with what the HelmRelease asks for.
// A closed set of states, each with a reason a person can read; decide() switches on it.
import type { HelmReleaseSpec } from '../api/helm-release.js';
import { type ReleaseRevision, type ReleaseState as RunnerReleaseState, ReleaseStatus } from '../runner/client.js';

/** What the release should be: computed from the spec and the resolved values. */
export interface Desired {
  readonly chartVersion: string;
  readonly valuesDigest: string;
  readonly configDigest: string;
}

export type ReleaseState =
  /** No release, or only an uninstalled record. */
  | { readonly kind: 'Absent'; readonly reason: string }
  /** The release records another HelmRelease as its owner: this one must not touch it. */
  | { readonly kind: 'OwnedByOther'; readonly reason: string }
  /** The latest revision is pending-* or uninstalling: an operation holds it. */
  | { readonly kind: 'Locked'; readonly reason: string; readonly revision: number; readonly stale: boolean }
  /** The latest revision failed. */
  | { readonly kind: 'Failed'; readonly reason: string; readonly revision: number }
  /**
   * Deployed, but at another chart version, other values or another configuration; or deployed
   * with no owner recorded (installed with the Helm CLI): `adopt`, the upgrade records this
   * HelmRelease as its owner.
   */
  | { readonly kind: 'OutOfSync'; readonly reason: string; readonly adopt?: boolean }
  /** Deployed and in sync; tests are enabled and have not run on this revision. */
  | { readonly kind: 'Untested'; readonly reason: string }
  /** Deployed and in sync; the tests ran on this revision and failed. */
  | { readonly kind: 'TestFailed'; readonly reason: string; readonly revision: number }
  /** Deployed, in sync, tested when required. */
  | { readonly kind: 'InSync'; readonly reason: string };

const PENDING: ReadonlySet<number> = new Set([
  ReleaseStatus.PENDING_INSTALL,
  ReleaseStatus.PENDING_UPGRADE,
  ReleaseStatus.PENDING_ROLLBACK,
]);

/** Helm's own spelling of a release status (`pending-upgrade`). */
export function helmStatus(s: ReleaseStatus): string {
  const names: Record<number, string> = {
    [ReleaseStatus.UNKNOWN]: 'unknown',
    [ReleaseStatus.DEPLOYED]: 'deployed',
    [ReleaseStatus.UNINSTALLED]: 'uninstalled',
    [ReleaseStatus.SUPERSEDED]: 'superseded',
    [ReleaseStatus.FAILED]: 'failed',
    [ReleaseStatus.UNINSTALLING]: 'uninstalling',
    [ReleaseStatus.PENDING_INSTALL]: 'pending-install',
    [ReleaseStatus.PENDING_UPGRADE]: 'pending-upgrade',
    [ReleaseStatus.PENDING_ROLLBACK]: 'pending-rollback',
  };
  return names[s] ?? 'unknown';
}

/** The HelmRelease a release may belong to. */
export interface Owner {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** `namespace/name (uid …)` of an owner recorded on a release, for messages. */
export function describeOwner(o: { readonly namespace: string; readonly name: string; readonly uid: string }): string {
  return `${o.namespace}/${o.name || '?'} (uid ${o.uid})`;
}

export function determineReleaseState(
  spec: HelmReleaseSpec,
  desired: Desired,
  release: RunnerReleaseState | undefined,
  self: Owner,
): ReleaseState {
  if (!release?.exists || release.status === ReleaseStatus.UNINSTALLED) {
    return { kind: 'Absent', reason: 'the release is not installed' };
  }
  if (release.owner && release.owner.uid !== self.uid) {
    return { kind: 'OwnedByOther', reason: `the release is owned by HelmRelease ${describeOwner(release.owner)}` };
  }
  const status = helmStatus(release.status);
  if (PENDING.has(release.status)) {
    const stale = !release.operationInProgress;
    return {
      kind: 'Locked',
      revision: release.revision,
      stale,
      reason: stale
        ? `revision ${release.revision} is ${status}, left by an operation that did not finish`
        : `revision ${release.revision} is ${status}: an operation is in progress`,
    };
  }
  if (release.status === ReleaseStatus.UNINSTALLING) {
    // Helm records `uninstalling` before the delete hooks and keeps it when they fail: not a lock
    // that Unlock can clear, but an uninstall to finish (remediated like a failure).
    if (release.operationInProgress) {
      return { kind: 'Locked', revision: release.revision, stale: false, reason: `revision ${release.revision} is uninstalling: an operation is in progress` };
    }
    return { kind: 'Failed', revision: release.revision, reason: `revision ${release.revision} is uninstalling, left by an uninstall that did not finish` };
  }
  if (release.status !== ReleaseStatus.DEPLOYED) {
    return { kind: 'Failed', revision: release.revision, reason: `revision ${release.revision} is ${status}` };
  }
  if (!release.owner) {
    return { kind: 'OutOfSync', adopt: true, reason: `revision ${release.revision} records no owner (installed without this controller): adopting it` };
  }
  if (release.chartVersion !== desired.chartVersion) {
    return { kind: 'OutOfSync', reason: `chart version ${release.chartVersion} differs from ${desired.chartVersion}` };
  }
  if (release.valuesDigest !== desired.valuesDigest) {
    return { kind: 'OutOfSync', reason: 'the values changed' };
  }
  if (release.configDigest !== desired.configDigest) {
    return { kind: 'OutOfSync', reason: 'the release configuration (repository) changed' };
  }
  const tests = release.tests;
  if (spec.test.enable && tests?.hasTests) {
    if (!tests.ran) return { kind: 'Untested', reason: `revision ${release.revision} has not been tested` };
    if (!tests.succeeded && !spec.test.ignoreFailures) {
      return { kind: 'TestFailed', revision: release.revision, reason: `the tests of revision ${release.revision} failed` };
    }
  }
  return { kind: 'InSync', reason: `revision ${release.revision} is deployed at chart version ${release.chartVersion}` };
}

/**
 * The newest revision before `revision` that was successfully deployed: the rollback target.
 * Helm marks the revision a rollback replaces `superseded` even when it had failed, so a
 * superseded revision whose description records a failure ("Upgrade \"x\" failed: ...") is
 * not a target.
 */
export function previousDeployed(history: readonly ReleaseRevision[], revision: number): number | undefined {
  const ok = history
    .filter((h) => h.revision < revision && (h.status === ReleaseStatus.SUPERSEDED || h.status === ReleaseStatus.DEPLOYED))
    .filter((h) => !/\bfail/i.test(h.description))
    .map((h) => h.revision);
  return ok.length > 0 ? Math.max(...ok) : undefined;
}
