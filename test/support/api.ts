// The public gRPC API for end-to-end tests: a serving certificate signed by a CA of the test's
// own (openssl), a controller started with the API on a free loopback port, real ServiceAccount
// tokens (TokenRequest) and RBAC for them, and a generated client connected over TLS.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createSign } from 'node:crypto';
import { promisify } from 'node:util';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  type ApplyRequest,
  type ApplyResponse,
  type DeleteRequest,
  type DeleteResponse,
  type DiffRequest,
  type DiffResponse,
  type GetRequest,
  type GetResponse,
  HelmReleaseServiceClient,
  type HistoryRequest,
  type HistoryResponse,
  type ListRequest,
  type ListResponse,
  type ReconcileRequest,
  type ReconcileResponse,
  type ResumeRequest,
  type ResumeResponse,
  type SuspendRequest,
  type SuspendResponse,
} from '../../src/gen/planton/helm/v1/helm_release_service.js';
import { clusterEnv, kubectl, tempNamespace, waitFor } from './cluster.js';
import { type ControllerOptions, installCrd, type RunningController, startController } from './controller.js';
import { buildRunner, type RunningRunner, startRunner } from './runner.js';

const execFileAsync = promisify(execFile);

export interface ApiTls {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: Buffer;
  /** Issues a new serving certificate from the same CA into certFile/keyFile (a rotation). */
  rotate(): Promise<void>;
  cleanup(): void;
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  await execFileAsync('openssl', [...args], { cwd, timeout: 60_000 });
}

/** A CA and a serving certificate for 127.0.0.1 and localhost, in a temporary directory. */
export async function apiTls(): Promise<ApiTls> {
  const dir = mkdtempSync(join(tmpdir(), 'planton-api-tls-'));
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=planton-test-ca'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  let serial = 1;
  const issue = async (): Promise<void> => {
    // Written next to the served files and renamed over them, as a Secret volume swaps its files.
    await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'next.key', '-out', 'next.csr', '-subj', '/CN=planton-helm-api'], dir);
    await openssl(['x509', '-req', '-in', 'next.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '1', '-extfile', 'san.ext', '-out', 'next.crt'], dir);
    await execFileAsync('sh', ['-c', 'mv next.key tls.key && mv next.crt tls.crt'], { cwd: dir });
  };
  await issue();
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    ca: readFileSync(join(dir, 'ca.crt')),
    rotate: issue,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ApiController extends RunningController {
  /** 127.0.0.1:PORT of the gRPC API. */
  readonly apiAddress: string;
}

/** The reconciler with the API served on a free loopback port, TLS from `tls`. */
export async function startApiController(opts: ControllerOptions & { readonly tls: ApiTls }): Promise<ApiController> {
  const c = await startController({
    ...opts,
    args: ['--api-addr', '127.0.0.1:0', '--api-tls-cert', opts.tls.certFile, '--api-tls-key', opts.tls.keyFile, ...(opts.args ?? [])],
  });
  const apiAddress = await waitFor('the controller to serve the gRPC API', async () => {
    if (c.process.exitCode !== null) throw new Error(`controller exited with ${c.process.exitCode}: ${c.logs()}`);
    const m = /"msg":"serving the gRPC API"[^\n]*"address":"([^"]+)"/.exec(c.logs());
    return m?.[1];
  }, 60_000);
  return Object.assign(c, { apiAddress });
}

/** A real token of ServiceAccount `namespace/name` (created if missing), from the TokenRequest API. */
export async function serviceAccountToken(namespace: string, name: string, opts: { audience?: string; durationSeconds?: number } = {}): Promise<string> {
  await kubectl(['create', 'serviceaccount', name, '--namespace', namespace, '--dry-run=client', '-o', 'yaml']).then(async (r) => {
    const file = join(tmpdir(), `sa-${namespace}-${name}-${process.pid}.yaml`);
    writeFileSync(file, r.stdout);
    await kubectl(['apply', '-f', file]);
    rmSync(file, { force: true });
  });
  const args = ['create', 'token', name, '--namespace', namespace, '--duration', `${opts.durationSeconds ?? 3600}s`];
  if (opts.audience) args.push('--audience', opts.audience);
  return (await kubectl(args)).stdout.trim();
}

