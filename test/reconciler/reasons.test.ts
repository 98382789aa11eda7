// Condition and event reasons end to end, on the local control plane with the real runner and
// controller: each test makes one reason happen the way a user would meet it (a repository that
// is down, a chart the cluster refuses, an operation that does not finish, a remediation or an
// uninstall that fails, a state that ends well) and asserts what the user reads: the condition's
// type, status, reason and message, whether it stalls, and the event. docs/reasons.md maps every
// reason to the test that produces it; the reasons other suites produce are not repeated here.
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, kubectl, tempNamespace, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  type HelmReleaseView,
  metricValue,
  type RunningController,
  startController,
  useController,
  waitForCondition,
  requestReconcile,
  watchConditions,
} from '../support/controller.js';
import { type RunningRunner, runnerApi, startRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const hrs = helmReleases();

let ns: string;
let runner: RunningRunner;
let controller: RunningController;

useController('hr-reasons', (suite) => ({ ns, runner, controller } = suite));

const chart = (name: string, extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name, version: '1.0.0', timeout: '60s', ...extra });
const plain = (extra: Record<string, unknown> = {}) => chart('plain', extra);
const unschedulable = { nodeSelector: { 'planton.test/never': 'true' } };

const releaseSecrets = async (namespace: string, release: string) =>
  (await core.listNamespacedSecret({ namespace, labelSelector: `owner=helm,name=${release}` })).items;
const configMapExists = (name: string) => core.readNamespacedConfigMap({ namespace: ns, name }).then(() => true, () => false);

/** `[revision, status]` of every revision of a release, newest first, as the Helm CLI lists them; [] when none. */
async function helmHistory(release: string): Promise<[number, string][]> {
  const res = await helm(['history', release, '--namespace', ns, '--output', 'json']).catch(() => undefined);
  if (!res) return [];
  return (JSON.parse(res.stdout) as { revision: number; status: string }[]).map((r): [number, string] => [r.revision, r.status]).sort((a, b) => b[0] - a[0]);
}

/** The first event of `name` with `reason`, waiting for it. */
const eventOf = (name: string, reason: string, timeoutMs = 120_000) =>
  waitFor(`a ${reason} event of ${name}`, async () => (await eventsFor(ns, name)).find((e) => e.reason === reason), timeoutMs, 500);

