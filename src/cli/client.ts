// The CLI's only door to the HelmReleaseService: the one CLI module that imports the generated
// client. Every unary call has a deadline; every failure is an ApiError. Nothing is retried
// here: only `watch` resumes a broken stream (watch.ts), since it is a read.
import { type CallOptions, type ClientUnaryCall, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  ApplyRequest,
  type ApplyResponse,
  type DeepPartial,
  DeleteRequest,
  type DeleteResponse,
  DiffRequest,
  type DiffResponse,
  GetRequest,
  type GetResponse,
  HelmReleaseServiceClient,
  HistoryRequest,
  type HistoryResponse,
  ListRequest,
  type ListResponse,
  ReconcileRequest,
  type ReconcileResponse,
  ResumeRequest,
  type ResumeResponse,
  SuspendRequest,
  type SuspendResponse,
  WatchRequest,
  type WatchResponse,
} from '../gen/planton/helm/v1/helm_release_service.js';
import type { Connection } from './connection.js';
import { ApiError } from './errors.js';

export type {
  ApplyResponse,
  DeleteResponse,
  DiffResponse,
  FieldDiff,
  GetResponse,
  HelmRelease,
  HistoryResponse,
  ListResponse,
  ObjectDiff,
  ReconcileResponse,
  ResumeResponse,
  SuspendResponse,
  WatchResponse,
} from '../gen/planton/helm/v1/helm_release_service.js';
export { ChangeType, WatchEventType } from '../gen/planton/helm/v1/helm_release_service.js';

/**
 * The HelmReleaseService as the commands use it. Unary calls reject with ApiError; `watch`
 * yields events until the server ends the stream (then it returns) or the stream fails (then
 * it throws ApiError), or `signal` aborts it (then it returns).
 */
export interface HelmReleaseApi {
  apply(req: DeepPartial<ApplyRequest>): Promise<ApplyResponse>;
  get(req: DeepPartial<GetRequest>): Promise<GetResponse>;
  list(req: DeepPartial<ListRequest>): Promise<ListResponse>;
  delete(req: DeepPartial<DeleteRequest>): Promise<DeleteResponse>;
  diff(req: DeepPartial<DiffRequest>): Promise<DiffResponse>;
  history(req: DeepPartial<HistoryRequest>): Promise<HistoryResponse>;
  reconcile(req: DeepPartial<ReconcileRequest>): Promise<ReconcileResponse>;
  suspend(req: DeepPartial<SuspendRequest>): Promise<SuspendResponse>;
  resume(req: DeepPartial<ResumeRequest>): Promise<ResumeResponse>;
  watch(req: DeepPartial<WatchRequest>, signal: AbortSignal): AsyncIterable<WatchResponse>;
  close(): void;
}

type Unary<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (e: ServiceError | null, r: Res) => void) => ClientUnaryCall;

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A HelmReleaseApi over TLS with the connection's bearer token on every call. */
export class GrpcHelmReleaseApi implements HelmReleaseApi {
  readonly #client: HelmReleaseServiceClient;
  readonly #deadlineMs: number;

  constructor(conn: Connection, deadlineMs: number) {
    const bearer = credentials.createFromMetadataGenerator((_params, cb) => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${conn.token}`);
      cb(null, md);
    });
    const tls = credentials.createSsl(conn.ca ?? null);
    this.#client = new HelmReleaseServiceClient(conn.address, credentials.combineChannelCredentials(tls, bearer), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      ...(conn.tlsServerName ? { 'grpc.ssl_target_name_override': conn.tlsServerName, 'grpc.default_authority': conn.tlsServerName } : {}),
    });
    this.#deadlineMs = deadlineMs;
  }

  apply(r: DeepPartial<ApplyRequest>): Promise<ApplyResponse> {
    return this.#call((q, m, o, cb) => this.#client.apply(q, m, o, cb), ApplyRequest.fromPartial(r));
  }
  get(r: DeepPartial<GetRequest>): Promise<GetResponse> {
    return this.#call((q, m, o, cb) => this.#client.get(q, m, o, cb), GetRequest.fromPartial(r));
  }
  list(r: DeepPartial<ListRequest>): Promise<ListResponse> {
    return this.#call((q, m, o, cb) => this.#client.list(q, m, o, cb), ListRequest.fromPartial(r));
  }
  delete(r: DeepPartial<DeleteRequest>): Promise<DeleteResponse> {
    return this.#call((q, m, o, cb) => this.#client.delete(q, m, o, cb), DeleteRequest.fromPartial(r));
  }
  diff(r: DeepPartial<DiffRequest>): Promise<DiffResponse> {
    return this.#call((q, m, o, cb) => this.#client.diff(q, m, o, cb), DiffRequest.fromPartial(r));
  }
  history(r: DeepPartial<HistoryRequest>): Promise<HistoryResponse> {
    return this.#call((q, m, o, cb) => this.#client.history(q, m, o, cb), HistoryRequest.fromPartial(r));
  }
  reconcile(r: DeepPartial<ReconcileRequest>): Promise<ReconcileResponse> {
    return this.#call((q, m, o, cb) => this.#client.reconcile(q, m, o, cb), ReconcileRequest.fromPartial(r));
  }
  suspend(r: DeepPartial<SuspendRequest>): Promise<SuspendResponse> {
    return this.#call((q, m, o, cb) => this.#client.suspend(q, m, o, cb), SuspendRequest.fromPartial(r));
  }
  resume(r: DeepPartial<ResumeRequest>): Promise<ResumeResponse> {
    return this.#call((q, m, o, cb) => this.#client.resume(q, m, o, cb), ResumeRequest.fromPartial(r));
  }

  async *watch(r: DeepPartial<WatchRequest>, signal: AbortSignal): AsyncIterable<WatchResponse> {
    if (signal.aborted) return;
    const call = this.#client.watch(WatchRequest.fromPartial(r), new Metadata());
    const onAbort = () => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const event of call) yield event as WatchResponse;
    } catch (err) {
      // A cancel we asked for ends the stream with CANCELLED: that is the caller's normal end.
      if (signal.aborted) return;
      throw ApiError.from(err);
    } finally {
      signal.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  close(): void {
    this.#client.close();
  }

  #call<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise<Res>((ok, fail) => {
      fn(req, new Metadata(), { deadline: Date.now() + this.#deadlineMs }, (err, res) => (err ? fail(ApiError.from(err)) : ok(res)));
    });
  }
}
