// The controller installed for real, on the node that really runs containers (test/cluster/
// real-node.sh; `make test` starts it with PLANTON_REAL_NODE=1): both images from the local
// registry (deploy/images/build.sh), the kubelet 1.34 of that node pulls and runs them with
// containerd and runc, pods get their own network namespaces (no host networking), in-cluster
// configuration reaches the API server through the `kubernetes` Service address.
//
//   * `kubectl apply -k` of deploy/ (an overlay that only points the images at the local registry,
//     puts the pods on the real node, allows the test repositories' plain HTTP and watches this
//     suite's namespace): 2 replicas run both containers (helm-runner a native sidecar) and are
//     Ready under Pod Security `restricted`; a release from the HTTP repository and one from the
//     OCI registry are installed, their hook Jobs and chart test run as real containers (exit
//     codes and output read from the node), a hook that exits 3 fails its release; deleting the
//     leader pod hands the Lease to the other replica, which then reconciles; the
//     PodDisruptionBudget lets a drain evict one pod at a time; an install longer than the
//     shutdown grace is cancelled with its leader and done again by the next one.
//   * `helm install` of deploy/chart from the local OCI registry, `helm upgrade` to a new image
//     tag while a release operation is in flight (the operation completes once, nothing is lost or
//     repeated), `helm uninstall` (the CRD, the HelmReleases and their Helm releases stay).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { clusterEnv, helm, helmHistory, kubeConfig, kubectl, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';
import { condition, helmReleases, installCrd, waitForCondition } from '../support/controller.js';
import { containerLog, podsOf, pushControllerImages, realNodeEnv, realNodeSelector, realNodeTolerations, rolledOut } from '../support/real-node.js';

const SYSTEM = 'planton-system';
const DEPLOYMENT = 'planton-helm-controller';
const NEXT_TAG = '0.1.0-next';

let node: ReturnType<typeof realNodeEnv>;
let registry: string;
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
const batch = () => kubeConfig().makeApiClient(k8s.BatchV1Api);
const coordination = () => kubeConfig().makeApiClient(k8s.CoordinationV1Api);
const hrs = helmReleases();

/** A HelmRelease of the real-hooks chart, from `repo` (a repository address the node's pods reach). */
function realHooks(repo: string, values: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { repo, name: 'real-hooks', version: '1.0.0', values: { image: node.PLANTON_NODE_BUSYBOX_IMAGE, ...values }, ...extra };
}

/** The one pod a hook Job ran, once it has ended. */
async function hookPod(namespace: string, release: string): Promise<k8s.V1Pod> {
  return waitFor(`the hook pod of ${namespace}/${release}`, async () => {
    const pods = await podsOf(namespace, `app.kubernetes.io/instance=${release},planton.test/hook=pre`);
    const ended = pods.filter((p) => p.status?.containerStatuses?.[0]?.state?.terminated);
    return ended.length > 0 ? ended : undefined;
  }, 120_000, 500).then((pods) => pods[0]!);
}