/** Asks for a reconcile now (the request annotation) and waits until the controller reports it handled. */
async function reconcileNow(name: string): Promise<HelmReleaseView> {
  const at = await requestReconcile(ns, name);
  return waitFor(`${name} to handle the reconcile request of ${at}`, async () => {
    const hr = await hrs.get(ns, name);
    return hr?.status?.lastHandledReconcileTime === at ? hr : undefined;
  }, 60_000, 250);
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * A chart repository in front of the local HTTP repository whose index.yaml is held back until
 * open() is called: what a slow repository looks like to a runner in the middle of an install.
 * The index names the charts by their absolute URLs, so archives come from the real repository.
 */
async function heldRepository(upstream: string): Promise<{ url: string; indexRequested: Promise<void>; open(): void; close(): Promise<void> }> {
  let open!: () => void;
  const opened = new Promise<void>((ok) => (open = ok));
  let requested!: () => void;
  const indexRequested = new Promise<void>((ok) => (requested = ok));
  const server: Server = createHttpServer((req: IncomingMessage, res) => {
    if (req.url !== '/index.yaml') {
      res.writeHead(404).end();
      return;
    }
    requested();
    void opened
      .then(() => fetch(`${upstream}/index.yaml`))
      .then(async (up) => res.writeHead(up.status, { 'content-type': 'application/x-yaml' }).end(await up.text()))
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    indexRequested,
    open,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/**
 * Makes the API server refuse `operation` (UPDATE or DELETE) on the ConfigMaps of release
 * `instance` in the suite's namespace, with a ValidatingAdmissionPolicy; waits until a probe
 * ConfigMap of that release is refused. Returns the function that lifts the refusal.
 */
async function refuseConfigMaps(instance: string, operation: 'UPDATE' | 'DELETE'): Promise<() => Promise<void>> {
  const name = `reasons-${operation.toLowerCase()}-${instance}-${ns}`;
  const message = `ConfigMaps of release ${instance} may not be changed here (${operation} refused)`;
  await admission.createValidatingAdmissionPolicy({
    body: {
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: [operation], resources: ['configmaps'] }] },
        validations: [{ expression: 'false', message }],
      },
    },
  });
  await admission.createValidatingAdmissionPolicyBinding({
    body: {
      metadata: { name },
      spec: {
        policyName: name,
        validationActions: ['Deny'],
        matchResources: {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
          objectSelector: { matchLabels: { 'app.kubernetes.io/instance': instance } },
        },
      },
    },
  });
  const lift = async () => {
    await admission.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined);
  };
  const probe = `${instance}-probe`;
  const createProbe = () =>
    core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: probe, labels: { 'app.kubernetes.io/instance': instance } }, data: {} } });
  try {
    await createProbe();
    // The policy takes effect within a few seconds.
    await waitFor(`the API server to refuse ${operation} of ${probe}`, async () => {
      const args = operation === 'UPDATE'
        ? ['label', '--overwrite', '--namespace', ns, `configmap/${probe}`, `planton.test/probe=${Date.now()}`]
        : ['delete', '--namespace', ns, `configmap/${probe}`];
      const refused = await kubectl(args).then(() => false, () => true);
      if (!refused && operation === 'DELETE') await createProbe();
      return refused ? true : undefined;
    }, 60_000, 1_000);
  } catch (err) {
    await lift();
    throw err;
  }
  return lift;
}

/**
 * Registers a validating webhook for UPDATE of the ConfigMaps of release `instance` in the
 * suite's namespace, served by a loopback port that accepts connections and never answers: every
 * such request (dry runs included) waits for the webhook's 10 s timeout. Waits until a dry-run
 * update is held up by it; returns the function that removes webhook and port.
 */
async function silentWebhook(instance: string): Promise<() => Promise<void>> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const name = `reasons-silent-${instance}-${ns}`;
  const remove = async () => {
    await admission.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
    for (const s of sockets) s.destroy();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  try {
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name },
        webhooks: [{
          name: 'silent.reasons.planton.test',
          clientConfig: { url: `https://127.0.0.1:${address.port}/validate` },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['configmaps'] }],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
          objectSelector: { matchLabels: { 'app.kubernetes.io/instance': instance } },
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 10,
          failurePolicy: 'Fail',
        }],
      },
    });
    await waitFor(`the webhook to hold up updates of ${instance}'s ConfigMaps`, async () => {
      const args = ['label', '--dry-run=server', '--overwrite', '--namespace', ns, `configmap/${instance}-plain`, 'planton.test/probe=1'];
      const failure = await kubectl(args).then(() => '', (err: unknown) => String(err));
      return failure.includes('failed calling webhook') ? true : undefined;
    }, 90_000, 1_000);
  } catch (err) {
    await remove();
    throw err;
  }
  return remove;
}

