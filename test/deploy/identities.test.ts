// The in-cluster manifests give the reconciler and helm-runner separate least-privilege
// identities, and those identities suffice: deploy/ and deploy/lockdown/ are rendered with the
// cluster's own kubectl, the lockdown overlay is applied to the local control plane for real, and
// then the real reconciler and runner run with the tokens of exactly those ServiceAccounts (the
// reconciler's from the token Secret the manifests create, as its container mounts it) and the
// reconciler's arguments from the Deployment, and install a tenant's release as the tenant.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { clusterEnv, kubeConfig, kubectl, namespaceAdmin, repoRoot, tempNamespace, tokenKubeconfig, waitFor } from '../support/cluster.js';
import { condition, helmReleases, installCrd, type RunningController, startController, waitForCondition } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';
import { apiClient, type ApiController, apiTls, type ApiTls, grantHelmReleases, rpc, serviceAccountToken, startApiController } from '../support/api.js';
import type { HelmReleaseServiceClient } from '../../src/gen/planton/helm/v1/helm_release_service.js';

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [k: string]: unknown;
}

const SYSTEM = 'planton-system';
const RUNNER_SA = `system:serviceaccount:${SYSTEM}:planton-helm-runner`;
const RECONCILER_SA = `system:serviceaccount:${SYSTEM}:planton-helm-reconciler`;

