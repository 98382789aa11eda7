// What every action executor receives and returns. An executor performs exactly one runner call
// and reports the result as data; it never decides whether the action is wanted (decide.ts does)
// and never writes the HelmRelease (the reconciler does, once, afterwards).
import type { HelmReleaseSpec, PreviousRelease } from '../../api/helm-release.js';
import type { CallOpts, ChartRefInput, ReleaseRefInput, ReleaseState, RunnerClient } from '../../runner/client.js';
import { durationMs } from '../../api/helm-release.js';
import type { Reason } from '../conditions.js';
import type { Values } from '../values.js';

export type ActionName = 'install' | 'upgrade' | 'test' | 'unlock' | 'rollback' | 'uninstall' | 'correct-drift' | 'uninstall-previous';

export interface ActionContext {
  readonly runner: RunnerClient;
  readonly spec: HelmReleaseSpec;
  readonly release: ReleaseRefInput;
  readonly chart: ChartRefInput;
  readonly values: Values;
  readonly configDigest: string;
  readonly signal: AbortSignal;
  /** The reconcile's ID, sent with every runner call it makes (its log lines carry it too). */
  readonly reconcileId: string;
}

/** Options of a runner call made for `ctx`: its deadline, the reconcile's signal and ID. */
export function callOpts(ctx: Pick<ActionContext, 'signal' | 'reconcileId'>, deadlineMs: number): CallOpts {
  return { deadlineMs, signal: ctx.signal, reconcileId: ctx.reconcileId };
}

export interface ActionResult {
  readonly action: ActionName;
  /** True when the operation did what was asked. */
  readonly succeeded: boolean;
  /** Condition reason, also the event reason. */
  readonly reason: Reason;
  /** For the condition and the event; never contains values. */
  readonly message: string;
  /** The release after the operation, when the runner reported it. */
  readonly state?: ReleaseState;
  /** A failed install or upgrade was rolled back or uninstalled in the same operation. */
  readonly remediated?: boolean;
  /** Which failure counter a failure adds to. */
  readonly counter?: 'install' | 'upgrade';
  /** The operation wrote a release revision (its chart version, values and config are recorded). */
  readonly attempted?: boolean;
  readonly testResult?: 'Succeeded' | 'Failed';
  /** uninstall-previous: the entry of status.previousReleases that was handled (dropped on success). */
  readonly previous?: PreviousRelease;
}

/** Margin over the operation's own timeout before the gRPC deadline cuts the call. */
const DEADLINE_MARGIN_MS = 30_000;

/**
 * The gRPC deadline of an operation: its timeout, twice when an atomic rollback may follow a
 * timed-out attempt (the rollback gets a fresh wait, ADR 0002), plus a margin so the runner,
 * not the transport, reports a timeout.
 */
export function deadlineFor(spec: HelmReleaseSpec, mayRollBack: boolean): number {
  const timeout = durationMs(spec.timeout);
  return (mayRollBack ? 2 * timeout : timeout) + DEADLINE_MARGIN_MS;
}

/** protobuf Duration of the spec's timeout. */
export function timeoutOf(spec: HelmReleaseSpec): { seconds: number; nanos: number } {
  const ms = durationMs(spec.timeout);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}
