// Proves the local control plane is a real cluster that the rest of the suite can trust: the API
// server reports its real version, KWOK nodes run pods, the Helm CLI installs charts with --wait
// from both chart repositories, chart tests pass, and an unschedulable pod stays Pending.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, tempNamespace, waitFor } from '../support/cluster.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const batch = kc.makeApiClient(k8s.BatchV1Api);

let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await tempNamespace('smoke'));
});
afterAll(async () => {
  await cleanup();
});

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

function condition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

async function deploymentAvailable(name: string): Promise<boolean> {
  const d = await apps.readNamespacedDeployment({ name, namespace: ns });
  return condition(d.status?.conditions, 'Available')?.status === 'True';
}

describe('local control plane', () => {
  it('reports the Kubernetes version it was built from', async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toBe(clusterEnv().PLANTON_KUBE_VERSION);
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
  });

  it('has three Ready KWOK nodes', async () => {
    const nodes = await core.listNode({ labelSelector: 'type=kwok' });
    expect(nodes.items.map((n) => condition(n.status?.conditions, 'Ready')?.status)).toEqual([
      'True',
      'True',
      'True',
    ]);
  });

  it('installs the plain chart from the OCI registry with --wait, and the Deployment is Available', async () => {
    await helm([
      'install', 'from-oci', `${clusterEnv().PLANTON_OCI_REPO}/plain`, '--version', '1.0.0',
      '--namespace', ns, '--plain-http', '--wait', '--timeout', '120s',
      '--set', 'message=from-oci',
    ]);
    expect(await deploymentAvailable('from-oci-plain')).toBe(true);
    const cm = await core.readNamespacedConfigMap({ name: 'from-oci-plain', namespace: ns });
    expect(cm.data?.['message']).toBe('from-oci');
  });

  it('installs the plain chart from the HTTP repository with --wait, and the Deployment is Available', async () => {
    await helm([
      'install', 'from-http', 'plain', '--repo', clusterEnv().PLANTON_HTTP_REPO, '--version', '1.1.0',
      '--namespace', ns, '--wait', '--timeout', '120s',
    ]);
    expect(await deploymentAvailable('from-http-plain')).toBe(true);
    const { stdout } = await helm(['list', '--namespace', ns, '--output', 'json']);
    const releases = JSON.parse(stdout) as { name: string; chart: string; status: string }[];
    expect(releases.find((r) => r.name === 'from-http')).toMatchObject({ chart: 'plain-1.1.0', status: 'deployed' });
  });

  it('runs hook Jobs to completion (pre-install hook of the hooks chart)', async () => {
    await helm([
      'install', 'hooked', 'hooks', '--repo', clusterEnv().PLANTON_HTTP_REPO, '--version', '1.0.0',
      '--namespace', ns, '--wait', '--timeout', '120s',
    ]);
    const { stdout } = await helm(['status', 'hooked', '--namespace', ns, '--output', 'json']);
    const status = JSON.parse(stdout) as { info: { status: string }; hooks?: { name: string; kind: string; last_run?: { phase?: string } }[] };
    expect(status.info.status).toBe('deployed');
    // The hook's effects: Helm recorded the Job's run as Succeeded, the Job was deleted on
    // success (hook-delete-policy hook-succeeded), and the ConfigMap hook that runs after the Job
    // (higher weight) exists with this revision's data.
    const ran = (status.hooks ?? []).map((h) => [h.kind, h.name, h.last_run?.phase]);
    expect(ran).toEqual(expect.arrayContaining([['Job', 'hooked-hooks-pre', 'Succeeded'], ['ConfigMap', 'hooked-hooks-pre', 'Succeeded']]));
    const jobGone = await batch.readNamespacedJob({ name: 'hooked-hooks-pre', namespace: ns }).then(() => false, () => true);
    expect(jobGone).toBe(true);
    const cm = await core.readNamespacedConfigMap({ name: 'hooked-hooks-pre', namespace: ns });
    expect(cm.data).toEqual({ revision: '1', chartVersion: '1.0.0' });
  });

  it('completes a Job', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: 'completes' },
        spec: {
          backoffLimit: 0,
          template: {
            spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      },
    });
    const job = await waitFor('Job completes', async () => {
      const j = await batch.readNamespacedJob({ name: 'completes', namespace: ns });
      return condition(j.status?.conditions, 'Complete')?.status === 'True' ? j : undefined;
    });
    expect(job.status?.succeeded).toBe(1);
  });

  it('passes `helm test` of the testable chart', async () => {
    await helm([
      'install', 'tested', `${clusterEnv().PLANTON_OCI_REPO}/testable`, '--version', '1.0.0',
      '--namespace', ns, '--plain-http', '--wait', '--timeout', '120s',
    ]);
    const { stdout } = await helm(['test', 'tested', '--namespace', ns, '--timeout', '120s']);
    expect(stdout).toMatch(/Phase:\s+Succeeded/);
  });

  it('keeps a pod with an unsatisfiable nodeSelector Pending as Unschedulable', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'unschedulable' },
        spec: {
          nodeSelector: { 'planton.test/never': 'true' },
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    });
    const scheduled = await waitFor('scheduler to report the pod', async () => {
      const p = await core.readNamespacedPod({ name: 'unschedulable', namespace: ns });
      return condition(p.status?.conditions, 'PodScheduled');
    });
    expect(scheduled).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    // Unschedulable because of the selector, not because the nodes are tainted or not ready.
    expect(scheduled.message).toMatch(/3 node\(s\) didn't match Pod's node affinity\/selector/);
    const pod = await core.readNamespacedPod({ name: 'unschedulable', namespace: ns });
    expect(pod.status?.phase).toBe('Pending');
  });
});