async function render(dir: string): Promise<Manifest[]> {
  const { stdout } = await kubectl(['kustomize', resolve(repoRoot, dir)]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
}

type Container = { name: string; args?: string[]; volumeMounts?: { name: string; mountPath: string }[] };
type PodSpec = {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  initContainers: Container[];
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string }; projected?: { sources: Record<string, unknown>[] } }[];
};
const podSpec = (ms: Manifest[]) => (ms.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const tokenVolume = (spec: PodSpec, container: Container) => {
  const mount = container.volumeMounts?.find((v) => v.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount');
  return spec.volumes.find((v) => v.name === mount?.name);
};
/** `kind/name → subject` of every (Cluster)RoleBinding. */
const bindings = (ms: Manifest[]) =>
  ms
    .filter((m) => m.kind === 'ClusterRoleBinding' || m.kind === 'RoleBinding')
    .map((m) => {
      const b = m as unknown as { roleRef: { kind: string; name: string }; subjects: { name: string }[] };
      return `${b.roleRef.kind}/${b.roleRef.name} → ${b.subjects.map((s) => s.name).join(',')}`;
    })
    .sort();

/**
 * deploy/lockdown applied for real; the tokens of its two identities (the reconciler's as its
 * container reads it, from the Secret the token controller fills); and a tenant namespace with
 * a `helm-deployer` ServiceAccount bound to `admin` there.
 */
async function lockdownApplied(prefix: string) {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await kubectl(['apply', '--server-side', '--force-conflicts', '-k', resolve(repoRoot, 'deploy/lockdown')], 120_000);
  const reconcilerToken = await waitFor('the reconciler token Secret to be filled', async () => {
    const s = await core.readNamespacedSecret({ namespace: SYSTEM, name: 'planton-helm-reconciler-token' });
    const t = s.data?.['token'];
    return t ? Buffer.from(t, 'base64').toString('utf8') : undefined;
  }, 60_000, 500);
  const runnerToken = (await kubectl(['create', 'token', 'planton-helm-runner', '--namespace', SYSTEM, '--duration', '1h'])).stdout.trim();
  const tenant = await tempNamespace(prefix);
  await namespaceAdmin(tenant.name, 'helm-deployer');
  return { reconcilerToken, runnerToken, tenant };
}

describe('the manifests', () => {
  it.each(['deploy', 'deploy/lockdown'])('%s: each container mounts its own identity, nothing is automounted', async (dir) => {
    const spec = podSpec(await render(dir));
    expect(spec.serviceAccountName).toBe('planton-helm-runner');
    expect(spec.automountServiceAccountToken).toBe(false);
    const runner = spec.initContainers.find((c) => c.name === 'helm-runner');
    const reconciler = spec.containers.find((c) => c.name === 'reconciler');
    if (!runner || !reconciler) throw new Error('containers helm-runner and reconciler expected');
    expect(tokenVolume(spec, runner)?.projected?.sources.some((s) => 'serviceAccountToken' in s)).toBe(true);
    expect(tokenVolume(spec, reconciler)?.secret?.secretName).toBe('planton-helm-reconciler-token');
  });

  it('deploy/: the runner is cluster-admin, the reconciler holds only its own roles', async () => {
    expect(bindings(await render('deploy'))).toEqual([
      'ClusterRole/cluster-admin → planton-helm-runner',
      'ClusterRole/planton-helm-controller → planton-helm-reconciler',
      'Role/planton-helm-controller-leader-election → planton-helm-reconciler',
    ]);
  });

  it('deploy/lockdown/: the runner may only impersonate; the reconciler runs with a default ServiceAccount and no cross-namespace references', async () => {
    const ms = await render('deploy/lockdown');
    expect(bindings(ms)).toEqual([
      'ClusterRole/planton-helm-controller → planton-helm-reconciler',
      'ClusterRole/planton-helm-runner-impersonate → planton-helm-runner',
      'Role/planton-helm-controller-leader-election → planton-helm-reconciler',
    ]);
    const args = podSpec(ms).containers.find((c) => c.name === 'reconciler')?.args ?? [];
    expect(args).toEqual(expect.arrayContaining(['--default-service-account=helm-deployer', '--no-cross-namespace-refs']));
  });
});

describe('deploy/lockdown/ applied to the cluster, its identities running the controller', () => {
  let dir: string;
  let tenant: string;
  let cleanup: (() => Promise<void>) | undefined;
  let runner: RunningRunner;
  let controller: RunningController;
  const shard = `identities-${Math.random().toString(36).slice(2, 8)}`;
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);

  const kubeconfigWith = (token: string, name: string) => tokenKubeconfig(token, join(dir, `${name}.kubeconfig`));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hr-identities-'));
    await Promise.all([buildRunner(), installCrd()]);
    const { reconcilerToken, runnerToken, tenant: made } = await lockdownApplied('tenant-id');
    tenant = made.name;
    cleanup = made.cleanup;
    runner = await startRunner({ extraArgs: ['--kubeconfig', await kubeconfigWith(runnerToken, 'runner')] });
    // The Deployment's own reconciler arguments, with this machine's addresses and a shard.
    const manifestArgs = podSpec(await render('deploy/lockdown')).containers.find((c) => c.name === 'reconciler')?.args ?? [];
    const tenancyArgs = manifestArgs.filter((a) => a.startsWith('--default-service-account') || a === '--no-cross-namespace-refs');
    controller = await startController({
      runnerSocket: runner.socket,
      namespace: '',
      args: [
        ...tenancyArgs,
        '--kubeconfig', await kubeconfigWith(reconcilerToken, 'reconciler'),
        '--watch-namespace', '',
        '--label-selector', `planton-test=${shard}`,
      ],
    });
  }, 300_000);

  afterAll(async () => {
    await controller?.stop();
    await runner?.stop();
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('neither identity can do the other’s job (SubjectAccessReview as the API server answers it)', async () => {
    const can = async (as: string, verb: string, resource: string, ns: string) =>
      (await kubectl(['auth', 'can-i', verb, resource, '--namespace', ns, '--as', as]).then((r) => r.stdout.trim(), (e: { stdout?: string }) => (e.stdout ?? '').trim())) === 'yes';
    expect(await can(RUNNER_SA, 'get', 'secrets', tenant)).toBe(false);
    expect(await can(RUNNER_SA, 'create', 'deployments', tenant)).toBe(false);
    expect(await can(RUNNER_SA, 'impersonate', 'serviceaccounts', tenant)).toBe(true);
    expect(await can(RECONCILER_SA, 'create', 'deployments', tenant)).toBe(false);
    expect(await can(RECONCILER_SA, 'impersonate', 'serviceaccounts', tenant)).toBe(false);
    expect(await can(RECONCILER_SA, 'patch', 'helmreleases.helm.project-planton.org/status', tenant)).toBe(true);
  });

  it('a tenant’s HelmRelease naming no ServiceAccount is installed as the tenant’s helm-deployer', async () => {
    const hrs = helmReleases();
    await hrs.create(tenant, 'app', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s' }, { labels: { 'planton-test': shard } });
    const hr = await waitForCondition(tenant, 'app', 'Ready', 'True', 120_000);
    expect(hr.status?.release).toMatchObject({ namespace: tenant, revision: 1, status: 'deployed' });
    expect(condition(hr, 'Released')?.reason).toBe('InstallSucceeded');
    // The runner's own identity may not create ConfigMaps or read Secrets there (above): the
    // chart's objects and Helm's storage exist because it acted as the tenant's helm-deployer.
    const cm = await core.readNamespacedConfigMap({ namespace: tenant, name: 'app-plain' });
    expect(cm.metadata?.labels?.['app.kubernetes.io/instance']).toBe('app');
    await hrs.delete(tenant, 'app');
    await waitFor('app deleted', async () => ((await hrs.get(tenant, 'app')) === undefined ? true : undefined), 120_000, 500);
  });
});

describe('deploy/api/: the API component on deploy/lockdown/, served with the reconciler’s own token', () => {
  let dir: string;
  let tenant: string;
  let cleanup: (() => Promise<void>) | undefined;
  let runner: RunningRunner;
  let controller: ApiController;
  let tls: ApiTls;
  let client: HelmReleaseServiceClient | undefined;
  const shard = `identities-api-${Math.random().toString(36).slice(2, 8)}`;

  /** deploy/lockdown with the deploy/api component, as a user's own kustomization would combine them. */
  async function renderWithApi(): Promise<Manifest[]> {
    const root = relative(dir, repoRoot);
    const k = join(dir, 'with-api');
    mkdirSync(k, { recursive: true });
    writeFileSync(join(k, 'kustomization.yaml'), `resources:\n  - ../${root}/deploy/lockdown\ncomponents:\n  - ../${root}/deploy/api\n`);
    const { stdout } = await kubectl(['kustomize', k]);
    return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
  }

  beforeAll(async () => {
    mkdirSync(join(repoRoot, '.build'), { recursive: true });
    dir = mkdtempSync(join(repoRoot, '.build', 'identities-api-'));
    await Promise.all([buildRunner(), installCrd()]);
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', resolve(repoRoot, 'deploy/api/rbac.yaml')]);
    const { reconcilerToken, runnerToken, tenant: made } = await lockdownApplied('tenant-api');
    tenant = made.name;
    cleanup = made.cleanup;
    await grantHelmReleases(tenant, 'pipeline', ['get', 'list', 'watch', 'create', 'patch', 'delete']);
    tls = await apiTls();
    runner = await startRunner({ extraArgs: ['--kubeconfig', await tokenKubeconfig(runnerToken, join(dir, 'runner.kubeconfig'))] });
    const args = podSpec(await renderWithApi()).containers.find((c) => c.name === 'reconciler')?.args ?? [];
    controller = await startApiController({
      runnerSocket: runner.socket,
      namespace: '',
      tls,
      args: [
        ...args.filter((a) => a.startsWith('--default-service-account') || a === '--no-cross-namespace-refs'),
        '--kubeconfig', await tokenKubeconfig(reconcilerToken, join(dir, 'reconciler.kubeconfig')),
        '--watch-namespace', '',
        '--label-selector', `planton-test=${shard}`,
      ],
    });
  }, 300_000);

  afterAll(async () => {
    client?.close();
    await controller?.stop();
    await runner?.stop();
    await cleanup?.();
    tls?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds exactly TokenReview, SubjectAccessReview and HelmRelease create/delete to the reconciler, and the API to the Deployment', async () => {
    const ms = await renderWithApi();
    expect(bindings(ms)).toEqual([
      'ClusterRole/planton-helm-api → planton-helm-reconciler',
      'ClusterRole/planton-helm-controller → planton-helm-reconciler',
      'ClusterRole/planton-helm-runner-impersonate → planton-helm-runner',
      'Role/planton-helm-controller-leader-election → planton-helm-reconciler',
    ]);
    const role = ms.find((m) => m.kind === 'ClusterRole' && m.metadata.name === 'planton-helm-api') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    expect(role.rules).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      { apiGroups: ['helm.project-planton.org'], resources: ['helmreleases'], verbs: ['create', 'delete'] },
    ]);
    const reconciler = podSpec(ms).containers.find((c) => c.name === 'reconciler');
    expect(reconciler?.args).toEqual(expect.arrayContaining(['--api-addr=:9443', '--api-tls-cert=/var/run/planton-helm-api-tls/tls.crt']));
    expect(podSpec(ms).volumes.find((v) => v.name === 'api-tls')?.secret?.secretName).toBe('planton-helm-api-tls');
    expect(ms.find((m) => m.kind === 'Service' && m.metadata.name === 'planton-helm-api')).toBeDefined();
    // Without the component the reconciler has none of it.
    expect(bindings(await render('deploy/lockdown'))).not.toContain('ClusterRole/planton-helm-api → planton-helm-reconciler');
  });

  it('a tenant’s pipeline applies, lists, reads and deletes its HelmRelease through the API; the reconciler’s token suffices', async () => {
    client = apiClient(controller.apiAddress, tls.ca, await serviceAccountToken(tenant, 'pipeline'));
    const api = rpc(client);
    const applied = await api.apply({
      namespace: tenant,
      name: 'app',
      labels: { 'planton-test': shard },
      spec: { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', valuesFrom: [], releaseName: '', targetNamespace: '', createNamespace: false, dependsOn: [], serviceAccountName: '', suspend: false, deletionPolicy: 0 },
      fieldManager: '',
      force: false,
      dryRun: false,
    });
    expect(applied.created).toBe(true);
    await waitForCondition(tenant, 'app', 'Ready', 'True', 120_000);
    const listed = await api.list({ namespace: '', labelSelector: '', pageSize: 0, pageToken: '' });
    expect(listed.helmReleases.map((h) => `${h.namespace}/${h.name}`)).toEqual([`${tenant}/app`]);
    const history = await api.history({ namespace: tenant, name: 'app', limit: 0 });
    expect(history.revisions.map((r) => r.status)).toEqual(['deployed']);
    const deleted = await api.delete({ namespace: tenant, name: 'app', uid: applied.helmRelease?.uid ?? '', resourceVersion: '', dryRun: false });
    expect(deleted.helmRelease?.deletionTime).toBeInstanceOf(Date);
    await waitFor('app deleted', async () => ((await helmReleases().get(tenant, 'app')) === undefined ? true : undefined), 120_000, 500);
    expect(controller.logs()).not.toMatch(/"level":"error"/);
  });
});
