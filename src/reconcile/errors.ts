// The one mapping from an error met during a reconcile to what the HelmRelease shows (condition
// reason, stalled or not) and when the reconcile runs again.
import { RunnerError, type RunnerReason } from '../runner/errors.js';
import { Reason } from './conditions.js';
import { InvalidValuesError, ValuesSourceNotFoundError } from './values.js';

/** A referenced Secret (repository credentials or CA) is missing or lacks its key. */
export class AuthSecretError extends Error {
  override readonly name = 'AuthSecretError';
}

export interface ErrorVerdict {
  readonly reason: Reason;
  readonly message: string;
  /** True when nothing changes until the spec or the cluster does (condition Stalled). */
  readonly stalled: boolean;
  /**
   * When to look again: `backoff` (exponential, per key), `recheck` (soon, fixed: the runner
   * is down) or `interval` (the spec's interval: something outside may change, e.g. a chart
   * version being published).
   */
  readonly retry: 'backoff' | 'recheck' | 'interval';
}

/** How often a release is looked at again while the runner cannot be reached. */
export const RUNNER_RECHECK_MS = 5_000;

const STALLING: Partial<Record<RunnerReason, Reason>> = {
  CHART_NOT_FOUND: Reason.ChartNotFound,
  VERSION_NOT_FOUND: Reason.VersionNotFound,
  AUTH_FAILED: Reason.AuthFailed,
  INSECURE_REPOSITORY: Reason.InsecureRepository,
  CHART_TOO_LARGE: Reason.InvalidChart,
  INVALID_CHART: Reason.InvalidChart,
  RENDER_FAILED: Reason.RenderFailed,
  RENDER_LIMIT_EXCEEDED: Reason.RenderLimitExceeded,
  RELEASE_OWNED_BY_OTHER: Reason.ReleaseOwnedByOther,
  SCHEMA_VALIDATION_FAILED: Reason.SchemaValidationFailed,
  INVALID_VALUES: Reason.InvalidValues,
  INVALID_VERSION: Reason.InvalidSpec,
  INVALID_ARGUMENT: Reason.InvalidSpec,
  FORBIDDEN: Reason.Forbidden,
  RELEASE_TOO_LARGE: Reason.InvalidChart,
};

const TRANSIENT: Partial<Record<RunnerReason, Reason>> = {
  REPOSITORY_UNREACHABLE: Reason.RepositoryUnreachable,
  TIMEOUT: Reason.Timeout,
  KUBERNETES_API_ERROR: Reason.KubernetesApiError,
  RELEASE_LOCKED: Reason.ReleaseLocked,
  CONFLICT: Reason.KubernetesApiError,
};

export function classifyError(err: unknown): ErrorVerdict {
  if (err instanceof ValuesSourceNotFoundError) {
    // Not stalled: the object may be created (External Secrets, Sealed Secrets) any moment; its
    // watch wakes the release up.
    return { reason: Reason.ValuesSourceNotFound, message: err.message, stalled: false, retry: 'backoff' };
  }
  if (err instanceof InvalidValuesError) {
    return { reason: Reason.InvalidValues, message: err.message, stalled: true, retry: 'interval' };
  }
  if (err instanceof AuthSecretError) {
    return { reason: Reason.AuthSecretNotFound, message: err.message, stalled: false, retry: 'backoff' };
  }
  if (err instanceof RunnerError) return classifyRunnerError(err);
  const message = err instanceof Error ? err.message : String(err);
  return { reason: Reason.KubernetesApiError, message, stalled: false, retry: 'backoff' };
}

function classifyRunnerError(err: RunnerError): ErrorVerdict {
  if (err.unavailable) {
    return { reason: Reason.RunnerUnavailable, message: `helm-runner is unavailable: ${err.message}`, stalled: false, retry: 'recheck' };
  }
  const reason = err.reason;
  const stalling = reason ? STALLING[reason] : undefined;
  if (stalling) return { reason: stalling, message: err.message, stalled: true, retry: 'interval' };
  const transient = reason ? TRANSIENT[reason] : undefined;
  return { reason: transient ?? Reason.RunnerError, message: err.message, stalled: false, retry: 'backoff' };
}
