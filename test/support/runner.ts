// Starts the real helm-runner binary for integration tests: built from helm-runner/ (go build is
// a no-op when nothing changed), serving on a unix socket in a temporary directory, against the
// local cluster, with plain HTTP allowed for the loopback chart repositories.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type ClientUnaryCall, credentials, type ServiceError } from '@grpc/grpc-js';
import {
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
} from '../../src/gen/planton/helmrunner/v1/runner.js';
import { clusterEnv, repoRoot, waitFor } from './cluster.js';

const execFileAsync = promisify(execFile);

export const runnerBinary = resolve(repoRoot, 'bin/helm-runner');

/** Builds bin/helm-runner from the current source. */
export async function buildRunner(): Promise<string> {
  await execFileAsync('go', ['build', '-o', runnerBinary, './cmd/helm-runner'], {
    cwd: resolve(repoRoot, 'helm-runner'),
    timeout: 600_000,
  });
  return runnerBinary;
}

export interface RunningRunner {
  readonly client: HelmRunnerServiceClient;
  readonly socket: string;
  readonly process: ChildProcess;
  /** host:port of its /metrics when started with `metrics: true`, else undefined. */
  readonly metricsAddress: string | undefined;
  /** Everything the runner wrote to stderr so far (its JSON logs). */
  logs(): string;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: the runner dies without any chance to clean up. */
  kill(): Promise<void>;
}

export interface StartOptions {
  readonly cacheDir?: string;
  readonly extraArgs?: readonly string[];
  /**
   * Serve on this socket path instead of one in the runner's temporary directory, so that a
   * runner started after another one stopped answers at the same address (the runner replaces a
   * stale socket file). The caller owns the path's directory.
   */
  readonly socket?: string;
  /** Serve /metrics on a free loopback port (`--metrics-addr 127.0.0.1:0`): see metricsAddress. */
  readonly metrics?: boolean;
}

/** The address of the runner's "serving metrics" log line, once it is in logs. */
function loggedMetricsAddress(logs: string): string | undefined {
  for (const line of logs.split('\n')) {
    if (!line.includes('"serving metrics"')) continue;
    const entry = JSON.parse(line) as { msg?: string; address?: string };
    if (entry.msg === 'serving metrics' && entry.address) return entry.address;
  }
  return undefined;
}

/** Starts a runner and waits until its socket answers. Call stop() or kill() when done. */
export async function startRunner(options: StartOptions = {}): Promise<RunningRunner> {
  const dir = mkdtempSync(join(tmpdir(), 'helm-runner-'));
  const socket = options.socket ?? join(dir, 'runner.sock');
  const args = [
    '--socket', socket,
    '--kubeconfig', clusterEnv().KUBECONFIG,
    '--cache-dir', options.cacheDir ?? join(dir, 'cache'),
    '--allow-insecure-http',
    ...(options.metrics ? ['--metrics-addr', '127.0.0.1:0'] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(runnerBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const client = new HelmRunnerServiceClient(`unix://${socket}`, credentials.createInsecure());
  await waitFor(`helm-runner to serve on ${socket}`, async () => {
    if (child.exitCode !== null) throw new Error(`helm-runner exited with ${child.exitCode}: ${stderr}`);
    await new Promise<void>((ok, fail) =>
      client.waitForReady(Date.now() + 1000, (e) => (e ? fail(e) : ok())),
    );
    return true;
  }, 30_000);
  const metricsAddress = options.metrics
    ? await waitFor('helm-runner to log its metrics address', async () => loggedMetricsAddress(stderr), 30_000)
    : undefined;
  const cleanup = () => {
    client.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    client,
    socket,
    process: child,
    metricsAddress,
    logs: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      cleanup();
      return code;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      cleanup();
    },
  };
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

function unary<Req, Res>(fn: (req: Req, cb: Callback<Res>) => ClientUnaryCall): (req: Req) => Promise<Res> {
  return (req) => new Promise((ok, fail) => fn(req, (e, r) => (e ? fail(e) : ok(r))));
}

/** The runner's operations as promises taking partial requests (filled in by fromPartial). */
export function runnerApi(c: HelmRunnerServiceClient) {
  return {
    getReleaseState: (r: DeepPartial<GetReleaseStateRequest>) =>
      unary<GetReleaseStateRequest, GetReleaseStateResponse>((q, cb) => c.getReleaseState(q, cb))(GetReleaseStateRequest.fromPartial(r)),
    install: (r: DeepPartial<InstallRequest>) =>
      unary<InstallRequest, InstallResponse>((q, cb) => c.install(q, cb))(InstallRequest.fromPartial(r)),
    upgrade: (r: DeepPartial<UpgradeRequest>) =>
      unary<UpgradeRequest, UpgradeResponse>((q, cb) => c.upgrade(q, cb))(UpgradeRequest.fromPartial(r)),
    rollback: (r: DeepPartial<RollbackRequest>) =>
      unary<RollbackRequest, RollbackResponse>((q, cb) => c.rollback(q, cb))(RollbackRequest.fromPartial(r)),
    uninstall: (r: DeepPartial<UninstallRequest>) =>
      unary<UninstallRequest, UninstallResponse>((q, cb) => c.uninstall(q, cb))(UninstallRequest.fromPartial(r)),
    test: (r: DeepPartial<TestRequest>) =>
      unary<TestRequest, TestResponse>((q, cb) => c.test(q, cb))(TestRequest.fromPartial(r)),
    unlock: (r: DeepPartial<UnlockRequest>) =>
      unary<UnlockRequest, UnlockResponse>((q, cb) => c.unlock(q, cb))(UnlockRequest.fromPartial(r)),
    diff: (r: DeepPartial<DiffRequest>) =>
      unary<DiffRequest, DiffResponse>((q, cb) => c.diff(q, cb))(DiffRequest.fromPartial(r)),
    detectDrift: (r: DeepPartial<DetectDriftRequest>) =>
      unary<DetectDriftRequest, DetectDriftResponse>((q, cb) => c.detectDrift(q, cb))(DetectDriftRequest.fromPartial(r)),
    correctDrift: (r: DeepPartial<CorrectDriftRequest>) =>
      unary<CorrectDriftRequest, CorrectDriftResponse>((q, cb) => c.correctDrift(q, cb))(CorrectDriftRequest.fromPartial(r)),
  };
}
export type RunnerApi = ReturnType<typeof runnerApi>;
