// The public API's errors: a gRPC status code and a one-line message, and the mapping from the
// Kubernetes API's answers to the codes the proto promises (NOT_FOUND, INVALID_ARGUMENT,
// ABORTED for a failed precondition or a conflict, UNAVAILABLE when the API server cannot be
// reached). A handler throws ApiError; anything else becomes INTERNAL with a generic message,
// so that no internal detail reaches a caller.
import { status as Code } from '@grpc/grpc-js';
import { KubeRestError } from '../kube/rest.js';
import { RunnerError } from '../runner/errors.js';

export { Code };

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: Code;
  constructor(code: Code, message: string) {
    super(message);
    this.code = code;
  }
}

/** What a failed Kubernetes call means to the caller, as an ApiError. */
export function fromKube(err: unknown, what: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof KubeRestError) {
    const detail = kubeMessage(err.message);
    switch (err.code) {
      case 400:
      case 422:
        return new ApiError(Code.INVALID_ARGUMENT, `${what}: ${detail}`);
      case 401:
        return new ApiError(Code.UNAVAILABLE, `${what}: the controller's own credentials were refused by the Kubernetes API`);
      case 403:
        return new ApiError(Code.PERMISSION_DENIED, `${what}: ${detail}`);
      case 404:
        return new ApiError(Code.NOT_FOUND, `${what}: not found`);
      case 409:
        return new ApiError(Code.ABORTED, `${what}: ${detail}`);
      case 410:
        return new ApiError(Code.OUT_OF_RANGE, `${what}: ${detail}`);
      case 413:
        return new ApiError(Code.RESOURCE_EXHAUSTED, `${what}: ${detail}`);
      case 429:
        return new ApiError(Code.UNAVAILABLE, `${what}: the Kubernetes API is throttling requests; try again`);
      case 504:
        return new ApiError(Code.DEADLINE_EXCEEDED, `${what}: the Kubernetes API timed out`);
      default:
        if (err.code >= 500) return new ApiError(Code.UNAVAILABLE, `${what}: the Kubernetes API answered ${err.code}`);
        return new ApiError(Code.INTERNAL, `${what}: the Kubernetes API answered ${err.code}`);
    }
  }
  if (err instanceof RunnerError) return fromRunner(err, what);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE)$/.test(code)) {
    return new ApiError(Code.UNAVAILABLE, `${what}: the Kubernetes API cannot be reached`);
  }
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return new ApiError(Code.CANCELLED, `${what}: cancelled`);
  return new ApiError(Code.INTERNAL, `${what}: internal error`);
}

/** A helm-runner failure: its code and message (the runner scrubs secrets before it answers). */
export function fromRunner(err: RunnerError, what: string): ApiError {
  const code = err.code === Code.UNAVAILABLE || err.code === Code.DEADLINE_EXCEEDED ? err.code
    : err.code === Code.NOT_FOUND || err.code === Code.INVALID_ARGUMENT || err.code === Code.FAILED_PRECONDITION || err.code === Code.PERMISSION_DENIED ? err.code
    : err.code === Code.RESOURCE_EXHAUSTED ? err.code
    : Code.FAILED_PRECONDITION;
  return new ApiError(code, `${what}: ${err.reason ? `${err.reason}: ` : ''}${err.message}`);
}

// KubeRest messages read "METHOD /path: 404 text" or "list /path: 400 BadRequest: text"; the
// caller needs the text only, not the controller's request.
function kubeMessage(message: string): string {
  const m = /^\S+ \S+: \d{3}(?: [A-Za-z]+:)? (.*)$/s.exec(message);
  return (m?.[1] ?? message).slice(0, 2048);
}
