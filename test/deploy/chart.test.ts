// The controller's own Helm chart (deploy/chart/) against the kustomize manifests, which stay the
// source of truth: `helm template` with the default values, the lockdown values, the lockdown +
// API values and the monitoring values renders, object by object, what `kubectl kustomize`
// renders for deploy/, deploy/lockdown/, deploy/lockdown/ with the deploy/api component and
// deploy/ with deploy/monitoring/ (the cluster's own kubectl and Helm CLI); `helm lint --strict`
// is clean; the values schema refuses wrong values; the chart's CRD, alerting rules and dashboard
// are deploy/'s byte for byte. Then the chart is packaged, pushed to the local OCI registry,
// installed from there into namespaces of this test's own (and a name prefix of its own, so that
// nothing collides with deploy/lockdown/ that identities.test.ts applies to planton-system), its
// objects are checked in the cluster as rendered, and `helm uninstall` leaves the CRD, a
// HelmRelease and the namespace. KWOK fakes the pods: their admission under Pod Security
// `restricted` is real, their containers never run here.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { clusterEnv, type Exit, exitOf, helm, kubeConfig, kubectl, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';
import { crdPath, helmReleases } from '../support/controller.js';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
  [field: string]: unknown;
}

const chartDir = resolve(repoRoot, 'deploy/chart');
const chartCrdPath = resolve(chartDir, 'crds/helmreleases.helm.project-planton.org.yaml');
const lockdownValues = resolve(chartDir, 'ci/lockdown-values.yaml');
const lockdownApiValues = resolve(chartDir, 'ci/lockdown-api-values.yaml');
const monitoringValues = resolve(chartDir, 'ci/monitoring-values.yaml');
const CRD = 'helmreleases.helm.project-planton.org';

/**
 * Every object of a multi-document render. Parsed as YAML 1.1, as the API server receives it
 * from Helm and kubectl (so `defaultMode: 0440` is 288 on both sides).
 */
function objects(text: string): K8sObject[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object' && 'kind' in o);
}

const key = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
const byKey = (os: K8sObject[]) => new Map(os.map((o) => [key(o), o]));

/**
 * The one difference the chart adds on purpose: `helm.sh/resource-policy: keep` on the Namespace,
 * so that `helm uninstall` does not delete the namespace and whatever else lives in it.
 */
function withoutKeepPolicy(o: K8sObject): K8sObject {
  if (o.kind !== 'Namespace' || !o.metadata.annotations) return o;
  const { 'helm.sh/resource-policy': policy, ...rest } = o.metadata.annotations;
  expect(policy).toBe('keep');
  const metadata = { ...o.metadata, annotations: rest };
  if (Object.keys(rest).length === 0) delete (metadata as { annotations?: unknown }).annotations;
  return { ...o, metadata };
}

async function kustomize(dir: string): Promise<K8sObject[]> {
  return objects((await kubectl(['kustomize', dir])).stdout);
}

async function helmTemplate(args: readonly string[]): Promise<K8sObject[]> {
  return objects((await helm(['template', 'planton-helm-controller', chartDir, '--include-crds', ...args])).stdout);
}

/** The Helm CLI of the cluster to its end, whatever its exit code. */
function helmExit(args: readonly string[]): Promise<Exit> {
  const env = clusterEnv();
  return exitOf(env.PLANTON_HELM, args, {
    timeoutMs: 180_000,
    env: { KUBECONFIG: env.KUBECONFIG, HELM_CACHE_HOME: env.HELM_CACHE_HOME, HELM_CONFIG_HOME: env.HELM_CONFIG_HOME, HELM_DATA_HOME: env.HELM_DATA_HOME },
  });
}

/**
 * Where `live` differs from `rendered`, as paths: every field the render sets must be in the live
 * object with the same value (the API server adds defaults, status and Helm's ownership metadata;
 * those are not differences). Lists must have the same length, element by element.
 */
function differences(rendered: unknown, live: unknown, path = ''): string[] {
  if (Array.isArray(rendered)) {
    if (!Array.isArray(live) || live.length !== rendered.length) return [`${path}: ${JSON.stringify(rendered)} rendered, ${JSON.stringify(live)} live`];
    return rendered.flatMap((r, i) => differences(r, live[i], `${path}[${i}]`));
  }
  if (rendered !== null && typeof rendered === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return [`${path}: an object rendered, ${JSON.stringify(live)} live`];
    return Object.entries(rendered).flatMap(([k, v]) => differences(v, (live as Record<string, unknown>)[k], `${path}.${k}`));
  }
  return rendered === live ? [] : [`${path}: ${JSON.stringify(rendered)} rendered, ${JSON.stringify(live)} live`];
}

