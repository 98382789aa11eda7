// Runs the real reconciler (dist/src/main.js, built by `npm run build`) as a child process
// against the local cluster and a real helm-runner, for end-to-end tests; and small helpers to
// create HelmReleases and read what a user would read (conditions, events, metrics).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll } from 'vitest';
import { clusterEnv, kubeConfig, kubectl, repoRoot, tempNamespace, waitFor } from './cluster.js';
import { BUILD_ENV } from './global-setup.js';
import { buildRunner, type RunningRunner, startRunner } from './runner.js';

const execFileAsync = promisify(execFile);

export const crdPath = resolve(repoRoot, 'deploy/crds/helmreleases.helm.project-planton.org.yaml');
// The integration project's globalSetup (test/support/global-setup.ts) compiles the reconciler
// once per run and names the directory in PLANTON_CONTROLLER_BUILD. A test file run on its own
// outside that setup compiles into a directory of its own, so that suites running at the same
// time never read a half-written file.
const prebuilt = process.env[BUILD_ENV];
const outDir = prebuilt ?? resolve(repoRoot, '.build', `test-${process.pid}`);
const mainJs = resolve(outDir, 'src/main.js');

let built: Promise<void> | undefined;
/** Compiles the TypeScript once per test process, unless the run's globalSetup did. */
export function buildController(): Promise<void> {
  if (prebuilt) return Promise.resolve();
  built ??= execFileAsync(
    process.execPath,
    [resolve(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', resolve(repoRoot, 'tsconfig.json'), '--outDir', outDir],
    { cwd: repoRoot, timeout: 300_000 },
  ).then(() => undefined);
  return built;
}

if (!prebuilt) process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));

/** Applies the generated CRD and waits until the API serves it. */
export async function installCrd(): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdPath]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/helmreleases.helm.project-planton.org']);
}

export interface RunningController {
  readonly process: ChildProcess;
  /** Port of /metrics, /healthz, /readyz. */
  readonly port: number;
  /** Everything the controller logged so far (JSON lines). */
  logs(): string;
  metrics(): Promise<string>;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL. */
  kill(): Promise<void>;
}

