// Access to the local control plane and chart repositories started by `make cluster-up`
// (test/cluster/up.sh), for integration tests. Reads .cluster/env once; fails with a clear
// message when the cluster is not up.
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { z } from 'zod';

const execFileAsync = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const ClusterEnv = z.object({
  KUBECONFIG: z.string().min(1),
  PLANTON_KUBECTL: z.string().min(1),
  PLANTON_HELM: z.string().min(1),
  PLANTON_HTTP_REPO: z.url(),
  PLANTON_OCI_REPO: z.string().startsWith('oci://'),
  PLANTON_OCI_REGISTRY: z.string().min(1),
  PLANTON_HTTP_AUTH_REPO: z.url(),
  PLANTON_OCI_AUTH_REPO: z.string().startsWith('oci://'),
  PLANTON_REPO_USERNAME: z.string().min(1),
  PLANTON_REPO_PASSWORD: z.string().min(1),
  PLANTON_APISERVER: z.url(),
  PLANTON_KUBE_VERSION: z.string().min(1),
  HELM_CACHE_HOME: z.string().min(1),
  HELM_CONFIG_HOME: z.string().min(1),
  HELM_DATA_HOME: z.string().min(1),
});
export type ClusterEnv = z.infer<typeof ClusterEnv>;

/** Parses KEY=VALUE lines (the format up.sh writes). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

let cached: ClusterEnv | undefined;

/** The running cluster's addresses and tool paths. Throws when `make cluster-up` has not run. */
export function clusterEnv(): ClusterEnv {
  if (cached) return cached;
  const dir = process.env['CLUSTER_DIR'] ?? resolve(repoRoot, '.cluster');
  let text: string;
  try {
    text = readFileSync(resolve(dir, 'env'), 'utf8');
  } catch {
    throw new Error(`no local cluster: ${dir}/env is missing; run \`make cluster-up\` first`);
  }
  cached = ClusterEnv.parse(parseEnvFile(text));
  return cached;
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(clusterEnv().KUBECONFIG);
  return kc;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

async function run(bin: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  const env = clusterEnv();
  const { stdout, stderr } = await execFileAsync(bin, [...args], {
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/tmp',
      KUBECONFIG: env.KUBECONFIG,
      HELM_CACHE_HOME: env.HELM_CACHE_HOME,
      HELM_CONFIG_HOME: env.HELM_CONFIG_HOME,
      HELM_DATA_HOME: env.HELM_DATA_HOME,
    },
  });
  return { stdout, stderr };
}

/** How a command ended: its exit code (null when killed) and output, whatever the code. */
export interface Exit extends RunResult {
  readonly code: number | null;
}

/** Runs a command to its end, with the test process's environment plus `env`, whatever its exit code. */
export function exitOf(file: string, args: readonly string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs: number }): Promise<Exit> {
  return new Promise((done) => {
    execFile(
      file,
      [...args],
      { cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Runs the Helm CLI built for the cluster (fixtures and smoke tests only; the product uses the SDK). */
export function helm(args: readonly string[], timeoutMs = 180_000): Promise<RunResult> {
  return run(clusterEnv().PLANTON_HELM, args, timeoutMs);
}

export function kubectl(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(clusterEnv().PLANTON_KUBECTL, args, timeoutMs);
}

/**
 * Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs` with
 * `what` and the last probe error in the message. A wait, not a timing assertion.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A namespace unique to one test run, deleted by the returned cleanup function. */
export async function tempNamespace(prefix: string): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return {
    name,
    cleanup: async () => {
      await releaseHelmReleaseFinalizers(name);
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/**
 * Creates ServiceAccount `name` in `namespace`, bound (RoleBinding `<name>-admin`) to the
 * ClusterRole `admin` there: it may do anything in that namespace and nothing elsewhere.
 */
export async function namespaceAdmin(namespace: string, name: string): Promise<void> {
  const kc = kubeConfig();
  await kc.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await kc.makeApiClient(k8s.RbacAuthorizationV1Api).createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: `${name}-admin` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
}

/**
 * Removes the controller's finalizer from every HelmRelease left in `namespace`: suites stop their
 * controller before deleting their namespace, and a finalizer nobody will handle would keep the
 * namespace Terminating for ever (and the cluster's namespace controller busy).
 */
async function releaseHelmReleaseFinalizers(namespace: string): Promise<void> {
  const api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const group = { group: 'helm.project-planton.org', version: 'v1', plural: 'helmreleases', namespace };
  const list = (await api.listNamespacedCustomObject(group).catch(() => ({ items: [] }))) as {
    items: { metadata: { name: string; finalizers?: string[] } }[];
  };
  const names = list.items.filter((i) => (i.metadata.finalizers ?? []).length > 0).map((i) => i.metadata.name);
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names.slice(i, i + 10).map((name) =>
        api
          .patchNamespacedCustomObject({ ...group, name, body: { metadata: { finalizers: null } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
          .catch(() => undefined),
      ),
    );
  }
}

/** Writes a kubeconfig for the local API server that authenticates with `token` only (mode 0600). */
export async function tokenKubeconfig(token: string, file: string): Promise<string> {
  const config = JSON.parse((await kubectl(['config', 'view', '--raw', '--minify', '--flatten', '--output', 'json'])).stdout) as {
    users: { name: string; user: Record<string, unknown> }[];
  };
  for (const u of config.users) u.user = { token };
  writeFileSync(file, JSON.stringify(config));
  chmodSync(file, 0o600);
  return file;
}

export interface HelmRevision {
  readonly revision: number;
  readonly chartVersion: string;
  readonly status: string;
}

/**
 * Every revision of a release as the Helm CLI lists it, newest first; [] when Helm says the
 * release is not found. Any other failure of the CLI throws, so that "no release" is never the
 * answer to a broken command.
 */
export async function helmHistory(namespace: string, release: string): Promise<HelmRevision[]> {
  const res = await helm(['history', release, '--namespace', namespace, '--output', 'json']).catch((err: unknown) => {
    if (String((err as { stderr?: unknown }).stderr ?? '').includes('release: not found')) return undefined;
    throw err;
  });
  if (!res) return [];
  const rows = JSON.parse(res.stdout) as { revision: number; chart: string; status: string }[];
  return rows
    .map((r) => ({ revision: r.revision, chartVersion: r.chart.slice(r.chart.lastIndexOf('-') + 1), status: r.status }))
    .sort((a, b) => b.revision - a.revision);
}