/** Asserts that `pod` ran on the real node with a containerd container that exited with `code`. */
function ranForReal(pod: k8s.V1Pod, code: number) {
  expect(pod.spec?.nodeName).toBe(node.PLANTON_NODE_NAME);
  const status = pod.status?.containerStatuses?.[0];
  expect(status?.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
  expect(status?.imageID).toMatch(/@sha256:[0-9a-f]{64}$/);
  expect(status?.state?.terminated?.exitCode).toBe(code);
}

/** The Lease holder's pod name (the identity is `<pod>_<pid>`). */
async function leaseHolder(namespace: string): Promise<string | undefined> {
  const lease = await coordination().readNamespacedLease({ namespace, name: DEPLOYMENT }).catch(() => undefined);
  return lease?.spec?.holderIdentity?.split('_')[0];
}

beforeAll(async () => {
  node = realNodeEnv();
  const n = await core().readNode({ name: node.PLANTON_NODE_NAME });
  expect(n.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.34\./);
  expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  await installCrd();
  registry = await pushControllerImages([NEXT_TAG]);
}, 22 * 60_000);

describe('kubectl apply -k deploy/ onto the real node', () => {
  let dir: string;
  let tenant: Awaited<ReturnType<typeof tempNamespace>>;

  beforeAll(async () => {
    tenant = await tempNamespace('real-kustomize');
    mkdirSync(resolve(repoRoot, '.build'), { recursive: true });
    dir = mkdtempSync(join(repoRoot, '.build', 'real-node-'));
    const args = (container: 'initContainers/0' | 'containers/0', extra: string[]) =>
      extra.map((a) => ({ op: 'add', path: `/spec/template/spec/${container}/args/-`, value: a }));
    const patch = [
      { op: 'add', path: '/spec/template/spec/nodeSelector', value: realNodeSelector },
      { op: 'add', path: '/spec/template/spec/tolerations', value: realNodeTolerations },
      ...args('initContainers/0', ['--allow-insecure-http']),
      ...args('containers/0', ['--allow-insecure-http', `--watch-namespace=${tenant.name}`]),
    ];
    writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [relative(dir, resolve(repoRoot, 'deploy'))],
      images: [
        { name: 'planton/helm-runner', newName: `${registry}/helm-runner`, newTag: '0.1.0' },
        { name: 'planton/helm-reconciler', newName: `${registry}/helm-reconciler`, newTag: '0.1.0' },
      ],
      patches: [{ target: { kind: 'Deployment', name: DEPLOYMENT }, patch: JSON.stringify(patch) }],
    }));
    await kubectl(['apply', '--server-side', '--force-conflicts', '-k', dir], 120_000);
  }, 300_000);

  afterAll(async () => {
    // Everything the overlay applied goes (the runner's cluster-admin binding must not outlive
    // this suite: test/deploy/identities.test.ts checks what the lockdown identities may do),
    // except the CRD, which the other suites use, and the Namespace they share.
    if (dir) {
      const rendered = parseAllDocuments((await kubectl(['kustomize', dir])).stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
      for (const o of rendered.filter((o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'Namespace')) {
        await kubectl(['delete', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['--namespace', o.metadata.namespace] : []), '--ignore-not-found', '--wait=true', '--timeout=120s'], 150_000).catch(() => undefined);
      }
    }
    await tenant?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 200_000);

  it('runs 2 replicas for real: both containers, helm-runner a native sidecar, Ready, admitted under Pod Security restricted', async () => {
    const pods = await rolledOut(SYSTEM, DEPLOYMENT);
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe(node.PLANTON_NODE_NAME);
      expect(pod.spec?.hostNetwork ?? false).toBe(false);
      expect(pod.status?.podIP).toMatch(/^10\.251\.0\.\d+$/);
      const runner = pod.status?.initContainerStatuses?.find((c) => c.name === 'helm-runner');
      expect(pod.spec?.initContainers?.[0]?.restartPolicy).toBe('Always');
      // started: its startup probe (/healthz on port metrics, over the pod network) passed, which
      // is what let the kubelet start the reconciler.
      expect(pod.spec?.initContainers?.[0]?.startupProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
      expect(runner).toMatchObject({ started: true, ready: true, restartCount: 0, image: `${registry}/helm-runner:0.1.0` });
      expect(runner?.state?.running?.startedAt).toBeDefined();
      expect(runner?.containerID).toMatch(/^containerd:\/\//);
      const reconciler = pod.status?.containerStatuses?.find((c) => c.name === 'reconciler');
      expect(reconciler).toMatchObject({ started: true, ready: true, restartCount: 0, image: `${registry}/helm-reconciler:0.1.0` });
      expect(reconciler?.containerID).toMatch(/^containerd:\/\//);
      // The reconciler's readiness is its own /readyz, probed by the kubelet over the pod network.
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
    const ns = await core().readNamespace({ name: SYSTEM });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // Enforced, not only labelled: the same pod with host networking is refused at admission.
    const template = pods[0]!;
    const hostile: k8s.V1Pod = {
      metadata: { generateName: 'hostile-', namespace: SYSTEM },
      spec: { ...template.spec!, nodeName: undefined, hostNetwork: true },
    };
    const refused = await core().createNamespacedPod({ namespace: SYSTEM, body: hostile, dryRun: 'All' }).then(
      () => 'admitted',
      (e: { body?: string }) => (JSON.parse(e.body ?? '{}') as { message?: string }).message ?? String(e),
    );
    expect(refused).toContain('violates PodSecurity "restricted:latest"');
    expect(refused).toContain('host namespaces');
  });

  it('installs a release from the HTTP repository and one from the OCI registry; their hook Jobs and chart test run real containers', async () => {
    const ns = tenant.name;
    await hrs.create(ns, 'via-http', realHooks(node.PLANTON_NODE_HTTP_REPO, { message: 'from the HTTP repository' }, { test: { enable: true } }));
    await hrs.create(ns, 'via-oci', realHooks(node.PLANTON_NODE_OCI_REPO, { message: 'from the OCI registry' }));
    for (const [name, message] of [['via-http', 'from the HTTP repository'], ['via-oci', 'from the OCI registry']] as const) {
      const hr = await waitForCondition(ns, name, 'Ready', 'True', 180_000);
      expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
      const cm = await core().readNamespacedConfigMap({ namespace: ns, name: `${name}-real` });
      expect(cm.data?.['message']).toBe(message);
      const job = await batch().readNamespacedJob({ namespace: ns, name: `${name}-real-pre` });
      expect(job.status?.succeeded).toBe(1);
      const pod = await hookPod(ns, name);
      ranForReal(pod, 0);
      expect(containerLog(pod, 'pre')).toEqual([`pre-hook of revision 1 ran as uid 65532 in pod ${pod.metadata?.name}`]);
    }
    const tested = await waitForCondition(ns, 'via-http', 'TestSuccess', 'True', 120_000);
    expect(condition(tested, 'TestSuccess')?.reason).toBe('TestSucceeded');
    const testPod = await core().readNamespacedPod({ namespace: ns, name: 'via-http-real-test' });
    ranForReal(testPod, 0);
    expect(containerLog(testPod, 'test')).toEqual(['chart test: the ConfigMap holds from the HTTP repository']);
  });

  it('a hook container that really exits 3 fails its release', async () => {
    const ns = tenant.name;
    await hrs.create(ns, 'failing', realHooks(node.PLANTON_NODE_OCI_REPO, { hookExitCode: 3 }, { atomic: false, remediation: { retries: 0 } }));
    const hr = await waitForCondition(ns, 'failing', 'Stalled', 'True', 180_000, 'RetriesExhausted');
    expect(condition(hr, 'Released')).toMatchObject({ status: 'False', reason: 'InstallFailed' });
    expect(condition(hr, 'Released')?.message).toContain('failing-real-pre');
    const pod = await hookPod(ns, 'failing');
    ranForReal(pod, 3);
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason).toBe('Error');
    expect(containerLog(pod, 'pre')).toEqual([`pre-hook of revision 1 ran as uid 65532 in pod ${pod.metadata?.name}`]);
    expect((await batch().readNamespacedJob({ namespace: ns, name: 'failing-real-pre' })).status?.failed).toBe(1);
  });

  it('hands the Lease to the other replica when the leader pod is deleted; the new leader reconciles', async () => {
    const ns = tenant.name;
    const pods = await rolledOut(SYSTEM, DEPLOYMENT);
    const leader = await waitFor('a Lease holder among the pods', async () => {
      const h = await leaseHolder(SYSTEM);
      return h && pods.some((p) => p.metadata?.name === h) ? h : undefined;
    }, 60_000, 500);
    const standby = pods.find((p) => p.metadata?.name !== leader)!.metadata!.name!;
    await core().deleteNamespacedPod({ namespace: SYSTEM, name: leader });
    const next = await waitFor('the Lease to pass to the standby', async () => {
      const h = await leaseHolder(SYSTEM);
      return h === standby ? h : undefined;
    }, 120_000, 250);
    expect(next).toBe(standby);
    await hrs.create(ns, 'after-handover', realHooks(node.PLANTON_NODE_HTTP_REPO, { message: 'after the handover' }));
    const hr = await waitForCondition(ns, 'after-handover', 'Ready', 'True', 180_000);
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    // The Events of that reconcile name the new leader as their reporting instance.
    const events = await core().listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=after-handover' });
    const instances = new Set(events.items.map((e) => (e.reportingInstance ?? '').split('_')[0]));
    expect([...instances]).toEqual([standby]);
    // The Deployment replaced the deleted pod: 2 replicas again.
    expect(await rolledOut(SYSTEM, DEPLOYMENT)).toHaveLength(2);
  });

  it('a drain evicts one pod at a time: the PodDisruptionBudget refuses the second eviction', async () => {
    const pods = await rolledOut(SYSTEM, DEPLOYMENT);
    const policy = kubeConfig().makeApiClient(k8s.PolicyV1Api);
    await waitFor('the PodDisruptionBudget to allow one disruption', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: SYSTEM, name: DEPLOYMENT });
      return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 1 ? true : undefined;
    }, 60_000, 500);
    const evict = (name: string) =>
      core().createNamespacedPodEviction({ namespace: SYSTEM, name, body: { metadata: { name, namespace: SYSTEM } } }).then(
        () => 'evicted',
        (e: { code?: number; body?: string }) => `${e.code}: ${(JSON.parse(e.body ?? '{}') as { message?: string }).message}`,
      );
    expect(await evict(pods[0]!.metadata!.name!)).toBe('evicted');
    expect(await evict(pods[1]!.metadata!.name!)).toBe("429: Cannot evict pod as it would violate the pod's disruption budget.");
    expect(await rolledOut(SYSTEM, DEPLOYMENT)).toHaveLength(2);
  });

  it('an install that outlasts the shutdown grace is cancelled when its leader goes, and done again by the next leader', async () => {
    const ns = tenant.name;
    await rolledOut(SYSTEM, DEPLOYMENT);
    // The hook runs 60 s; the leader's pod is deleted at once, and the reconciler's grace is 30 s.
    await hrs.create(ns, 'outlasting', realHooks(node.PLANTON_NODE_HTTP_REPO, { message: 'after a cancel', hookSleepSeconds: 60 }));
    const first = await waitFor('the first hook Job', async () =>
      (await batch().readNamespacedJob({ namespace: ns, name: 'outlasting-real-pre' }).catch(() => undefined))?.metadata?.uid, 120_000, 250);
    const leader = await leaseHolder(SYSTEM);
    await core().deleteNamespacedPod({ namespace: SYSTEM, name: leader! });
    const hr = await waitForCondition(ns, 'outlasting', 'Ready', 'True', 300_000);
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.0.0', status: 'deployed' });
    const history = await helmHistory(ns, 'outlasting');
    expect(history[0]).toMatchObject({ revision: hr.status?.release?.revision, status: 'deployed' });
    expect(history.filter((r) => r.status.startsWith('pending-'))).toEqual([]);
    // Nothing lost, but the hook ran twice: the next leader's install replaced the first Job.
    const job = await batch().readNamespacedJob({ namespace: ns, name: 'outlasting-real-pre' });
    expect(job.metadata?.uid).not.toBe(first);
    expect(job.status?.succeeded).toBe(1);
    expect((await core().readNamespacedConfigMap({ namespace: ns, name: 'outlasting-real' })).data?.['message']).toBe('after a cancel');
  }, 420_000);
});