describe('the chart renders exactly the kustomize manifests', () => {
  let dir: string;

  beforeAll(() => {
    mkdirSync(resolve(repoRoot, '.build'), { recursive: true });
    dir = mkdtempSync(join(repoRoot, '.build', 'chart-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** deploy/lockdown with the deploy/api component, as a user's own kustomization combines them. */
  function lockdownWithApi(): string {
    const root = relative(join(dir, 'with-api'), repoRoot);
    mkdirSync(join(dir, 'with-api'), { recursive: true });
    writeFileSync(join(dir, 'with-api', 'kustomization.yaml'), `resources:\n  - ${root}/deploy/lockdown\ncomponents:\n  - ${root}/deploy/api\n`);
    return join(dir, 'with-api');
  }

  /** deploy/ and deploy/monitoring, as `kubectl apply -k` of one after the other installs them. */
  function withMonitoring(): string {
    const root = relative(join(dir, 'with-monitoring'), repoRoot);
    mkdirSync(join(dir, 'with-monitoring'), { recursive: true });
    writeFileSync(join(dir, 'with-monitoring', 'kustomization.yaml'), `resources:\n  - ${root}/deploy\n  - ${root}/deploy/monitoring\n`);
    return join(dir, 'with-monitoring');
  }

  it.each([
    { name: 'default values = deploy/', kustomization: () => resolve(repoRoot, 'deploy'), values: [] as string[] },
    { name: 'ci/lockdown-values.yaml = deploy/lockdown/', kustomization: () => resolve(repoRoot, 'deploy/lockdown'), values: ['-f', lockdownValues] },
    { name: 'ci/lockdown-api-values.yaml = deploy/lockdown/ + deploy/api', kustomization: lockdownWithApi, values: ['-f', lockdownApiValues] },
    { name: 'ci/monitoring-values.yaml = deploy/ + deploy/monitoring/', kustomization: withMonitoring, values: ['-f', monitoringValues] },
  ])('$name', async ({ kustomization, values }) => {
    const expected = byKey(await kustomize(kustomization()));
    // The release's namespace only says where Helm keeps its record: the objects stay in namespace.name.
    const rendered = byKey((await helmTemplate(['--namespace', 'helm-records', ...values])).map(withoutKeepPolicy));
    expect([...rendered.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [k, object] of expected) expect(rendered.get(k), k).toEqual(object);
  });

  it('the CRD in crds/ is deploy/crds’ byte for byte (deploy/chart/sync-crds.sh copies it)', () => {
    expect(readFileSync(chartCrdPath, 'utf8') === readFileSync(crdPath, 'utf8'), 'deploy/chart/crds/ differs from deploy/crds/: run deploy/chart/sync-crds.sh').toBe(true);
  });

  it.each([
    { copy: 'files/planton-helm.rules.yaml', source: 'deploy/monitoring/rules/planton-helm.rules.yaml' },
    { copy: 'files/planton-helm.json', source: 'deploy/monitoring/grafana/planton-helm.json' },
  ])('$copy is $source byte for byte (deploy/chart/sync-crds.sh copies it)', ({ copy, source }) => {
    const same = readFileSync(resolve(chartDir, copy)).equals(readFileSync(resolve(repoRoot, source)));
    expect(same, `deploy/chart/${copy} differs from ${source}: run deploy/chart/sync-crds.sh`).toBe(true);
  });

  it('namePrefix and namespace.name rename every object and every reference to one', async () => {
    const ms = await helmTemplate(['-f', lockdownApiValues, '--set', 'namePrefix=acme', '--set', 'namespace.name=acme-system']);
    const names = ms.filter((m) => m.kind !== 'CustomResourceDefinition').map(key).sort();
    expect(names).toEqual([
      'ClusterRole acme-api',
      'ClusterRole acme-controller',
      'ClusterRole acme-runner-impersonate',
      'ClusterRoleBinding acme-api',
      'ClusterRoleBinding acme-controller',
      'ClusterRoleBinding acme-runner-impersonate',
      'Deployment acme-system/acme-controller',
      'Namespace acme-system',
      'PodDisruptionBudget acme-system/acme-controller',
      'Role acme-system/acme-controller-leader-election',
      'RoleBinding acme-system/acme-controller-leader-election',
      'Secret acme-system/acme-reconciler-token',
      'Service acme-system/acme-api',
      'ServiceAccount acme-system/acme-reconciler',
      'ServiceAccount acme-system/acme-runner',
    ]);
    // No name of the default installation is left anywhere (subjects, roleRefs, volumes, annotations).
    const text = JSON.stringify(ms.filter((m) => m.kind !== 'CustomResourceDefinition'));
    expect(text).not.toMatch(/planton-system|planton-helm-(runner|reconciler|controller-leader|api")/);
  });

  it('the monitoring objects follow namePrefix, namespace.name, the metrics ports and their values', async () => {
    const ms = await helmTemplate([
      '-f', monitoringValues, '--set', 'namePrefix=acme', '--set', 'namespace.name=acme-system',
      '--set', 'metrics.port=9090', '--set', 'metrics.runnerPort=9100',
      '--set', 'monitoring.podMonitor.interval=1m', '--set', 'monitoring.podMonitor.labels.release=kube-prometheus-stack',
      '--set', 'monitoring.prometheusRule.labels.release=kube-prometheus-stack',
      '--set', 'monitoring.networkPolicy.prometheusNamespace=observability',
      '--set', 'monitoring.networkPolicy.prometheusPodSelector.matchLabels.app\\.kubernetes\\.io/name=null',
      '--set', 'monitoring.networkPolicy.prometheusPodSelector.matchLabels.app=prometheus',
      '--set', 'monitoring.grafanaDashboard.labels.grafana_folder=Platform',
    ]);
    const monitoring = byKey(ms.filter((m) => ['PodMonitor', 'PrometheusRule', 'NetworkPolicy', 'ConfigMap'].includes(m.kind)));
    expect([...monitoring.keys()].sort()).toEqual([
      'ConfigMap acme-system/acme-dashboard',
      'NetworkPolicy acme-system/acme-controller-metrics',
      'PodMonitor acme-system/acme-controller',
      'PrometheusRule acme-system/acme-controller',
    ]);
    const selector = { matchLabels: { 'app.kubernetes.io/name': 'planton-helm-controller' } };
    const podMonitor = monitoring.get('PodMonitor acme-system/acme-controller');
    expect(podMonitor?.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'planton-helm-controller', release: 'kube-prometheus-stack' });
    expect(podMonitor?.['spec']).toMatchObject({ selector, podMetricsEndpoints: [{ port: 'http', interval: '1m' }, { port: 'metrics', interval: '1m' }] });
    expect(monitoring.get('PrometheusRule acme-system/acme-controller')?.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'planton-helm-controller', release: 'kube-prometheus-stack' });
    expect(monitoring.get('ConfigMap acme-system/acme-dashboard')?.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'planton-helm-controller', grafana_dashboard: '1', grafana_folder: 'Platform' });
    // Prometheus alone reaches the two metrics ports; every other port stays open.
    expect(monitoring.get('NetworkPolicy acme-system/acme-controller-metrics')?.['spec']).toEqual({
      podSelector: selector,
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: { matchLabels: { app: 'prometheus' } } }],
          ports: [{ protocol: 'TCP', port: 9090 }, { protocol: 'TCP', port: 9100 }],
        },
        {
          ports: [
            { protocol: 'TCP', port: 1, endPort: 9089 },
            { protocol: 'TCP', port: 9091, endPort: 9099 },
            { protocol: 'TCP', port: 9101, endPort: 65535 },
          ],
        },
      ],
    });
  });

  it('the values reach the flags they name', async () => {
    const ms = await helmTemplate([
      '--set', 'replicas=3',
      '--set', 'reconciler.image.repository=registry.example/planton/helm-reconciler', '--set', 'reconciler.image.tag=1.2.3', '--set', 'reconciler.image.pullPolicy=Always',
      '--set', 'runner.image.tag=1.2.4',
      '--set', 'tenancy.controllerIdentityNamespaces={platform,ops}',
      '--set', 'api.enabled=true', '--set', 'api.port=10443', '--set', 'api.tokenAudiences={planton}', '--set', 'api.maxWatches=50',
      '--set', 'metrics.port=9090', '--set', 'metrics.prometheusAnnotations=false',
      '--set', 'reconciler.extraArgs={--watch-namespace=team-a}',
      '--set', 'nodeSelector.pool=system',
    ]);
    const deployment = ms.find((m) => m.kind === 'Deployment') as unknown as {
      spec: { replicas: number; template: { metadata: { annotations?: Record<string, string> }; spec: { nodeSelector: Record<string, string>; containers: { image: string; imagePullPolicy: string; args: string[]; ports: { name: string; containerPort: number }[] }[]; initContainers: { image: string }[] } } };
    };
    const pod = deployment.spec.template.spec;
    const reconciler = pod.containers[0];
    expect(deployment.spec.replicas).toBe(3);
    expect(reconciler?.image).toBe('registry.example/planton/helm-reconciler:1.2.3');
    expect(reconciler?.imagePullPolicy).toBe('Always');
    expect(pod.initContainers[0]?.image).toBe('planton/helm-runner:1.2.4');
    expect(reconciler?.args).toEqual([
      '--runner-address=unix:///var/run/helm-runner/runner.sock',
      '--http-addr=:9090',
      '--leader-elect=true',
      '--shutdown-grace=30s',
      '--log-level=info',
      '--controller-identity-namespaces=platform,ops',
      '--api-addr=:10443',
      '--api-tls-cert=/var/run/planton-helm-api-tls/tls.crt',
      '--api-tls-key=/var/run/planton-helm-api-tls/tls.key',
      '--api-token-audiences=planton',
      '--api-max-watches=50',
      '--watch-namespace=team-a',
    ]);
    expect(reconciler?.ports).toEqual([
      { name: 'http', containerPort: 9090, protocol: 'TCP' },
      { name: 'grpc', containerPort: 10443, protocol: 'TCP' },
    ]);
    expect(deployment.spec.template.metadata.annotations).toBeUndefined();
    expect(pod.nodeSelector).toEqual({ pool: 'system' });
  });

  it.each([
    { values: ['--values', lockdownValues], what: 'the lockdown values' },
    { values: ['--values', lockdownApiValues], what: 'the lockdown + API values' },
    { values: ['--values', monitoringValues], what: 'the monitoring values' },
    { values: [], what: 'the default values' },
  ])('helm lint --strict is clean with $what', async ({ values }) => {
    const lint = await helmExit(['lint', '--strict', chartDir, ...values]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(lint.stdout + lint.stderr).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it.each([
    { set: ['--set-string', 'replicas=2'], message: "at '/replicas': got string, want integer" },
    { set: ['--set', 'replicas=two'], message: "at '/replicas': got string, want integer" },
    { set: ['--set', 'replica=2'], message: "at '': additional properties 'replica' not allowed" },
    { set: ['--set', 'runner.imag.tag=1.0.0'], message: "at '/runner': additional properties 'imag' not allowed" },
    { set: ['--set', 'runner.image.pullPolicy=Sometimes'], message: "at '/runner/image/pullPolicy': value must be one of '', 'Always', 'IfNotPresent', 'Never'" },
    { set: ['--set', 'reconciler.logLevel=verbose'], message: "at '/reconciler/logLevel': value must be one of 'debug', 'info', 'warn', 'error'" },
    { set: ['--set-string', 'api.enabled=yes'], message: "at '/api/enabled': got string, want boolean" },
    { set: ['--set', 'namespace.name=Planton_System'], message: "at '/namespace/name'" },
    { set: ['--set', 'runner.maxCacheBytes=lots'], message: "at '/runner/maxCacheBytes'" },
    { set: ['--set', 'podDisruptionBudget.maxUnavailable=lots'], message: "at '/podDisruptionBudget/maxUnavailable'" },
    { set: ['--set', 'monitoring.podMonitor.enable=true'], message: "at '/monitoring/podMonitor': additional properties 'enable' not allowed" },
    { set: ['--set-string', 'monitoring.networkPolicy.enabled=yes'], message: "at '/monitoring/networkPolicy/enabled': got string, want boolean" },
    { set: ['--set', 'monitoring.podMonitor.interval=30 seconds'], message: "at '/monitoring/podMonitor/interval'" },
  ].map((c) => ({ ...c, flags: c.set.join(' ') })))('the schema refuses $flags', async ({ set, message }) => {
    const out = await helmExit(['template', 'planton-helm-controller', chartDir, ...set]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(out.stderr).toContain(message);
  });
});

describe('installed with helm install from the local OCI registry, then uninstalled', () => {
  const id = Math.random().toString(36).slice(2, 8);
  // Cluster-wide names get a prefix of their own and the namespaced objects a namespace of their
  // own: deploy/lockdown/ (identities.test.ts) keeps planton-system and the planton-helm-* names.
  const prefix = `chart-${id}`;
  const system = `chart-system-${id}`;
  const release = 'planton-helm-controller';
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  let dir: string;
  let records: { name: string; cleanup: () => Promise<void> };
  let tenant: { name: string; cleanup: () => Promise<void> };
  let chartRef: string;
  let values: string[];
  let crdExistedBefore: boolean;

  /** Helm's release Secrets in the release's namespace, by name ('' when there are none). */
  const releaseRecords = async () => (await kubectl(['get', 'secrets', '--namespace', records.name, '--selector', 'owner=helm', '-o', 'name'])).stdout.trim();

  beforeAll(async () => {
    mkdirSync(resolve(repoRoot, '.build'), { recursive: true });
    dir = mkdtempSync(join(repoRoot, '.build', 'chart-install-'));
    records = await tempNamespace('chart-release');
    tenant = await tempNamespace('chart-tenant');
    values = ['--values', lockdownApiValues, '--set', `namePrefix=${prefix}`, '--set', `namespace.name=${system}`];
    await helm(['package', chartDir, '--destination', dir]);
    await helm(['push', join(dir, 'planton-helm-controller-0.1.0.tgz'), clusterEnv().PLANTON_OCI_REPO, '--plain-http']);
    chartRef = `${clusterEnv().PLANTON_OCI_REPO}/planton-helm-controller`;
    crdExistedBefore = (await kubectl(['get', 'crd', CRD, '--ignore-not-found', '-o', 'name'])).stdout.trim() !== '';
  }, 120_000);

  afterAll(async () => {
    await helmExit(['uninstall', release, '--namespace', records.name]);
    await kubectl(['delete', 'clusterrole,clusterrolebinding', `${prefix}-controller`, `${prefix}-api`, `${prefix}-runner-impersonate`, '--ignore-not-found']).catch(() => undefined);
    await core.deleteNamespace({ name: system }).catch(() => undefined);
    await tenant?.cleanup();
    await records?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the published chart carries the CRD of deploy/crds', async () => {
    const { stdout } = await helm(['show', 'crds', chartRef, '--version', '0.1.0', '--plain-http']);
    expect(objects(stdout)).toEqual(objects(readFileSync(crdPath, 'utf8')));
  });

  it('a wrong value fails helm install before anything is written', async () => {
    const out = await helmExit(['install', release, chartRef, '--version', '0.1.0', '--plain-http', '--namespace', records.name, ...values, '--set', 'replicas=two']);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("at '/replicas': got string, want integer");
    expect(await releaseRecords()).toBe('');
    expect((await kubectl(['get', 'namespace', system, '--ignore-not-found', '-o', 'name'])).stdout.trim()).toBe('');
  });

  it('helm install creates every object as rendered; Pod Security restricted admits the pods', async () => {
    await helm(['install', release, chartRef, '--version', '0.1.0', '--plain-http', '--namespace', records.name, ...values]);
    const manifest = (await helm(['get', 'manifest', release, '--namespace', records.name])).stdout;
    const rendered = objects(manifest);
    expect(rendered.map(key).sort()).toEqual(
      [
        `ClusterRole ${prefix}-api`, `ClusterRole ${prefix}-controller`, `ClusterRole ${prefix}-runner-impersonate`,
        `ClusterRoleBinding ${prefix}-api`, `ClusterRoleBinding ${prefix}-controller`, `ClusterRoleBinding ${prefix}-runner-impersonate`,
        `Deployment ${system}/${prefix}-controller`, `Namespace ${system}`, `PodDisruptionBudget ${system}/${prefix}-controller`,
        `Role ${system}/${prefix}-controller-leader-election`, `RoleBinding ${system}/${prefix}-controller-leader-election`,
        `Secret ${system}/${prefix}-reconciler-token`, `Service ${system}/${prefix}-api`,
        `ServiceAccount ${system}/${prefix}-reconciler`, `ServiceAccount ${system}/${prefix}-runner`,
      ].sort(),
    );
    // What was installed is what helm template renders with the same values.
    expect(byKey(rendered)).toEqual(byKey((await helmTemplate([...values])).filter((o) => o.kind !== 'CustomResourceDefinition')));
    const file = join(dir, 'manifest.yaml');
    writeFileSync(file, manifest);
    const live = byKey((JSON.parse((await kubectl(['get', '--filename', file, '--output', 'json'])).stdout) as { items: K8sObject[] }).items);
    for (const object of rendered) {
      const found = live.get(key(object));
      expect(found, key(object)).toBeDefined();
      expect(differences(object, found), key(object)).toEqual([]);
      // Helm's ownership metadata is on the cluster's objects only, never in the render.
      expect(found?.metadata.labels?.['app.kubernetes.io/managed-by'], key(object)).toBe('Helm');
      expect(found?.metadata.annotations?.['meta.helm.sh/release-namespace'], key(object)).toBe(records.name);
    }
    expect((await kubectl(['get', 'crd', CRD, '-o', 'name'])).stdout.trim()).toBe(`customresourcedefinition.apiextensions.k8s.io/${CRD}`);
    // The token Secret names the renamed ServiceAccount: the cluster's token controller fills it.
    await waitFor('the reconciler’s token Secret to be filled', async () => {
      const s = await core.readNamespacedSecret({ namespace: system, name: `${prefix}-reconciler-token` });
      return s.data?.['token'] ? true : undefined;
    }, 60_000, 500);

    // The ReplicaSet's pods pass admission in a namespace that enforces restricted (and a pod that
    // does not comply is refused there); KWOK then fakes their containers.
    const pods = await waitFor('the Deployment’s two pods', async () => {
      const list = await core.listNamespacedPod({ namespace: system, labelSelector: 'app.kubernetes.io/name=planton-helm-controller' });
      return list.items.length === 2 ? list.items : undefined;
    }, 60_000, 500);
    expect(pods.map((p) => p.spec?.serviceAccountName)).toEqual([`${prefix}-runner`, `${prefix}-runner`]);
    const refused = await exitOf(clusterEnv().PLANTON_KUBECTL, ['run', 'not-restricted', '--namespace', system, '--image', 'planton/helm-runner:0.1.0', '--dry-run=server'], {
      env: { KUBECONFIG: clusterEnv().KUBECONFIG },
      timeoutMs: 60_000,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "restricted:latest"');
  });

  it('helm uninstall removes the chart’s objects and leaves the CRD, a HelmRelease and the namespace', async () => {
    const crdUid = (await kubectl(['get', 'crd', CRD, '-o', 'jsonpath={.metadata.uid}'])).stdout;
    const hrs = helmReleases();
    await hrs.create(tenant.name, 'app', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0' });
    const before = await hrs.get(tenant.name, 'app');

    const out = await helm(['uninstall', release, '--namespace', records.name]);
    expect(out.stdout + out.stderr).toMatch(/kept due to the resource policy[\s\S]*Namespace/);
    expect(out.stdout).toContain(`release "${release}" uninstalled`);

    await waitFor('the chart’s objects to be gone', async () => {
      const left = (await kubectl([
        'get', `clusterrole/${prefix}-controller`, `clusterrole/${prefix}-api`, `clusterrolebinding/${prefix}-runner-impersonate`,
        `deployment/${prefix}-controller`, `serviceaccount/${prefix}-runner`, `service/${prefix}-api`,
        '--namespace', system, '--ignore-not-found', '-o', 'name',
      ])).stdout.trim();
      return left === '' ? true : undefined;
    }, 60_000, 500);
    expect(await releaseRecords()).toBe('');

    expect((await kubectl(['get', 'crd', CRD, '-o', 'jsonpath={.metadata.uid}'])).stdout).toBe(crdUid);
    const after = await hrs.get(tenant.name, 'app');
    expect(after?.metadata.uid).toBe(before?.metadata.uid);
    expect(after?.metadata.deletionTimestamp).toBeUndefined();
    expect(after?.spec).toEqual(before?.spec);
    const ns = await core.readNamespace({ name: system });
    expect(ns.status?.phase).toBe('Active');
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // Shared cluster: the CRD is usually there before this test (other suites apply it), and Helm
    // then skips crds/; on a fresh cluster helm install created it. uninstall never deletes it.
    console.log(`chart test: the CRD ${crdExistedBefore ? 'existed before helm install (crds/ skipped)' : 'was created by helm install from crds/'}`);
  });
});
