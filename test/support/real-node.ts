// The node that really runs containers (test/cluster/real-node.sh, started by up.sh with
// PLANTON_REAL_NODE=1): its addresses as its pods see them, the pod fields that put a pod there,
// the containers' logs as the kubelet wrote them, and the controller's images in the local
// registry. The API server cannot reach this kubelet (it lives in a network namespace of its own),
// so logs are read from the node's pod log directory, as `kubectl logs` would have shown them.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { z } from 'zod';
import { clusterEnv, exitOf, kubeConfig, parseEnvFile, repoRoot, waitFor } from './cluster.js';

const NodeEnv = z.object({
  PLANTON_REAL_NODE: z.literal('1'),
  PLANTON_NODE_NAME: z.string().min(1),
  PLANTON_NODE_POD_LOGS: z.string().min(1),
  PLANTON_NODE_HTTP_REPO: z.url(),
  PLANTON_NODE_OCI_REPO: z.string().startsWith('oci://'),
  PLANTON_NODE_BUSYBOX_IMAGE: z.string().min(1),
});
export type NodeEnv = z.infer<typeof NodeEnv>;

let cached: NodeEnv | undefined;

/** The real node's settings from .cluster/env; throws, saying how to start it, when it is not up. */
export function realNodeEnv(): NodeEnv {
  if (cached) return cached;
  const dir = process.env['CLUSTER_DIR'] ?? resolve(repoRoot, '.cluster');
  clusterEnv();
  const parsed = NodeEnv.safeParse(parseEnvFile(readFileSync(resolve(dir, 'env'), 'utf8')));
  if (!parsed.success) {
    throw new Error('the local cluster has no real node: start it with `PLANTON_REAL_NODE=1 make cluster-up` (make test does)');
  }
  cached = parsed.data;
  return cached;
}

/** The label and taint of the real node. */
export const REAL_NODE_KEY = 'planton.local/real-node';
export const realNodeSelector = { [REAL_NODE_KEY]: 'true' };
export const realNodeTolerations = [{ key: REAL_NODE_KEY, operator: 'Exists', effect: 'NoSchedule' }];

/**
 * What a container printed, one entry per line, from the kubelet's CRI log file of the pod's
 * first (or `attempt`-th) run of `container` ("<time> <stream> <F|P> <text>" lines).
 */
export function containerLog(pod: k8s.V1Pod, container: string, attempt = 0): string[] {
  const { namespace, name, uid } = pod.metadata ?? {};
  const file = resolve(realNodeEnv().PLANTON_NODE_POD_LOGS, `${namespace}_${name}_${uid}`, container, `${attempt}.log`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split(' ').slice(3).join(' '));
}

/** The pods of `namespace` matching `labelSelector`. */
export async function podsOf(namespace: string, labelSelector: string): Promise<k8s.V1Pod[]> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  return (await core.listNamespacedPod({ namespace, labelSelector })).items;
}

/**
 * Builds both controller images (deploy/images/build.sh: a no-op past buildah's layer cache when
 * nothing changed) and pushes them to the local registry under the package's version, then copies
 * them to `extraTags` as well. Returns the registry's host:port.
 */
export async function pushControllerImages(extraTags: readonly string[] = []): Promise<string> {
  const built = await exitOf(resolve(repoRoot, 'deploy/images/build.sh'), [], { timeoutMs: 20 * 60_000 });
  if (built.code !== 0) throw new Error(`deploy/images/build.sh failed:\n${built.stderr.slice(-3000)}`);
  const registry = clusterEnv().PLANTON_OCI_REGISTRY;
  const version = (JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  for (const tag of extraTags) {
    for (const repo of ['helm-runner', 'helm-reconciler']) {
      const copied = await exitOf('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${registry}/${repo}:${version}`, `docker://${registry}/${repo}:${tag}`], { timeoutMs: 120_000 });
      if (copied.code !== 0) throw new Error(`skopeo copy ${repo}:${tag} failed: ${copied.stderr}`);
    }
  }
  return registry;
}

/**
 * Waits until Deployment `name` has rolled out completely: every replica updated, available and
 * ready, no old ones left; returns its pods (the ones of the current ReplicaSet).
 */
export async function rolledOut(namespace: string, name: string, timeoutMs = 240_000): Promise<k8s.V1Pod[]> {
  const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
  return waitFor(`Deployment ${namespace}/${name} rolled out`, async () => {
    const d = await apps.readNamespacedDeployment({ namespace, name });
    const want = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    if ((s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return undefined;
    if (s.updatedReplicas !== want || s.readyReplicas !== want || s.availableReplicas !== want || s.replicas !== want) return undefined;
    const selector = Object.entries(d.spec?.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = (await podsOf(namespace, selector)).filter((p) => !p.metadata?.deletionTimestamp);
    return pods.length === want ? pods : undefined;
  }, timeoutMs, 1000);
}