describe('helm install from the local OCI registry onto the real node, helm upgrade, helm uninstall', () => {
  const release = 'real-chart';
  let records: Awaited<ReturnType<typeof tempNamespace>>;
  let tenant: Awaited<ReturnType<typeof tempNamespace>>;
  let system: string;
  let dir: string;
  let chartRef: string;

  beforeAll(async () => {
    records = await tempNamespace('real-chart-release');
    tenant = await tempNamespace('real-chart-tenant');
    system = `${records.name}-system`;
    mkdirSync(resolve(repoRoot, '.build'), { recursive: true });
    dir = mkdtempSync(join(repoRoot, '.build', 'real-chart-'));
    await helm(['package', resolve(repoRoot, 'deploy/chart'), '--destination', dir]);
    await helm(['push', join(dir, 'planton-helm-controller-0.1.0.tgz'), clusterEnv().PLANTON_OCI_REPO, '--plain-http']);
    chartRef = `${clusterEnv().PLANTON_OCI_REPO}/planton-helm-controller`;
  }, 120_000);

  afterAll(async () => {
    await helm(['uninstall', release, '--namespace', records.name, '--wait', '--ignore-not-found']).catch(() => undefined);
    await core().deleteNamespace({ name: system }).catch(() => undefined);
    await tenant?.cleanup();
    await records?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 200_000);

  const values = () => [
    '--set', `namePrefix=${records.name}`, '--set', `namespace.name=${system}`,
    '--set', `runner.image.repository=${registry}/helm-runner`, '--set', `reconciler.image.repository=${registry}/helm-reconciler`,
    '--set-json', `nodeSelector=${JSON.stringify(realNodeSelector)}`, '--set-json', `tolerations=${JSON.stringify(realNodeTolerations)}`,
    '--set-json', `runner.extraArgs=${JSON.stringify(['--allow-insecure-http'])}`,
    '--set-json', `reconciler.extraArgs=${JSON.stringify(['--allow-insecure-http', `--watch-namespace=${tenant.name}`])}`,
    // A grace longer than the slowest operation the suite starts (README: Upgrade), so that a
    // replaced leader finishes it instead of cancelling it.
    '--set', 'reconciler.shutdownGrace=90s', '--set', 'terminationGracePeriodSeconds=120',
  ];

  it('installs: both replicas run on the real node and reconcile a HelmRelease', async () => {
    await helm(['install', release, chartRef, '--version', '0.1.0', '--plain-http', '--namespace', records.name, ...values(), '--wait', '--timeout', '5m'], 330_000);
    const pods = await rolledOut(system, `${records.name}-controller`);
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe(node.PLANTON_NODE_NAME);
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({ ready: true, image: `${registry}/helm-reconciler:0.1.0` });
    }
    await hrs.create(tenant.name, 'from-chart', realHooks(node.PLANTON_NODE_OCI_REPO, { message: 'installed by the chart' }));
    const hr = await waitForCondition(tenant.name, 'from-chart', 'Ready', 'True', 180_000);
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
  }, 400_000);

  it('helm upgrade to a new image tag rolls the controller while an install is in flight; the install completes once', async () => {
    const ns = tenant.name;
    // The install's pre-install hook runs 45 s. The rollout replaces both old pods within about
    // 5 to 25 s, so the leader is told to stop while the hook runs, with at most about 45 s of
    // the install left: less than the 90 s shutdown grace these values give, within which it
    // finishes what it started.
    await hrs.create(ns, 'in-flight', realHooks(node.PLANTON_NODE_HTTP_REPO, { message: 'through the rollout', hookSleepSeconds: 45 }));
    const job = await waitFor('the in-flight hook Job', async () =>
      (await batch().readNamespacedJob({ namespace: ns, name: 'in-flight-real-pre' }).catch(() => undefined))?.metadata?.uid, 120_000, 250);
    const before = (await rolledOut(system, `${records.name}-controller`)).map((p) => p.metadata!.name!);
    const leader = await leaseHolder(system);
    expect(before).toContain(leader);
    // Watches the old leader during the upgrade: when it starts shutting down (deletionTimestamp
    // set, or gone), how far the hook Job has got.
    let stopping: { succeeded: number } | undefined;
    let watching = true;
    const watcher = (async () => {
      for (let i = 0; i < 2400 && watching && !stopping; i++) {
        const pod = await core().readNamespacedPod({ namespace: system, name: leader! }).catch(() => undefined);
        if (!pod || pod.metadata?.deletionTimestamp) {
          const j = await batch().readNamespacedJob({ namespace: ns, name: 'in-flight-real-pre' });
          stopping = { succeeded: j.status?.succeeded ?? 0 };
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await helm(['upgrade', release, chartRef, '--version', '0.1.0', '--plain-http', '--namespace', records.name, ...values(),
      '--set', `runner.image.tag=${NEXT_TAG}`, '--set', `reconciler.image.tag=${NEXT_TAG}`, '--wait', '--timeout', '5m'], 330_000);
    const pods = await rolledOut(system, `${records.name}-controller`);
    watching = false;
    await watcher;
    // The leader was told to stop while the install it had started was still running its hook.
    expect(stopping).toEqual({ succeeded: 0 });
    for (const pod of pods) {
      expect(before).not.toContain(pod.metadata?.name);
      expect(pod.spec?.nodeName).toBe(node.PLANTON_NODE_NAME);
      // The spec names the new tag; the status may name the old one, which containerd already had
      // by the same digest (the kubelet reports the runtime's name for the image it ran).
      expect(pod.spec?.containers[0]?.image).toBe(`${registry}/helm-reconciler:${NEXT_TAG}`);
      expect(pod.spec?.initContainers?.[0]?.image).toBe(`${registry}/helm-runner:${NEXT_TAG}`);
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({ ready: true, started: true });
      expect(pod.status?.initContainerStatuses?.[0]).toMatchObject({ ready: true, started: true });
    }
    const hr = await waitForCondition(ns, 'in-flight', 'Ready', 'True', 180_000);
    expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    // Once: one revision in Helm's history, the same hook Job (a second attempt would have replaced
    // it: before-hook-creation), one hook pod, which succeeded.
    expect(await helmHistory(ns, 'in-flight')).toEqual([{ revision: 1, chartVersion: '1.0.0', status: 'deployed' }]);
    const after = await batch().readNamespacedJob({ namespace: ns, name: 'in-flight-real-pre' });
    expect(after.metadata?.uid).toBe(job);
    expect(after.status?.succeeded).toBe(1);
    const hookPods = await podsOf(ns, 'app.kubernetes.io/instance=in-flight,planton.test/hook=pre');
    expect(hookPods).toHaveLength(1);
    ranForReal(hookPods[0]!, 0);
    expect(hr.status).toMatchObject({ failures: 0 });
  }, 600_000);

  it('helm uninstall removes the controller and leaves the CRD, the HelmReleases and their Helm releases', async () => {
    await helm(['uninstall', release, '--namespace', records.name, '--wait', '--timeout', '3m'], 200_000);
    await waitFor('the controller pods gone', async () =>
      ((await podsOf(system, '')).length === 0 ? true : undefined), 120_000, 500);
    const crd = await kubectl(['get', 'crd', 'helmreleases.helm.project-planton.org', '-o', 'name']);
    expect(crd.stdout.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/helmreleases.helm.project-planton.org');
    for (const name of ['from-chart', 'in-flight']) {
      const hr = await hrs.get(tenant.name, name);
      expect(hr?.metadata.deletionTimestamp).toBeUndefined();
      expect(condition(hr, 'Ready')?.status).toBe('True');
      expect(await helmHistory(tenant.name, name)).toEqual([{ revision: 1, chartVersion: '1.0.0', status: 'deployed' }]);
      expect((await core().readNamespacedConfigMap({ namespace: tenant.name, name: `${name}-real` })).data?.['message']).toBeDefined();
    }
  }, 300_000);
});
