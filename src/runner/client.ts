// The reconciler's only door to helm-runner: the one module that imports the generated runner
// code. Each call is a promise with a deadline and an AbortSignal; failures are RunnerErrors.
// Mutating calls are never retried here: the reconcile loop is the retry.
import { type CallOptions, type ClientUnaryCall, credentials, Metadata, type ServiceError, status as GrpcStatus } from '@grpc/grpc-js';
import {
  type ChartRef,
  CorrectDriftRequest,
  type CorrectDriftResponse,
  type DeepPartial,
  DetectDriftRequest,
  type DetectDriftResponse,
  DiffRequest,
  type DiffResponse,
  GetReleaseStateRequest,
  type GetReleaseStateResponse,
  HelmRunnerServiceClient,
  InstallRequest,
  type InstallResponse,
  type ReleaseRef,
  RollbackRequest,
  type RollbackResponse,
  TestRequest,
  type TestResponse,
  UninstallRequest,
  type UninstallResponse,
  UnlockRequest,
  type UnlockResponse,
  UpgradeRequest,
  type UpgradeResponse,
} from '../gen/planton/helmrunner/v1/runner.js';
import { RunnerError } from './errors.js';

export type {
  CorrectDriftResponse,
  DetectDriftResponse,
  DiffResponse,
  GetReleaseStateResponse,
  InstallResponse,
  ObjectDiff,
  Outcome,
  ReleaseRevision,
  ReleaseState,
  ReleaseWrite,
  RollbackResponse,
  TestResponse,
  UninstallResponse,
  UnlockResponse,
  UpgradeResponse,
} from '../gen/planton/helmrunner/v1/runner.js';
export { ReleaseStatus } from '../gen/planton/helmrunner/v1/runner.js';

export type InstallInput = DeepPartial<InstallRequest>;
export type UpgradeInput = DeepPartial<UpgradeRequest>;
export type RollbackInput = DeepPartial<RollbackRequest>;
export type UninstallInput = DeepPartial<UninstallRequest>;
export type TestInput = DeepPartial<TestRequest>;
export type UnlockInput = DeepPartial<UnlockRequest>;
export type DetectDriftInput = DeepPartial<DetectDriftRequest>;
export type DiffInput = DeepPartial<DiffRequest>;
export type CorrectDriftInput = DeepPartial<CorrectDriftRequest>;
export type GetReleaseStateInput = DeepPartial<GetReleaseStateRequest>;
export type ReleaseRefInput = DeepPartial<ReleaseRef>;
export type ChartRefInput = DeepPartial<ChartRef>;

/** Per-call options: the deadline is the call's whole budget; the signal cancels it. */
export interface CallOpts {
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
  /** The reconcile this call belongs to, sent as RECONCILE_ID_METADATA so both logs can be joined. */
  readonly reconcileId?: string;
}

/** gRPC metadata key carrying the reconcile ID (16 hex characters) of a call. */
export const RECONCILE_ID_METADATA = 'x-planton-reconcile-id';

/** Observes every call (for the runner latency metric); `code` is the gRPC status name. */
export type CallObserver = (method: string, code: string, seconds: number) => void;

export interface RunnerClientOptions {
  /** `unix:///path/to/runner.sock` or `host:port`. */
  readonly address: string;
  readonly observe?: CallObserver;
}

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (e: ServiceError | null, r: Res) => void,
) => ClientUnaryCall;

const codeName = new Map<number, string>(Object.entries(GrpcStatus).map(([k, v]) => [v as number, k]));

export class RunnerClient {
  readonly #client: HelmRunnerServiceClient;
  readonly #observe: CallObserver | undefined;

  constructor(opts: RunnerClientOptions) {
    this.#client = new HelmRunnerServiceClient(opts.address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
    this.#observe = opts.observe;
  }

  getReleaseState(r: GetReleaseStateInput, o: CallOpts): Promise<GetReleaseStateResponse> {
    return this.#call('GetReleaseState', (q, m, c, cb) => this.#client.getReleaseState(q, m, c, cb), GetReleaseStateRequest.fromPartial(r), o);
  }
  install(r: InstallInput, o: CallOpts): Promise<InstallResponse> {
    return this.#call('Install', (q, m, c, cb) => this.#client.install(q, m, c, cb), InstallRequest.fromPartial(r), o);
  }
  upgrade(r: UpgradeInput, o: CallOpts): Promise<UpgradeResponse> {
    return this.#call('Upgrade', (q, m, c, cb) => this.#client.upgrade(q, m, c, cb), UpgradeRequest.fromPartial(r), o);
  }
  rollback(r: RollbackInput, o: CallOpts): Promise<RollbackResponse> {
    return this.#call('Rollback', (q, m, c, cb) => this.#client.rollback(q, m, c, cb), RollbackRequest.fromPartial(r), o);
  }
  uninstall(r: UninstallInput, o: CallOpts): Promise<UninstallResponse> {
    return this.#call('Uninstall', (q, m, c, cb) => this.#client.uninstall(q, m, c, cb), UninstallRequest.fromPartial(r), o);
  }
  test(r: TestInput, o: CallOpts): Promise<TestResponse> {
    return this.#call('Test', (q, m, c, cb) => this.#client.test(q, m, c, cb), TestRequest.fromPartial(r), o);
  }
  unlock(r: UnlockInput, o: CallOpts): Promise<UnlockResponse> {
    return this.#call('Unlock', (q, m, c, cb) => this.#client.unlock(q, m, c, cb), UnlockRequest.fromPartial(r), o);
  }
  detectDrift(r: DetectDriftInput, o: CallOpts): Promise<DetectDriftResponse> {
    return this.#call('DetectDrift', (q, m, c, cb) => this.#client.detectDrift(q, m, c, cb), DetectDriftRequest.fromPartial(r), o);
  }
  diff(r: DiffInput, o: CallOpts): Promise<DiffResponse> {
    return this.#call('Diff', (q, m, c, cb) => this.#client.diff(q, m, c, cb), DiffRequest.fromPartial(r), o);
  }
  correctDrift(r: CorrectDriftInput, o: CallOpts): Promise<CorrectDriftResponse> {
    return this.#call('CorrectDrift', (q, m, c, cb) => this.#client.correctDrift(q, m, c, cb), CorrectDriftRequest.fromPartial(r), o);
  }

  /** Resolves when the runner's socket accepts a connection, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((ok, fail) => {
      this.#client.waitForReady(Date.now() + timeoutMs, (e) => (e ? fail(RunnerError.from(e)) : ok()));
    });
  }

  close(): void {
    this.#client.close();
  }

  #call<Req, Res>(method: string, fn: Unary<Req, Res>, req: Req, o: CallOpts): Promise<Res> {
    const started = performance.now();
    return new Promise<Res>((ok, fail) => {
      if (o.signal?.aborted) {
        fail(new RunnerError(`${method} cancelled before it started`, GrpcStatus.CANCELLED, undefined));
        return;
      }
      const md = new Metadata();
      if (o.reconcileId !== undefined) md.set(RECONCILE_ID_METADATA, o.reconcileId);
      const call = fn(req, md, { deadline: Date.now() + o.deadlineMs }, (err, res) => {
        o.signal?.removeEventListener('abort', onAbort);
        const code = err ? (codeName.get(err.code) ?? 'UNKNOWN') : 'OK';
        this.#observe?.(method, code, (performance.now() - started) / 1000);
        if (err) fail(RunnerError.from(err));
        else ok(res);
      });
      const onAbort = () => call.cancel();
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
