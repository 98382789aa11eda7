// The failures of planton-helm, each with the exit code it ends the process with. main.ts prints
// an error's message as one line on stderr; nothing else in the CLI writes errors.
import { status as GrpcStatus } from '@grpc/grpc-js';

/** Exit codes. `diff` uses CHANGES for "there are changes" and USAGE for every failure. */
export const ExitCode = {
  OK: 0,
  /** A command failed (the API refused or could not be reached, a file could not be read). */
  FAILURE: 1,
  /** `diff` only: the preview found changes. */
  CHANGES: 1,
  /** The command line was wrong; also every failure of `diff`, so that 1 means only "changes". */
  USAGE: 2,
} as const;

/** Thrown when the command line is wrong: unknown flag, missing argument, bad flag value. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose usage was wrong, for the hint to run `--help`; undefined for global. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/**
 * Thrown when a manifest file cannot be read or does not describe a HelmRelease. The message
 * names the file, the document and the field.
 */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/**
 * Thrown when the connection cannot be set up: no server address, no token, an unreadable CA
 * file or kubeconfig. Nothing was sent.
 */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

const codeNames = new Map<number, string>(Object.entries(GrpcStatus).map(([k, v]) => [v as number, k]));

/** The name of a gRPC status code, such as `NOT_FOUND`. */
export function grpcCodeName(code: number): string {
  return codeNames.get(code) ?? `CODE_${code}`;
}

/**
 * Thrown when a call to the API ends with a gRPC error status. The message is the code's name
 * and the server's message, for example `NOT_FOUND: helmreleases "web" not found`.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** gRPC status code. */
  readonly code: number;
  /** The server's message, without the code. */
  readonly details: string;

  constructor(code: number, details: string, options?: { cause?: unknown }) {
    super(`${grpcCodeName(code)}: ${details}`, options);
    this.code = code;
    this.details = details;
  }

  /** Normalises what a grpc-js call failed with (a ServiceError or anything else) into an ApiError. */
  static from(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    const code = typeof e.code === 'number' ? e.code : GrpcStatus.UNKNOWN;
    const details = typeof e.details === 'string' && e.details !== '' ? e.details : typeof e.message === 'string' ? e.message : String(err);
    return new ApiError(code, details, { cause: err });
  }
}

/** One line for stderr: the message without line breaks (a server message may contain some). */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `error: ${message.replace(/\s*\n\s*/g, '; ')}`;
}
