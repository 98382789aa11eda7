// Typed errors for calls to helm-runner. A gRPC error status from the runner means nothing was
// written (see proto/planton/helmrunner/v1/runner.proto); its ErrorInfo reason says why.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { errorInfoOf } from './error-info.js';

/** Reasons the runner sends in ErrorInfo (ErrorReason names without the prefix). */
export type RunnerReason =
  | 'CHART_NOT_FOUND'
  | 'VERSION_NOT_FOUND'
  | 'REPOSITORY_UNREACHABLE'
  | 'AUTH_FAILED'
  | 'INVALID_VALUES'
  | 'SCHEMA_VALIDATION_FAILED'
  | 'RELEASE_LOCKED'
  | 'RELEASE_NOT_FOUND'
  | 'RELEASE_EXISTS'
  | 'REVISION_NOT_FOUND'
  | 'TIMEOUT'
  | 'INVALID_ARGUMENT'
  | 'INVALID_VERSION'
  | 'INSECURE_REPOSITORY'
  | 'CHART_TOO_LARGE'
  | 'INVALID_CHART'
  | 'RENDER_FAILED'
  | 'KUBERNETES_API_ERROR'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'HOOK_FAILED'
  | 'TEST_FAILED'
  | 'RELEASE_TOO_LARGE'
  | 'CANCELLED'
  | 'INTERNAL'
  | 'PRECONDITION_FAILED'
  | 'RELEASE_OWNED_BY_OTHER'
  | 'RENDER_LIMIT_EXCEEDED';

/**
 * Thrown by RunnerClient when a call ends with a gRPC error status. Nothing was written to the
 * release. `reason` is the runner's ErrorInfo reason, or undefined when the runner could not be
 * reached at all (then `unavailable` is true).
 */
export class RunnerError extends Error {
  override readonly name = 'RunnerError';
  /** gRPC status code. */
  readonly code: number;
  /** The runner's machine-readable reason; undefined when the status carried none. */
  readonly reason: RunnerReason | undefined;
  /** True when the runner itself could not be reached (no ErrorInfo, UNAVAILABLE or deadline). */
  readonly unavailable: boolean;

  constructor(message: string, code: number, reason: RunnerReason | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.reason = reason;
    this.unavailable =
      reason === undefined &&
      (code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED || code === GrpcStatus.CANCELLED);
  }

  /** Normalises anything a grpc-js call rejected with into a RunnerError. */
  static from(err: unknown): RunnerError {
    if (err instanceof RunnerError) return err;
    const e = err as { code?: unknown; details?: unknown; message?: unknown } | null;
    const code = typeof e?.code === 'number' ? e.code : GrpcStatus.UNKNOWN;
    const info = errorInfoOf(err);
    const details = typeof e?.details === 'string' && e.details !== '' ? e.details : String(e?.message ?? err);
    return new RunnerError(details, code, info?.reason as RunnerReason | undefined, { cause: err });
  }
}