describe('a repository that cannot be used', () => {
  it('that does not answer: Ready=False RepositoryUnreachable, not Stalled, retried', async () => {
    const port = await closedPort();
    await hrs.create(ns, 'unreachable', plain({ repo: `http://127.0.0.1:${port}` }));
    const hr = await waitForCondition(ns, 'unreachable', 'Ready', 'False', 60_000, 'RepositoryUnreachable');
    const message = condition(hr, 'Ready')?.message ?? '';
    expect(message).toContain(`127.0.0.1:${port}`);
    expect(message).toContain('is unreachable');
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(condition(hr, 'Reconciling')).toMatchObject({ status: 'True', reason: 'RepositoryUnreachable' });
    expect(await releaseSecrets(ns, 'unreachable')).toHaveLength(0);
    expect(await eventOf('unreachable', 'RepositoryUnreachable')).toMatchObject({ type: 'Warning' });
  });

  it('named https:// but answering in plain HTTP: Stalled InsecureRepository, refused by the runner', async () => {
    // The controller lets https:// through; the runner finds the repository answers in plain HTTP.
    const server = await heldRepository(clusterEnv().PLANTON_HTTP_REPO);
    server.open();
    const repo = server.url.replace(/^http:/, 'https:');
    await hrs.create(ns, 'not-tls', plain({ repo }));
    const hr = await waitForCondition(ns, 'not-tls', 'Stalled', 'True', 60_000, 'InsecureRepository');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InsecureRepository' });
    expect(condition(hr, 'Stalled')?.message).toContain(`${repo}/index.yaml answers in plain HTTP where TLS was expected`);
    expect(await releaseSecrets(ns, 'not-tls')).toHaveLength(0);
    await server.close();
  });
});

describe('a chart that cannot be installed as it is', () => {
  it('with values its values.schema.json refuses: Stalled SchemaValidationFailed naming the path, not the value', async () => {
    await hrs.create(ns, 'schema', chart('schema', { values: { replicaCount: 11 } }));
    const hr = await waitForCondition(ns, 'schema', 'Stalled', 'True', 60_000, 'SchemaValidationFailed');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'SchemaValidationFailed' });
    const message = condition(hr, 'Stalled')?.message ?? '';
    expect(message).toContain("values don't meet the specifications of the chart's values.schema.json");
    expect(message).toContain("at '/replicaCount': maximum");
    expect(message).not.toContain('11');
    expect(await releaseSecrets(ns, 'schema')).toHaveLength(0);
    expect(await eventOf('schema', 'SchemaValidationFailed')).toMatchObject({ type: 'Warning' });
  });

  it('that requires another Kubernetes version: Stalled InvalidChart naming the constraint', async () => {
    await hrs.create(ns, 'old-kube', chart('old-kube'));
    const hr = await waitForCondition(ns, 'old-kube', 'Stalled', 'True', 60_000, 'InvalidChart');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidChart' });
    expect(condition(hr, 'Stalled')?.message).toContain('chart requires kubeVersion: <1.20.0-0 which is incompatible with Kubernetes');
    expect(await releaseSecrets(ns, 'old-kube')).toHaveLength(0);
  });

  it('whose release record would not fit in a Secret: Stalled InvalidChart, nothing written', async () => {
    await hrs.create(ns, 'oversized', chart('oversized'));
    const hr = await waitForCondition(ns, 'oversized', 'Stalled', 'True', 120_000, 'InvalidChart');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidChart' });
    expect(condition(hr, 'Stalled')?.message).toMatch(/Too long: (may not be more than|must have at most) 1048576 bytes/);
    expect(await releaseSecrets(ns, 'oversized')).toHaveLength(0);
    expect(await configMapExists('oversized-oversized-a')).toBe(false);
  });

  it('with a kind no CustomResourceDefinition defines: Ready=False KubernetesApiError, not Stalled, retried', async () => {
    await hrs.create(ns, 'no-crd', chart('missing-crd'));
    const hr = await waitForCondition(ns, 'no-crd', 'Ready', 'False', 60_000, 'KubernetesApiError');
    const message = condition(hr, 'Ready')?.message ?? '';
    expect(message).toContain('no matches for kind "Gadget" in version "reasons.planton.test/v1"');
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(condition(hr, 'Reconciling')).toMatchObject({ status: 'True', reason: 'KubernetesApiError' });
    expect(await releaseSecrets(ns, 'no-crd')).toHaveLength(0);
  });

  it('with an object that already exists outside Helm: Ready=False KubernetesApiError until it is removed, then installed', async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'taken-plain' }, data: { owner: 'someone else' } } });
    await hrs.create(ns, 'taken', plain());
    const hr = await waitForCondition(ns, 'taken', 'Ready', 'False', 60_000, 'KubernetesApiError');
    expect(condition(hr, 'Ready')?.message).toContain(`ConfigMap "taken-plain" in namespace "${ns}" exists and cannot be imported into the current release`);
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(await releaseSecrets(ns, 'taken')).toHaveLength(0);
    expect(await eventOf('taken', 'KubernetesApiError')).toMatchObject({ type: 'Warning' });

    // Retried with backoff: once the object is gone, the install goes through without a spec change.
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'taken-plain' });
    const installed = await waitForCondition(ns, 'taken', 'Ready', 'True', 120_000);
    expect(installed.metadata.generation).toBe(hr.metadata.generation);
    expect(installed.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
  });
});

