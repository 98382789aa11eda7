// The TypeScript client of the Planton HelmRelease controller's gRPC API
// (planton.helm.v1.HelmReleaseService): the generated messages and service client, and
// createClient, which connects over TLS and sends a Kubernetes ServiceAccount token as
// `authorization: Bearer <token>` on every call.
import {
  type CallOptions,
  type ChannelOptions,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { Condition } from '#gen/planton/helm/v1/helm_release.js';
import {
  GetRequest,
  type HelmRelease,
  HelmReleaseServiceClient,
  WatchEventType,
  WatchRequest,
  type WatchResponse,
} from '#gen/planton/helm/v1/helm_release_service.js';

export * from '#gen/planton/helm/v1/helm_release.js';
export * from '#gen/planton/helm/v1/helm_release_service.js';
// Both generated modules declare these; the service's are the package's.
export {
  type DeepPartial,
  type Exact,
  type MessageFns,
  protobufFileName,
  protobufPackage,
} from '#gen/planton/helm/v1/helm_release_service.js';
export type { Duration } from '#gen/google/protobuf/duration.js';
export { status, type ServiceError } from '@grpc/grpc-js';

/** Where the API is and how to authenticate to it. */
export interface ClientConfig {
  /** `host:port` of the API. */
  address: string;
  /** PEM CA certificates that signed the server's certificate. Absent: Node's default roots. */
  ca?: string | Buffer;
  /**
   * The ServiceAccount token, or a function that returns the current one (called before every
   * call: for a projected token that the kubelet rotates, read the file there).
   */
  token: string | (() => string | Promise<string>);
  /** grpc-js channel options, for example `grpc.max_receive_message_length`. */
  channelOptions?: ChannelOptions;
}

/** createClient was given no token: the API refuses every call without one. */
export class NoTokenError extends Error {
  constructor() {
    super('no token');
    this.name = 'NoTokenError';
  }
}

/**
 * A client of the API at `config.address`, over TLS, with the token on every call. The
 * connection is made on the first call, and again after it breaks; `close()` it when done.
 */
export function createClient(config: ClientConfig): HelmReleaseServiceClient {
  const { token } = config;
  if (token === '') throw new NoTokenError();
  const bearer = credentials.createFromMetadataGenerator((_params, callback) => {
    Promise.resolve(typeof token === 'function' ? token() : token).then(
      (value) => {
        if (value === '') {
          callback(new NoTokenError());
          return;
        }
        const metadata = new Metadata();
        metadata.set('authorization', `Bearer ${value}`);
        callback(null, metadata);
      },
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  });
  const ca = config.ca === undefined ? null : Buffer.from(config.ca);
  return new HelmReleaseServiceClient(
    config.address,
    credentials.combineChannelCredentials(credentials.createSsl(ca), bearer),
    config.channelOptions,
  );
}

/** The unary methods of the service. */
export type UnaryMethod = 'apply' | 'get' | 'list' | 'delete' | 'diff' | 'history' | 'reconcile' | 'suspend' | 'resume';

// The last overload of each generated method is (request, metadata, options, callback).
type Signature<M extends UnaryMethod> = Parameters<HelmReleaseServiceClient[M]>;
/** The request message of a unary method. */
export type RequestOf<M extends UnaryMethod> = Signature<M>[0];
/** The response message of a unary method. */
export type ResponseOf<M extends UnaryMethod> =
  Signature<M>[3] extends (error: ServiceError | null, response: infer R) => void ? R : never;

/**
 * Calls a unary method and resolves with its response, or rejects with the call's
 * ServiceError (`code` is a `status`, for example `status.NOT_FOUND`).
 */
export function call<M extends UnaryMethod>(
  client: HelmReleaseServiceClient,
  method: M,
  request: RequestOf<M>,
  options: Partial<CallOptions> = {},
): Promise<ResponseOf<M>> {
  const invoke = client[method] as unknown as (
    request: RequestOf<M>,
    metadata: Metadata,
    options: Partial<CallOptions>,
    callback: (error: ServiceError | null, response: ResponseOf<M>) => void,
  ) => unknown;
  return new Promise((resolve, reject) => {
    invoke.call(client, request, new Metadata(), options, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

/** The HelmRelease's condition of the given type, if any. */
export function condition(hr: HelmRelease, type: string): Condition | undefined {
  return hr.status?.conditions.find((c) => c.type === type);
}

/**
 * Whether the controller has acted on the HelmRelease's current spec and the release is
 * installed and healthy: the Ready condition is True and the status describes its generation.
 */
export function isReady(hr: HelmRelease): boolean {
  return isCurrent(hr, 'Ready');
}

function isCurrent(hr: HelmRelease, type: string): boolean {
  return condition(hr, type)?.status === 'True' && hr.status?.observedGeneration === hr.generation;
}

/** The HelmRelease is Stalled for its current generation: it needs a change to make progress. */
export class StalledError extends Error {
  readonly helmRelease: HelmRelease;
  constructor(hr: HelmRelease) {
    const stalled = condition(hr, 'Stalled');
    super(`${hr.namespace}/${hr.name}: stalled: ${stalled?.reason ?? ''}: ${stalled?.message ?? ''}`);
    this.name = 'StalledError';
    this.helmRelease = hr;
  }
}

/** The HelmRelease was deleted while waitReady waited for it. */
export class DeletedError extends Error {
  readonly helmRelease: HelmRelease;
  constructor(hr: HelmRelease) {
    super(`${hr.namespace}/${hr.name}: deleted`);
    this.name = 'DeletedError';
    this.helmRelease = hr;
  }
}

/**
 * Resolves with the HelmRelease `namespace/name` once it is Ready, watching it from its current
 * state. Rejects with the Get's ServiceError (`status.NOT_FOUND` when it does not exist), a
 * StalledError, a DeletedError, or the signal's reason. It watches with `watch`, so a
 * controller restart loses no change; an expired version (`status.OUT_OF_RANGE`) starts again
 * from a Get.
 */
export async function waitReady(
  client: HelmReleaseServiceClient,
  namespace: string,
  name: string,
  options: { signal?: AbortSignal } = {},
): Promise<HelmRelease> {
  for (;;) {
    options.signal?.throwIfAborted();
    const { helmRelease } = await call(client, 'get', GetRequest.fromPartial({ namespace, name }));
    if (helmRelease === undefined) throw new Error(`get ${namespace}/${name}: no HelmRelease in the response`);
    if (settled(helmRelease)) return helmRelease;
    let latest = helmRelease;
    const request = WatchRequest.fromPartial({ namespace, name, resourceVersion: helmRelease.resourceVersion });
    try {
      await watch(client, request, (event) => {
        if (event.helmRelease === undefined) return false;
        latest = event.helmRelease;
        if (event.type === WatchEventType.DELETED) throw new DeletedError(latest);
        return settled(latest);
      }, options);
      return latest;
    } catch (e) {
      if ((e as Partial<ServiceError>).code === status.OUT_OF_RANGE && !options.signal?.aborted) continue;
      throw e;
    }
  }
}

/** True when waiting is over with hr; throws when it is over with an error. */
function settled(hr: HelmRelease): boolean {
  if (isReady(hr)) return true;
  if (isCurrent(hr, 'Stalled')) throw new StalledError(hr);
  return false;
}

/**
 * Calls `onEvent` with each change that `request` selects, in order, until it returns true
 * (watch resolves) or throws (watch rejects with that), or the signal aborts. When the stream
 * ends (the controller restarts, or the connection breaks), it watches again from the last
 * resource version received, so `onEvent` sees every change once. Rejects with the stream's
 * ServiceError for any other failure: `status.OUT_OF_RANGE` when the version is too old (list
 * or get again, then watch from there), `status.PERMISSION_DENIED`, and so on.
 */
export async function watch(
  client: HelmReleaseServiceClient,
  request: WatchRequest,
  onEvent: (event: WatchResponse) => boolean,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const { signal } = options;
  const next = { ...request };
  let delay = 100;
  for (;;) {
    signal?.throwIfAborted();
    const outcome = await watchOnce(client, next, onEvent, signal);
    if (outcome.finished) return;
    if (outcome.ended !== undefined && outcome.ended.code !== status.UNAVAILABLE) throw outcome.ended;
    if (outcome.received) delay = 100;
    await pause(delay, signal);
    delay = Math.min(2 * delay, 5000);
  }
}

type Outcome = { finished: true } | { finished: false; received: boolean; ended: ServiceError | undefined };

/** One Watch stream; advances request.resourceVersion with each event. */
function watchOnce(
  client: HelmReleaseServiceClient,
  request: WatchRequest,
  onEvent: (event: WatchResponse) => boolean,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const stream = client.watch(request);
    let received = false;
    let done = false;
    const finish = (then: () => void): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      stream.cancel();
      then();
    };
    const onAbort = (): void => finish(() => reject(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (event: WatchResponse) => {
      if (done) return;
      received = true;
      if (event.helmRelease !== undefined) request.resourceVersion = event.helmRelease.resourceVersion;
      try {
        if (onEvent(event)) finish(() => resolve({ finished: true }));
      } catch (e) {
        finish(() => reject(e));
      }
    });
    stream.on('error', (e: ServiceError) => finish(() => resolve({ finished: false, received, ended: e })));
    stream.on('end', () => finish(() => resolve({ finished: false, received, ended: undefined })));
  });
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
