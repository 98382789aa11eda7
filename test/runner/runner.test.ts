// helm-runner end to end: the real binary, over its unix socket, with the generated TypeScript
// client (the one the reconciler uses), against the local cluster and both chart repositories.
import * as k8s from '@kubernetes/client-node';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseStatus, WriteAction } from '../../src/gen/planton/helmrunner/v1/runner.js';
import { valuesDigest } from '../../src/reconcile/values.js';
import { errorInfoOf } from '../../src/runner/error-info.js';
import { clusterEnv, kubeConfig, tempNamespace, waitFor } from '../support/cluster.js';
import { buildRunner, type RunnerApi, runnerApi, type RunningRunner, startRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);

const oci = () => ({ repo: clusterEnv().PLANTON_OCI_REPO, allowInsecureHttp: true });
const http = () => ({ repo: clusterEnv().PLANTON_HTTP_REPO, allowInsecureHttp: true });
const seconds = (n: number) => ({ seconds: n, nanos: 0 });

let ns: string;
let cleanup: () => Promise<void>;
let runner: RunningRunner;
let api: RunnerApi;

beforeAll(async () => {
  await buildRunner();
  ({ name: ns, cleanup } = await tempNamespace('runner'));
  runner = await startRunner();
  api = runnerApi(runner.client);
});
afterAll(async () => {
  await runner?.stop();
  await cleanup();
});

/** Helm's storage: the release Secrets of a release, by revision. */
async function releaseSecrets(name: string): Promise<{ revision: string; status: string }[]> {
  const list = await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${name}` });
  return list.items
    .map((s) => ({ revision: s.metadata?.labels?.['version'] ?? '', status: s.metadata?.labels?.['status'] ?? '' }))
    .sort((a, b) => Number(a.revision) - Number(b.revision));
}

async function expectRunnerError(p: Promise<unknown>, code: grpcStatus, reason: string): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${reason}`).toBeDefined();
  expect((err as { code?: number }).code).toBe(code);
  expect(errorInfoOf(err)?.reason).toBe(reason);
  return (err as Error).message;
}