export interface ControllerOptions {
  readonly runnerSocket: string;
  /** The only namespace this controller watches, so suites running at once never share work. */
  readonly namespace: string;
  /** Leave out --allow-insecure-http. */
  readonly secureOnly?: boolean;
  readonly args?: readonly string[];
  /** Wait until /readyz answers 200 (a standby replica is ready too). Default true. */
  readonly waitReady?: boolean;
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  await buildController();
  const args = [
    // V8 flags: the product's (Dockerfile, deploy/local/lib.sh) unless a benchmark overrides them.
    ...(process.env['PLANTON_CONTROLLER_NODE_FLAGS'] ?? '--max-semi-space-size=2 --max-old-space-size=128').split(' ').filter(Boolean),
    mainJs,
    '--kubeconfig', clusterEnv().KUBECONFIG,
    '--runner-address', `unix://${opts.runnerSocket}`,
    '--http-addr', '127.0.0.1:0',
    '--watch-namespace', opts.namespace,
    ...(opts.secureOnly ? [] : ['--allow-insecure-http']),
    '--leader-elect=false',
    '--log-level', 'debug',
    '--shutdown-grace', '5s',
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const port = await waitFor('the controller to serve /metrics', async () => {
    if (child.exitCode !== null) throw new Error(`controller exited with ${child.exitCode}: ${out}`);
    const m = /"msg":"serving metrics and health"[^\n]*"address":"[^"]*:(\d+)"/.exec(out);
    return m ? Number(m[1]) : undefined;
  }, 60_000);
  if (opts.waitReady ?? true) {
    await waitFor('the controller to be ready', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, 60_000).catch((err: unknown) => {
      child.kill('SIGKILL');
      throw new Error(`${err instanceof Error ? err.message : String(err)}; its last log lines:\n${out.split('\n').slice(-15).join('\n')}`);
    });
  }
  return {
    process: child,
    port,
    logs: () => out,
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A metric sample's value from Prometheus text, or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

export interface HelmReleaseView {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
    release?: { name: string; namespace: string; revision: number; chartVersion: string; status: string };
    history?: { revision: number; chartVersion: string; status: string; testResult?: string }[];
    failures?: number;
    installFailures?: number;
    upgradeFailures?: number;
    drift?: { objectsDrifted: number; lastDetectedTime?: string; lastCorrectedTime?: string };
    lastHandledReconcileTime?: string;
    lastAttemptedGeneration?: number;
    previousReleases?: { name: string; namespace: string }[];
  };
}

const group = { group: 'helm.project-planton.org', version: 'v1', plural: 'helmreleases' };

export function helmReleases() {
  const api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  return {
    create: (namespace: string, name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) =>
      api.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'helm.project-planton.org/v1', kind: 'HelmRelease', metadata: { name, ...metadata }, spec } }),
    get: async (namespace: string, name: string): Promise<HelmReleaseView | undefined> => {
      try {
        return (await api.getNamespacedCustomObject({ ...group, namespace, name })) as HelmReleaseView;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
    patchSpec: (namespace: string, name: string, spec: Record<string, unknown>) =>
      api.patchNamespacedCustomObject({ ...group, namespace, name, body: { spec } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
    delete: (namespace: string, name: string) => api.deleteNamespacedCustomObject({ ...group, namespace, name }),
  };
}

export function condition(hr: HelmReleaseView | undefined, type: string) {
  return hr?.status?.conditions?.find((c) => c.type === type);
}

/**
 * Requests a reconcile now, as a user does (the reconcile-requested-at annotation); returns the
 * value, which status.lastHandledReconcileTime shows once the request was acted on.
 */
export async function requestReconcile(namespace: string, name: string): Promise<string> {
  const at = new Date().toISOString();
  await kubectl(['annotate', '--overwrite', '--namespace', namespace, `helmrelease/${name}`, `helm.project-planton.org/reconcile-requested-at=${at}`]);
  return at;
}

export type ConditionView = NonNullable<NonNullable<HelmReleaseView['status']>['conditions']>[number];

/** Records the conditions of every version of a HelmRelease, from a watch, so no passing state is missed. */
export async function watchConditions(namespace: string, name: string): Promise<{ readonly seen: ConditionView[][]; stop(): void }> {
  const seen: ConditionView[][] = [];
  const request = await new k8s.Watch(kubeConfig()).watch(
    `/apis/helm.project-planton.org/v1/namespaces/${namespace}/helmreleases`,
    { fieldSelector: `metadata.name=${name}` },
    (_phase, obj: HelmReleaseView) => {
      seen.push(obj.status?.conditions ?? []);
    },
    () => undefined,
  );
  return { seen, stop: () => request.abort() };
}

/** Waits until `hr` has condition `type` with `status` for its current generation. */
export async function waitForCondition(namespace: string, name: string, type: string, status: string, timeoutMs = 120_000, reason?: string): Promise<HelmReleaseView> {
  const api = helmReleases();
  return waitFor(`${namespace}/${name} ${type}=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const hr = await api.get(namespace, name);
    const c = condition(hr, type);
    const current = hr?.status?.observedGeneration === hr?.metadata.generation;
    if (hr && current && c?.status === status && (reason === undefined || c.reason === reason)) return hr;
    if (c) throw new Error(`now ${c.type}=${c.status} ${c.reason}: ${c.message}`);
    return undefined;
  }, timeoutMs, 500);
}

function eventTime(e: k8s.CoreV1Event): number {
  const t = e.eventTime ?? e.firstTimestamp;
  return t ? new Date(t as unknown as string | Date).getTime() : 0;
}

/**
 * Events recorded for one object, oldest first, one entry per occurrence: an Event the controller
 * counted n times (a repeat updates `count` and `series` instead of writing a new Event) appears n
 * times, the first at its eventTime and the others at its series.lastObservedTime (the times of
 * the occurrences in between are not kept: they are placed with the last).
 */
export async function eventsFor(namespace: string, name: string): Promise<{ type: string; reason: string; message: string }[]> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  const occurrences = list.items.flatMap((e) => {
    const entry = { type: e.type ?? '', reason: e.reason ?? '', message: e.message ?? '' };
    const first = eventTime(e);
    const lastSeen = e.series?.lastObservedTime;
    const last = lastSeen ? new Date(lastSeen as unknown as string | Date).getTime() : first;
    return Array.from({ length: Math.max(e.count ?? 1, 1) }, (_, i) => ({ at: i === 0 ? first : last, entry }));
  });
  return occurrences.sort((a, b) => a.at - b.at).map((o) => o.entry);
}

export interface ControllerSuite {
  readonly ns: string;
  readonly runner: RunningRunner;
  readonly controller: RunningController;
}

/**
 * Registers the usual beforeAll/afterAll of an end-to-end suite: the CRD, a namespace of its own,
 * a real runner, and a controller watching only that namespace; `ready` receives them. Everything
 * is stopped and the namespace deleted afterwards.
 */
export function useController(prefix: string, ready: (suite: ControllerSuite) => void): void {
  let suite: ControllerSuite | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    await Promise.all([buildRunner(), installCrd()]);
    const namespace = await tempNamespace(prefix);
    cleanup = namespace.cleanup;
    const runner = await startRunner();
    const controller = await startController({ runnerSocket: runner.socket, namespace: namespace.name });
    suite = { ns: namespace.name, runner, controller };
    ready(suite);
  });
  afterAll(async () => {
    await suite?.controller.stop();
    await suite?.runner.stop();
    await cleanup?.();
  });
}