/** A Role on helmreleases with `verbs` in `namespace`, bound to ServiceAccount `saNamespace/sa`. */
export async function grantHelmReleases(namespace: string, sa: string, verbs: readonly string[], saNamespace = namespace): Promise<void> {
  const role = `helmreleases-${sa}`;
  const manifest = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: role, namespace },
        rules: [{ apiGroups: ['helm.project-planton.org'], resources: ['helmreleases'], verbs: [...verbs] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: role, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: saNamespace }],
      },
    ],
  };
  const file = join(tmpdir(), `rbac-${namespace}-${sa}-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(manifest));
  try {
    await kubectl(['apply', '-f', file]);
  } finally {
    rmSync(file, { force: true });
  }
}

/** A generated TypeScript client over TLS; `token` goes in every call's metadata (none: no header). */
export function apiClient(address: string, ca: Buffer, token?: string): HelmReleaseServiceClient {
  const tls = credentials.createSsl(ca);
  const creds = token === undefined
    ? tls
    : credentials.combineChannelCredentials(
        tls,
        credentials.createFromMetadataGenerator((_params, cb) => {
          const md = new Metadata();
          md.set('authorization', `Bearer ${token}`);
          cb(null, md);
        }),
      );
  return new HelmReleaseServiceClient(address, creds);
}

type Unary<Req, Res> = (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown;

function promised<Req, Res>(fn: Unary<Req, Res>): (req: Req) => Promise<Res> {
  return (req) =>
    new Promise((ok, fail) => {
      fn(req, (err, res) => (err ? fail(err) : ok(res)));
    });
}

/** The unary RPCs of a generated client as promises (a failure rejects with the ServiceError). */
export function rpc(c: HelmReleaseServiceClient) {
  return {
    apply: promised<ApplyRequest, ApplyResponse>((r, cb) => c.apply(r, cb)),
    get: promised<GetRequest, GetResponse>((r, cb) => c.get(r, cb)),
    list: promised<ListRequest, ListResponse>((r, cb) => c.list(r, cb)),
    delete: promised<DeleteRequest, DeleteResponse>((r, cb) => c.delete(r, cb)),
    diff: promised<DiffRequest, DiffResponse>((r, cb) => c.diff(r, cb)),
    history: promised<HistoryRequest, HistoryResponse>((r, cb) => c.history(r, cb)),
    reconcile: promised<ReconcileRequest, ReconcileResponse>((r, cb) => c.reconcile(r, cb)),
    suspend: promised<SuspendRequest, SuspendResponse>((r, cb) => c.suspend(r, cb)),
    resume: promised<ResumeRequest, ResumeResponse>((r, cb) => c.resume(r, cb)),
  };
}
export type Rpc = ReturnType<typeof rpc>;

/**
 * A ServiceAccount token that expired an hour ago, signed by the cluster's own ServiceAccount
 * key (the local control plane's pki/sa.key): genuine in every way except its expiry.
 */
export function expiredToken(namespace: string, name: string, uid: string): string {
  const key = readFileSync(join(dirname(clusterEnv().KUBECONFIG), 'pki', 'sa.key'));
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const claims = {
    iss: 'https://kubernetes.default.svc.cluster.local',
    aud: ['https://kubernetes.default.svc.cluster.local'],
    sub: `system:serviceaccount:${namespace}:${name}`,
    iat: now - 7200,
    nbf: now - 7200,
    exp: now - 3600,
    'kubernetes.io': { namespace, serviceaccount: { name, uid } },
  };
  const body = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createSign('RSA-SHA256').update(body).sign(key).toString('base64url')}`;
}

/**
 * What an API suite needs: its own namespace, a certificate, a runner and a controller serving
 * the API, and two ServiceAccounts with real tokens: `deployer` (every verb on helmreleases, by
 * default) and `viewer` (get, list, watch).
 */
export interface ApiFixture {
  readonly namespace: string;
  readonly tls: ApiTls;
  readonly runner: RunningRunner;
  /** The controller serving now (restart() replaces it). */
  readonly controller: ApiController;
  readonly tokens: { readonly deployer: string; readonly viewer: string };
  /** PLANTON_API_ADDR, PLANTON_API_CA and PLANTON_API_TOKEN for a client process. */
  env(token: string): Record<string, string>;
  /** Stops the controller and starts another; with `sameAddress`, on the port the first had. */
  restart(opts?: { sameAddress?: boolean }): Promise<ApiController>;
  close(): Promise<void>;
}

export async function startApiFixture(
  prefix: string,
  opts: { deployerVerbs?: readonly string[]; controllerArgs?: readonly string[] } = {},
): Promise<ApiFixture> {
  const ns = await tempNamespace(prefix);
  const tls = await apiTls();
  await Promise.all([installCrd(), buildRunner()]);
  const runner = await startRunner();
  const start = (extra: readonly string[] = []) =>
    startApiController({ runnerSocket: runner.socket, namespace: ns.name, tls, args: [...(opts.controllerArgs ?? []), ...extra] });
  let controller = await start();
  await grantHelmReleases(ns.name, 'deployer', opts.deployerVerbs ?? ['get', 'list', 'watch', 'create', 'patch', 'delete']);
  await grantHelmReleases(ns.name, 'viewer', ['get', 'list', 'watch']);
  const tokens = { deployer: await serviceAccountToken(ns.name, 'deployer'), viewer: await serviceAccountToken(ns.name, 'viewer') };
  return {
    namespace: ns.name,
    tls,
    runner,
    get controller() {
      return controller;
    },
    tokens,
    env: (token) => ({ PLANTON_API_ADDR: controller.apiAddress, PLANTON_API_CA: tls.caFile, PLANTON_API_TOKEN: token }),
    restart: async (o = {}) => {
      const address = controller.apiAddress;
      await controller.stop();
      controller = await start(o.sameAddress ? ['--api-addr', address] : []);
      return controller;
    },
    close: async () => {
      await controller.stop();
      await runner.stop();
      await ns.cleanup();
      tls.cleanup();
    },
  };
}

/** The gRPC code and details a call failed with; OK when it did not fail. */
export async function grpcOutcome(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; details?: string };
    return { code: e.code ?? -1, details: e.details ?? '' };
  }
  return { code: 0, details: '' };
}