describe('an operation that does not finish', () => {
  it('a drift check slowed down by an admission webhook: Ready=False Timeout, not Stalled, until the webhook answers', async () => {
    await hrs.create(ns, 'slow', plain({ timeout: '3s' }));
    await waitForCondition(ns, 'slow', 'Ready', 'True');
    // A webhook that never answers (it waits 10 s) on the release's ConfigMap: the dry run of the
    // drift check outlasts the operation's 3 s timeout.
    const remove = await silentWebhook('slow');
    let slowed: HelmReleaseView;
    try {
      // A reconcile request that fails before deciding is not recorded as handled: wait for the condition.
      await kubectl(['annotate', '--overwrite', '--namespace', ns, 'helmrelease/slow', `helm.project-planton.org/reconcile-requested-at=${new Date().toISOString()}`]);
      slowed = await waitForCondition(ns, 'slow', 'Ready', 'False', 60_000, 'Timeout');
      const ready = condition(slowed, 'Ready');
      expect(ready).toMatchObject({ status: 'False', reason: 'Timeout' });
      expect(ready?.message).toContain(`dry-run apply ConfigMap ${ns}/slow-plain`);
      expect(ready?.message).toContain('context deadline exceeded');
      expect(condition(slowed, 'Stalled')).toBeUndefined();
      expect(condition(slowed, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Timeout' });
      expect(await eventOf('slow', 'Timeout')).toMatchObject({ type: 'Warning' });
    } finally {
      await remove();
    }
    // Retried with backoff: once the webhook is gone, the check passes and the release is Ready.
    const ready = await waitForCondition(ns, 'slow', 'Ready', 'True', 120_000);
    expect(ready.metadata.generation).toBe(slowed.metadata.generation);
    expect(ready.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
  });

  it('another operation of the runner holding the release: Ready=False ReleaseLocked, then it converges on its own', async () => {
    await hrs.create(ns, 'held', plain({ timeout: '60s' }));
    await waitForCondition(ns, 'held', 'Ready', 'True');
    // An upgrade of the same release through the same runner, that waits 20 s for pods that are
    // never scheduled: what a reconciler restarted in the middle of its own upgrade finds.
    const api = runnerApi(runner.client);
    const { state } = await api.getReleaseState({ release: { name: 'held', namespace: ns } });
    const other = api.upgrade({
      release: { name: 'held', namespace: ns, ...(state?.owner ? { owner: state.owner } : {}) },
      chart: { repo: clusterEnv().PLANTON_OCI_REPO, allowInsecureHttp: true, name: 'plain', version: '1.0.0' },
      values: unschedulable,
      configDigest: state?.configDigest ?? '',
      wait: true,
      atomic: false,
      timeout: { seconds: 20, nanos: 0 },
    });
    await waitFor('revision 2 to be pending-upgrade', async () =>
      (await releaseSecrets(ns, 'held')).some((s) => s.metadata?.labels?.['status'] === 'pending-upgrade') ? true : undefined);
    await kubectl(['annotate', '--overwrite', '--namespace', ns, 'helmrelease/held', `helm.project-planton.org/reconcile-requested-at=${new Date().toISOString()}`]);
    const locked = await waitForCondition(ns, 'held', 'Ready', 'False', 20_000, 'ReleaseLocked');
    expect(condition(locked, 'Ready')?.message).toBe('revision 2 is pending-upgrade: an operation is in progress');
    expect(condition(locked, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ReleaseLocked' });
    expect(condition(locked, 'Stalled')).toBeUndefined();
    expect(await eventOf('held', 'ReleaseLocked')).toMatchObject({ type: 'Warning' });

    expect((await other).outcome).toMatchObject({ succeeded: false });
    // Looked at again every few seconds: once the other operation has ended, the failed revision
    // is rolled back and the release is Ready, without anyone touching the HelmRelease.
    const ready = await waitForCondition(ns, 'held', 'Ready', 'True', 120_000);
    expect(ready.metadata.generation).toBe(locked.metadata.generation);
    expect(ready.status?.release).toMatchObject({ revision: 3, status: 'deployed' });
    expect((await helmHistory('held')).map(([, s]) => s)).toEqual(['deployed', 'failed', 'superseded']);
  });

  it('the release installed with the Helm CLI while the controller installs it: Ready=False RunnerError, then adopted', async () => {
    const repo = await heldRepository(clusterEnv().PLANTON_HTTP_REPO);
    const versions = await watchConditions(ns, 'race');
    try {
      await hrs.create(ns, 'race', plain({ repo: repo.url }));
      // The runner is in the controller's install, pulling the chart: the release was absent.
      await repo.indexRequested;
      await helm(['install', 'race', `${clusterEnv().PLANTON_OCI_REPO}/plain`, '--version', '1.0.0', '--namespace', ns, '--plain-http', '--set', 'message=cli']);
      repo.open();
      // Retried with backoff: the next reconcile finds a release that records no owner and adopts it.
      const adopted = await waitFor('race adopted at revision 2', async () => {
        const hr = await hrs.get(ns, 'race');
        return condition(hr, 'Ready')?.status === 'True' && hr?.status?.release?.revision === 2 ? hr : undefined;
      }, 120_000, 500);
      const failed = versions.seen.find((cs) => cs.some((c) => c.type === 'Ready' && c.reason === 'RunnerError'));
      expect(failed?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', message: 'release "race" exists: revision 1 is deployed' });
      expect(failed?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'RunnerError' });
      expect(failed?.find((c) => c.type === 'Stalled')).toBeUndefined();
      expect(await eventOf('race', 'RunnerError')).toMatchObject({ type: 'Warning', message: 'release "race" exists: revision 1 is deployed' });
      expect(await eventOf('race', 'ReleaseAdopted')).toMatchObject({ type: 'Normal' });
      expect(condition(adopted, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
      expect((await core.readNamespacedConfigMap({ namespace: ns, name: 'race-plain' })).data?.['message']).toBe('hello');
    } finally {
      versions.stop();
      repo.open();
      await repo.close();
    }
  });
});

describe('a remediation or an uninstall that fails', () => {
  it('a rollback the API server refuses: Remediated=False RollbackFailed, then Stalled RetriesExhausted', async () => {
    await hrs.create(ns, 'frozen', plain({ atomic: false, timeout: '20s', remediation: { retries: 1 } }));
    await waitForCondition(ns, 'frozen', 'Ready', 'True');
    const lift = await refuseConfigMaps('frozen', 'UPDATE');
    try {
      // The upgrade cannot change the ConfigMap, and neither can the rollback to revision 1.
      await hrs.patchSpec(ns, 'frozen', { values: { message: 'v2' } });
      const hr = await waitForCondition(ns, 'frozen', 'Stalled', 'True', 180_000, 'RetriesExhausted');
      const remediated = condition(hr, 'Remediated');
      expect(remediated).toMatchObject({ status: 'False', reason: 'RollbackFailed' });
      expect(remediated?.message).toContain('rollback to revision 1 failed');
      const released = condition(hr, 'Released');
      expect(released).toMatchObject({ status: 'False', reason: 'UpgradeFailed' });
      expect(released?.message).toContain('ConfigMaps of release frozen may not be changed here (UPDATE refused)');
      expect(condition(hr, 'Stalled')?.message).toContain('upgrade failed 2 time(s) and remediation.retries is 1');
      const events = await eventsFor(ns, 'frozen');
      const reasons = events.map((e) => e.reason);
      expect(reasons.indexOf('RollbackFailed')).toBeGreaterThan(reasons.indexOf('UpgradeFailed'));
      expect(events.find((e) => e.reason === 'RollbackFailed')).toMatchObject({ type: 'Warning' });
      // Helm marks the revision a rollback replaces superseded, even when the rollback fails.
      expect(await helmHistory('frozen')).toEqual([[3, 'failed'], [2, 'superseded'], [1, 'deployed']]);
    } finally {
      await lift();
    }
  });

  it('an uninstall the API server refuses: UninstallFailed events, deletion waits, then completes once it can', async () => {
    await hrs.create(ns, 'sticky', plain());
    await waitForCondition(ns, 'sticky', 'Ready', 'True');
    const lift = await refuseConfigMaps('sticky', 'DELETE');
    try {
      await hrs.delete(ns, 'sticky');
      const failed = await eventOf('sticky', 'UninstallFailed');
      expect(failed.type).toBe('Warning');
      expect(failed.message).toContain('uninstall failed');
      expect(failed.message).toContain('sticky');
      expect(await hrs.get(ns, 'sticky')).toBeDefined();
      expect(await configMapExists('sticky-plain')).toBe(true);
    } finally {
      await lift();
    }
    // Retried with backoff: the next uninstall goes through and the HelmRelease is gone.
    await waitFor('sticky to be gone', async () => ((await hrs.get(ns, 'sticky')) === undefined ? true : undefined), 120_000, 1_000);
    expect(await releaseSecrets(ns, 'sticky')).toHaveLength(0);
    expect(await configMapExists('sticky-plain')).toBe(false);
    expect((await eventsFor(ns, 'sticky')).map((e) => e.reason)).toContain('UninstallSucceeded');
  });
});

describe('states that end well', () => {
  it('a releaseName change after the old release was uninstalled by hand: PreviousReleaseLeft', async () => {
    await hrs.create(ns, 'mover', plain({ releaseName: 'mover-a' }));
    await waitForCondition(ns, 'mover', 'Ready', 'True');
    // Suspended, so that nothing reinstalls mover-a in between.
    await hrs.patchSpec(ns, 'mover', { suspend: true });
    await waitFor('the suspension to be seen (status metric -3)', async () =>
      metricValue(await controller.metrics(), 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'mover' }) === -3 ? true : undefined, 60_000, 500);
    await helm(['uninstall', 'mover-a', '--namespace', ns]);
    await hrs.patchSpec(ns, 'mover', { suspend: false, releaseName: 'mover-b' });

    const left = await eventOf('mover', 'PreviousReleaseLeft');
    expect(left).toMatchObject({ type: 'Normal', message: `previous release ${ns}/mover-a is no longer installed` });
    const hr = await waitFor('mover Ready with mover-b and no previous release left', async () => {
      const cur = await hrs.get(ns, 'mover');
      return condition(cur, 'Ready')?.status === 'True' && cur?.status?.release?.name === 'mover-b' && cur.status.previousReleases === undefined ? cur : undefined;
    }, 60_000, 500);
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect((await eventsFor(ns, 'mover')).map((e) => e.reason)).not.toContain('PreviousReleaseUninstalled');
  });

  it('drift reported in warn mode that goes away: Drifted=False NoDrift', async () => {
    await hrs.create(ns, 'calm', plain({ driftDetection: { mode: 'warn' } }));
    await waitForCondition(ns, 'calm', 'Ready', 'True');
    await kubectl(['scale', 'deployment/calm-plain', '--namespace', ns, '--replicas=2']);
    const drifted = await reconcileNow('calm');
    expect(condition(drifted, 'Drifted')).toMatchObject({ status: 'True', reason: 'DriftDetected' });

    await kubectl(['scale', 'deployment/calm-plain', '--namespace', ns, '--replicas=1']);
    const clean = await reconcileNow('calm');
    expect(condition(clean, 'Drifted')).toMatchObject({ status: 'False', reason: 'NoDrift', message: 'no drift' });
    expect(condition(clean, 'Ready')).toMatchObject({ status: 'True' });
    expect(clean.status?.drift?.objectsDrifted).toBe(0);
    expect(clean.status?.release?.revision).toBe(1);
  });

  it('a values Secret removed and put back unchanged: Ready=True InSync, with no new revision', async () => {
    const secret = { metadata: { name: 'resync-values' }, stringData: { 'values.yaml': 'message: kept\n' } };
    await core.createNamespacedSecret({ namespace: ns, body: secret });
    await hrs.create(ns, 'resync', plain({ valuesFrom: [{ kind: 'Secret', name: 'resync-values' }] }));
    await waitForCondition(ns, 'resync', 'Ready', 'True');
    await core.deleteNamespacedSecret({ namespace: ns, name: 'resync-values' });
    await waitForCondition(ns, 'resync', 'Ready', 'False', 60_000, 'ValuesSourceNotFound');

    await core.createNamespacedSecret({ namespace: ns, body: secret });
    const hr = await waitForCondition(ns, 'resync', 'Ready', 'True', 60_000, 'InSync');
    expect(condition(hr, 'Ready')?.message).toBe('revision 1 is deployed at chart version 1.0.0');
    expect(condition(hr, 'Reconciling')).toBeUndefined();
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
  });
});

describe('a runner with small limits (--max-values-bytes 2048, --max-chart-archive-bytes 512)', () => {
  let limitedNs: string;
  let cleanup: (() => Promise<void>) | undefined;
  let limitedRunner: RunningRunner | undefined;
  let limitedController: RunningController | undefined;

  beforeAll(async () => {
    const made = await tempNamespace('hr-reasons-limits');
    limitedNs = made.name;
    cleanup = made.cleanup;
    limitedRunner = await startRunner({ extraArgs: ['--max-values-bytes', '2048', '--max-chart-archive-bytes', '512'] });
    limitedController = await startController({ runnerSocket: limitedRunner.socket, namespace: limitedNs });
  });
  afterAll(async () => {
    await limitedController?.stop();
    await limitedRunner?.stop();
    await cleanup?.();
  });

  it('refuses values larger than its limit: Stalled InvalidValues naming the limit', async () => {
    await hrs.create(limitedNs, 'big-values', plain({ values: { message: 'x'.repeat(4096) } }));
    const hr = await waitForCondition(limitedNs, 'big-values', 'Stalled', 'True', 60_000, 'InvalidValues');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidValues' });
    expect(condition(hr, 'Stalled')?.message).toMatch(/^values are \d+ bytes, more than the limit of 2048$/);
    expect(await releaseSecrets(limitedNs, 'big-values')).toHaveLength(0);
  });

  it('refuses a chart archive larger than its limit: Stalled InvalidChart naming the limit', async () => {
    await hrs.create(limitedNs, 'big-chart', plain({ repo: clusterEnv().PLANTON_HTTP_REPO }));
    const hr = await waitForCondition(limitedNs, 'big-chart', 'Stalled', 'True', 60_000, 'InvalidChart');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidChart' });
    expect(condition(hr, 'Stalled')?.message).toContain('plain-1.0.0.tgz is larger than the limit of 512 bytes');
    expect(await releaseSecrets(limitedNs, 'big-chart')).toHaveLength(0);
  });
});