describe('helm-runner', () => {
  it('installs the plain chart from the OCI registry and reports what Helm wrote', async () => {
    const res = await api.install({
      release: { name: 'web', namespace: ns },
      chart: { ...oci(), name: 'plain', version: '1.0.0' },
      values: { message: 'from-runner' },
      wait: true,
      atomic: true,
      timeout: seconds(120),
    });
    expect(res.outcome).toMatchObject({ succeeded: true });
    expect(res.writes.map((w) => [w.action, w.revision, w.status])).toEqual([
      [WriteAction.CREATE, 1, ReleaseStatus.PENDING_INSTALL],
      [WriteAction.UPDATE, 1, ReleaseStatus.DEPLOYED],
    ]);
    expect(res.state).toMatchObject({ exists: true, revision: 1, status: ReleaseStatus.DEPLOYED, chartVersion: '1.0.0' });
    const d = await apps.readNamespacedDeployment({ name: 'web-plain', namespace: ns });
    expect(d.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    const cm = await core.readNamespacedConfigMap({ name: 'web-plain', namespace: ns });
    expect(cm.data?.['message']).toBe('from-runner');
  });

  it('reads the release state, with a values digest that changes with the values', async () => {
    const { state } = await api.getReleaseState({ release: { name: 'web', namespace: ns } });
    expect(state).toMatchObject({ exists: true, revision: 1, chartName: 'plain', chartVersion: '1.0.0', pendingLockHeld: false });
    expect(state?.valuesDigest).toMatch(/^[0-9a-f]{64}$/);
    const absent = await api.getReleaseState({ release: { name: 'absent', namespace: ns } });
    expect(absent.state?.exists).toBe(false);
  });

  it('upgrades from the HTTP repository to 1.1.0 as revision 2', async () => {
    const before = (await api.getReleaseState({ release: { name: 'web', namespace: ns } })).state?.valuesDigest;
    const res = await api.upgrade({
      release: { name: 'web', namespace: ns },
      chart: { ...http(), name: 'plain', version: '1.1.0' },
      values: { message: 'upgraded' },
      wait: true,
      atomic: true,
      timeout: seconds(120),
      maxHistory: 5,
    });
    expect(res.outcome).toMatchObject({ succeeded: true });
    expect(res.state).toMatchObject({ revision: 2, status: ReleaseStatus.DEPLOYED, chartVersion: '1.1.0' });
    expect(res.writes.map((w) => [w.action, w.revision, w.status])).toContainEqual([
      WriteAction.UPDATE, 2, ReleaseStatus.DEPLOYED,
    ]);
    // The digests the reconciler compares its desired values with: exact, so a missing one fails.
    expect(before).toBe(valuesDigest({ message: 'from-runner' }));
    expect(res.state?.valuesDigest).toBe(valuesDigest({ message: 'upgraded' }));
    expect(res.state?.valuesDigest).not.toBe(before);
    const cm = await core.readNamespacedConfigMap({ name: 'web-plain', namespace: ns });
    expect(cm.data).toMatchObject({ message: 'upgraded', version: '1.1.0' });
    expect(await releaseSecrets('web')).toEqual([
      { revision: '1', status: 'superseded' },
      { revision: '2', status: 'deployed' },
    ]);
  });

  it('refuses a chart that does not exist with CHART_NOT_FOUND and writes nothing', async () => {
    const message = await expectRunnerError(
      api.install({
        release: { name: 'missing', namespace: ns },
        chart: { ...http(), name: 'no-such-chart', version: '1.0.0' },
        timeout: seconds(30),
      }),
      grpcStatus.NOT_FOUND,
      'CHART_NOT_FOUND',
    );
    expect(message).toContain('no-such-chart');
    expect(await releaseSecrets('missing')).toEqual([]);
  });

  it('refuses a version that does not exist with VERSION_NOT_FOUND', async () => {
    await expectRunnerError(
      api.install({
        release: { name: 'missing', namespace: ns },
        chart: { ...oci(), name: 'plain', version: '9.9.9' },
        timeout: seconds(30),
      }),
      grpcStatus.NOT_FOUND,
      'VERSION_NOT_FOUND',
    );
  });

  it('refuses a version range with INVALID_VERSION before contacting the repository', async () => {
    const message = await expectRunnerError(
      api.install({
        release: { name: 'missing', namespace: ns },
        chart: { ...oci(), name: 'plain', version: '^1.0.0' },
        timeout: seconds(30),
      }),
      grpcStatus.INVALID_ARGUMENT,
      'INVALID_VERSION',
    );
    expect(message).toContain('^1.0.0');
  });

  it('refuses plain HTTP unless the request allows it', async () => {
    await expectRunnerError(
      api.install({
        release: { name: 'missing', namespace: ns },
        chart: { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0' },
        timeout: seconds(30),
      }),
      grpcStatus.FAILED_PRECONDITION,
      'INSECURE_REPOSITORY',
    );
  });

  it.each([
    ['the HTTP repository', () => clusterEnv().PLANTON_HTTP_AUTH_REPO],
    ['the OCI registry', () => clusterEnv().PLANTON_OCI_AUTH_REPO],
  ])('uses repository credentials for %s, and refuses wrong ones with AUTH_FAILED', async (_name, repo) => {
    const chart = (password: string) => ({
      repo: repo(),
      allowInsecureHttp: true,
      name: 'plain',
      version: '1.0.0',
      credentials: { kind: { $case: 'basicAuth' as const, value: { username: clusterEnv().PLANTON_REPO_USERNAME, password } } },
    });
    const wrong = `${clusterEnv().PLANTON_REPO_PASSWORD}-wrong`;
    const message = await expectRunnerError(
      api.install({ release: { name: 'private', namespace: ns }, chart: chart(wrong), timeout: seconds(30) }),
      grpcStatus.FAILED_PRECONDITION,
      'AUTH_FAILED',
    );
    expect(message).not.toContain(wrong);
    const release = `private-${repo().startsWith('oci') ? 'oci' : 'http'}`;
    const res = await api.install({
      release: { name: release, namespace: ns },
      chart: chart(clusterEnv().PLANTON_REPO_PASSWORD),
      wait: true,
      timeout: seconds(120),
    });
    expect(res.outcome).toMatchObject({ succeeded: true });
  });

  it('reports values that fail the chart schema with the failing path, and writes nothing', async () => {
    const message = await expectRunnerError(
      api.install({
        release: { name: 'schema', namespace: ns },
        chart: { ...oci(), name: 'schema', version: '1.0.0' },
        values: { replicaCount: 11 },
        timeout: seconds(30),
      }),
      grpcStatus.INVALID_ARGUMENT,
      'SCHEMA_VALIDATION_FAILED',
    );
    expect(message).toContain('replicaCount');
    expect(await releaseSecrets('schema')).toEqual([]);
  });

  it('refuses a second operation on a release that is being operated on (RELEASE_LOCKED)', async () => {
    const slow = api.install({
      release: { name: 'slow', namespace: ns },
      chart: { ...oci(), name: 'never-ready', version: '1.0.0' },
      wait: true,
      atomic: false,
      timeout: seconds(8),
    });
    await waitFor('the slow install to hold the release', async () =>
      (await releaseSecrets('slow')).some((s) => s.status === 'pending-install') ? true : undefined,
    );
    await expectRunnerError(
      api.upgrade({
        release: { name: 'slow', namespace: ns },
        chart: { ...oci(), name: 'never-ready', version: '1.0.0' },
        timeout: seconds(30),
      }),
      grpcStatus.FAILED_PRECONDITION,
      'RELEASE_LOCKED',
    );
    const res = await slow;
    expect(res.outcome).toMatchObject({ succeeded: false });
    expect(res.state?.status).toBe(ReleaseStatus.FAILED);
  });

  it('recovers a release left pending by a runner killed mid-upgrade: unlock, then upgrade', async () => {
    await api.install({
      release: { name: 'crash', namespace: ns },
      chart: { ...oci(), name: 'plain', version: '1.0.0' },
      wait: true,
      timeout: seconds(120),
    });
    // An upgrade that cannot become ready holds the release pending-upgrade while it waits.
    void api
      .upgrade({
        release: { name: 'crash', namespace: ns },
        chart: { ...oci(), name: 'plain', version: '1.0.0' },
        values: { nodeSelector: { 'planton.test/never': 'true' } },
        wait: true,
        timeout: seconds(300),
      })
      .catch(() => undefined);
    await waitFor('the upgrade to hold the release', async () =>
      (await releaseSecrets('crash')).some((s) => s.status === 'pending-upgrade') ? true : undefined,
    );
    await runner.kill();

    runner = await startRunner();
    api = runnerApi(runner.client);
    const { state } = await api.getReleaseState({ release: { name: 'crash', namespace: ns } });
    expect(state).toMatchObject({
      revision: 2,
      status: ReleaseStatus.PENDING_UPGRADE,
      pendingLockHeld: true,
      operationInProgress: false,
    });
    await expectRunnerError(
      api.upgrade({
        release: { name: 'crash', namespace: ns },
        chart: { ...oci(), name: 'plain', version: '1.1.0' },
        timeout: seconds(60),
      }),
      grpcStatus.FAILED_PRECONDITION,
      'RELEASE_LOCKED',
    );
    const unlocked = await api.unlock({ release: { name: 'crash', namespace: ns }, revision: 2 });
    expect(unlocked.outcome).toMatchObject({ succeeded: true });
    expect(unlocked.state).toMatchObject({ revision: 2, status: ReleaseStatus.FAILED });
    const upgraded = await api.upgrade({
      release: { name: 'crash', namespace: ns },
      chart: { ...oci(), name: 'plain', version: '1.1.0' },
      wait: true,
      timeout: seconds(120),
    });
    expect(upgraded.outcome).toMatchObject({ succeeded: true });
    expect(upgraded.state).toMatchObject({ revision: 3, status: ReleaseStatus.DEPLOYED, chartVersion: '1.1.0' });
  });

  it('on SIGTERM mid-upgrade, records the end of the operation instead of leaving the release pending', async () => {
    await api.install({
      release: { name: 'stop', namespace: ns },
      chart: { ...oci(), name: 'plain', version: '1.0.0' },
      wait: true,
      timeout: seconds(120),
    });
    const pending = api
      .upgrade({
        release: { name: 'stop', namespace: ns },
        chart: { ...oci(), name: 'plain', version: '1.0.0' },
        values: { nodeSelector: { 'planton.test/never': 'true' } },
        wait: true,
        timeout: seconds(300),
      })
      .then(
        (r) => r,
        (e: unknown) => e,
      );
    await waitFor('the upgrade to hold the release', async () =>
      (await releaseSecrets('stop')).some((s) => s.status === 'pending-upgrade') ? true : undefined,
    );
    expect(await runner.stop()).toBe(0);
    await pending;
    expect(await releaseSecrets('stop')).toEqual([
      { revision: '1', status: 'deployed' },
      { revision: '2', status: 'failed' },
    ]);
    runner = await startRunner();
    api = runnerApi(runner.client);
  });
});
