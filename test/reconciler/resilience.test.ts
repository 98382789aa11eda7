// The reconciler when its parts fail, on the local control plane with the real runner and
// controller processes: the runner goes away and comes back at the same address; the controller
// (alone, or with the runner) is killed in the middle of an upgrade and a new one converges; two
// controllers share one Lease, only the leader acts, and the other takes over when it stops or
// dies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, kubectl, tempNamespace, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  type HelmReleaseView,
  helmReleases,
  installCrd,
  metricValue,
  type RunningController,
  startController,
  waitForCondition,
} from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner, type StartOptions } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const hrs = helmReleases();

beforeAll(async () => {
  await Promise.all([buildRunner(), installCrd()]);
});

// Everything a test starts, stopped and removed after it whatever happened.
const started: { controllers: RunningController[]; runners: RunningRunner[]; dirs: string[]; namespaces: string[] } = {
  controllers: [],
  runners: [],
  dirs: [],
  namespaces: [],
};

afterEach(async () => {
  await Promise.all(started.controllers.splice(0).map((c) => c.kill()));
  await Promise.all(started.runners.splice(0).map((r) => r.kill()));
  for (const ns of started.namespaces.splice(0)) {
    // No controller runs any more: drop the finalizers so that the namespace can go.
    const { stdout } = await kubectl(['get', 'helmreleases', '-n', ns, '-o', 'name']).catch(() => ({ stdout: '' }));
    for (const hr of stdout.split('\n').filter(Boolean)) {
      await kubectl(['patch', '-n', ns, hr, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
    }
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
  for (const dir of started.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function namespace(prefix: string): Promise<string> {
  const { name } = await tempNamespace(prefix);
  started.namespaces.push(name);
  return name;
}

/** A socket path that outlives any one runner, so a new runner answers at the same address. */
function stableSocket(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hr-res-'));
  started.dirs.push(dir);
  return join(dir, 'runner.sock');
}

async function runner(options: StartOptions = {}): Promise<RunningRunner> {
  const r = await startRunner(options);
  started.runners.push(r);
  return r;
}

async function controller(opts: Parameters<typeof startController>[0]): Promise<RunningController> {
  const c = await startController(opts);
  started.controllers.push(c);
  return c;
}

interface HelmRevision {
  revision: number;
  status: string;
  chart: string;
  description: string;
}

/** `helm history`: what a user of the Helm CLI sees, oldest first. */
async function helmHistory(ns: string, release: string): Promise<HelmRevision[]> {
  const { stdout } = await helm(['history', release, '-n', ns, '--max', '100', '-o', 'json']);
  return (JSON.parse(stdout) as HelmRevision[]).map(({ revision, status, chart, description }) => ({ revision, status, chart, description }));
}

const brief = (h: readonly HelmRevision[]) => h.map((r) => `${r.revision}:${r.status}`).join(' ');

/** The revision Helm's storage has as pending-upgrade right now (its Secret's status label). */
async function pendingUpgrade(ns: string, release: string): Promise<number | undefined> {
  const list = await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${release},status=pending-upgrade` });
  const item = list.items[0];
  return item ? Number(item.metadata?.labels?.['version']) : undefined;
}

/** Waits until the HelmRelease is Ready for its current generation and `check` holds. */
async function waitReadyAt(ns: string, name: string, check: (hr: HelmReleaseView) => boolean, what: string, timeoutMs = 120_000): Promise<HelmReleaseView> {
  return waitFor(what, async () => {
    const hr = await hrs.get(ns, name);
    const ready = condition(hr, 'Ready');
    if (hr && hr.status?.observedGeneration === hr.metadata.generation && ready?.status === 'True' && check(hr)) return hr;
    if (ready) throw new Error(`now Ready=${ready.status} ${ready.reason}: ${ready.message}`);
    return undefined;
  }, timeoutMs, 500);
}

const unschedulable = { nodeSelector: { 'planton.test/never': 'true' } };

describe('the runner goes away and comes back', () => {
  it('shows RunnerUnavailable while it is down, then upgrades without anyone touching the HelmRelease', async () => {
    const ns = await namespace('hr-res-run');
    const socket = stableSocket();
    const first = await runner({ socket });
    const ctl = await controller({ runnerSocket: socket, namespace: ns });

    await hrs.create(ns, 'web', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '20s' });
    await waitForCondition(ns, 'web', 'Ready', 'True');

    await first.stop();
    await hrs.patchSpec(ns, 'web', { version: '1.1.0' });
    const down = await waitForCondition(ns, 'web', 'Ready', 'Unknown', 60_000, 'RunnerUnavailable');
    expect(condition(down, 'Ready')?.message).toContain('helm-runner is unavailable');
    expect(down.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    await waitFor('a RunnerUnavailable event', async () =>
      (await eventsFor(ns, 'web')).some((e) => e.type === 'Warning' && e.reason === 'RunnerUnavailable') ? true : undefined);
    const generation = down.metadata.generation;

    // A new runner process at the same address; the controller keeps running and the
    // HelmRelease is not touched.
    await runner({ socket });
    const hr = await waitReadyAt(ns, 'web', (h) => h.status?.release?.revision === 2, 'the upgrade to revision 2 once the runner is back');
    expect(ctl.process.exitCode).toBeNull();
    expect(hr.metadata.generation).toBe(generation);
    expect(hr.status?.release).toMatchObject({ chartVersion: '1.1.0', status: 'deployed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
    expect(brief(await helmHistory(ns, 'web'))).toBe('1:superseded 2:deployed');
  });
});

describe('the controller is killed in the middle of an upgrade', () => {
  it('the runner ends the upgrade; a new controller converges once the spec is fixed: no pending revision, one deployed', async () => {
    const ns = await namespace('hr-res-ctl');
    const r = await runner();
    const first = await controller({ runnerSocket: r.socket, namespace: ns });

    await hrs.create(ns, 'app', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '20s', remediation: { retries: 1 } });
    await waitForCondition(ns, 'app', 'Ready', 'True');

    // Pods that can never be scheduled: Helm waits for them until the timeout.
    await hrs.patchSpec(ns, 'app', { values: unschedulable });
    expect(await waitFor('revision 2 to be pending-upgrade', () => pendingUpgrade(ns, 'app'), 60_000)).toBe(2);
    await first.kill();

    // The runner sees its caller go away, cancels the wait and records the end itself.
    const afterKill = await waitFor('the runner to end the upgrade nobody waits for', async () => {
      const h = await helmHistory(ns, 'app');
      return h.some((x) => x.status.startsWith('pending-')) ? undefined : h;
    }, 60_000);
    expect(afterKill.find((x) => x.revision === 2)).toMatchObject({ status: 'failed' });

    await controller({ runnerSocket: r.socket, namespace: ns });
    await hrs.patchSpec(ns, 'app', { values: { nodeSelector: null, message: 'fixed' } });
    const hr = await waitReadyAt(ns, 'app', (h) => h.status?.release?.status === 'deployed', 'Ready=True after the fix');
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'app-plain' });
    expect(cm.data?.['message']).toBe('fixed');

    const history = await helmHistory(ns, 'app');
    const latest = history[history.length - 1];
    expect(history.filter((x) => x.status.startsWith('pending-'))).toEqual([]);
    expect(history.filter((x) => x.status === 'deployed')).toEqual([latest]);
    expect(latest).toMatchObject({ revision: hr.status?.release?.revision, description: 'Upgrade complete' });
    // At most two revisions per upgrade attempt (the upgrade and its atomic rollback): the killed
    // attempt (2, 3), the new controller's retry of the same spec when it reconciles before the
    // fix is seen (its attempt was never recorded in the status: 4, 5), and the fixed upgrade.
    expect(latest?.revision).toBeLessThanOrEqual(6);
    // Nothing was left pending for the new controller to unlock.
    expect((await eventsFor(ns, 'app')).map((e) => e.reason)).not.toContain('Unlocked');
  });

  it('with the runner killed too, the release is left pending-upgrade; after both restart it is unlocked and converges', async () => {
    const ns = await namespace('hr-res-both');
    const socket = stableSocket();
    const firstRunner = await runner({ socket });
    const firstCtl = await controller({ runnerSocket: socket, namespace: ns });

    await hrs.create(ns, 'app', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '20s', remediation: { retries: 1 } });
    await waitForCondition(ns, 'app', 'Ready', 'True');

    await hrs.patchSpec(ns, 'app', { values: unschedulable });
    expect(await waitFor('revision 2 to be pending-upgrade', () => pendingUpgrade(ns, 'app'), 60_000)).toBe(2);
    // The runner first, so that it cannot record the end of the upgrade when its caller dies.
    await firstRunner.kill();
    await firstCtl.kill();
    expect(brief(await helmHistory(ns, 'app'))).toBe('1:deployed 2:pending-upgrade');

    await runner({ socket });
    const ctl = await controller({ runnerSocket: socket, namespace: ns });
    await waitFor('an Unlocked event', async () =>
      (await eventsFor(ns, 'app')).some((e) => e.type === 'Normal' && e.reason === 'Unlocked') ? true : undefined, 60_000);
    await hrs.patchSpec(ns, 'app', { values: { nodeSelector: null, message: 'fixed' } });
    const hr = await waitReadyAt(ns, 'app', (h) => h.status?.release?.status === 'deployed', 'Ready=True after the fix');
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'app-plain' });
    expect(cm.data?.['message']).toBe('fixed');

    const history = await helmHistory(ns, 'app');
    const latest = history[history.length - 1];
    expect(history.filter((x) => x.status.startsWith('pending-'))).toEqual([]);
    expect(history.filter((x) => x.status === 'deployed')).toEqual([latest]);
    expect(latest).toMatchObject({ revision: hr.status?.release?.revision, description: 'Upgrade complete' });
    expect(history.find((x) => x.revision === 2)).toMatchObject({ status: 'failed', description: expect.stringContaining('unlocked') });
    // The unlock, then at most a retry of the unfixed spec (upgrade and rollback), then the fix.
    expect(latest?.revision).toBeLessThanOrEqual(5);
    expect(ctl.logs()).toContain('"action":"unlock"');
  });
});

describe('a standby stopped with SIGTERM', () => {
  it('exits 0 and logs an ordinary stop, not a failure', async () => {
    const ns = await namespace('hr-res-standby');
    const r = await runner();
    const [{ c: leader }, { c: standby }] = await twoReplicas(ns, r.socket, 'hr-test-leader-standby-stop');
    expect(await standby.stop()).toBe(0);
    expect(standby.logs()).toContain('"msg":"stopped while waiting for the leader lease"');
    expect(standby.logs()).not.toContain('"level":"error"');
    expect(await leader.stop()).toBe(0);
  });
});

interface Replica {
  readonly identity: string;
  readonly c: RunningController;
}

/** Two controllers on one namespace and one Lease; resolves to [leader, standby]. */
async function twoReplicas(ns: string, runnerSocket: string, lease: string): Promise<[Replica, Replica]> {
  const replica = (identity: string) =>
    controller({
      runnerSocket,
      namespace: ns,
      args: ['--leader-elect=true', '--leader-election-namespace', ns, '--leader-election-id', lease, '--identity', identity],
    });
  const [a, b] = (await Promise.all([replica('a'), replica('b')])).map((c, i) => ({ identity: i === 0 ? 'a' : 'b', c }));
  if (!a || !b) throw new Error('two replicas expected');
  return waitFor('exactly one leader', async (): Promise<[Replica, Replica] | undefined> => {
    const [ma, mb] = await Promise.all([a.c.metrics(), b.c.metrics()]);
    const la = metricValue(ma, 'leader_election_master_status', { name: lease }) === 1;
    const lb = metricValue(mb, 'leader_election_master_status', { name: lease }) === 1;
    if (la && lb) throw new Error('two leaders');
    return la ? [a, b] : lb ? [b, a] : undefined;
  }, 60_000);
}

const actionLines = (c: RunningController) => c.logs().split('\n').filter((l) => l.includes('"msg":"action started"'));

describe('two controllers with leader election', () => {
  for (const how of ['stopped with SIGTERM', 'killed with SIGKILL'] as const) {
    it(`only the leader acts; when it is ${how} the other takes over and reconciles a new change`, async () => {
      const ns = await namespace('hr-res-le');
      const lease = `hr-test-leader-${how === 'stopped with SIGTERM' ? 'term' : 'kill'}`;
      const r = await runner();
      const [{ c: leader }, { c: standby, identity: standbyId }] = await twoReplicas(ns, r.socket, lease);

      await hrs.create(ns, 'one', { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '20s' });
      await hrs.create(ns, 'two', { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0', timeout: '20s' });
      await waitForCondition(ns, 'one', 'Ready', 'True');
      await waitForCondition(ns, 'two', 'Ready', 'True');
      expect(metricValue(await leader.metrics(), 'leader_election_master_status', { name: lease })).toBe(1);
      expect(actionLines(leader).length).toBeGreaterThanOrEqual(2);
      expect(actionLines(standby)).toEqual([]);
      expect(standby.logs()).toContain('"msg":"waiting for the leader lease"');
      // A standby reports 0 (not leading) from the start; no series at all would fail here.
      expect(metricValue(await standby.metrics(), 'leader_election_master_status', { name: lease })).toBe(0);

      if (how === 'stopped with SIGTERM') expect(await leader.stop()).toBe(0);
      else await leader.kill();
      // A deadline for the wait only: how soon the standby leads is measured, not asserted.
      await waitFor('the standby to take over the lease', async () =>
        metricValue(await standby.metrics(), 'leader_election_master_status', { name: lease }) === 1 ? true : undefined, 60_000);

      await hrs.patchSpec(ns, 'one', { version: '1.1.0' });
      const hr = await waitReadyAt(ns, 'one', (h) => h.status?.release?.revision === 2, 'the new leader to upgrade one to revision 2');
      expect(hr.status?.release).toMatchObject({ chartVersion: '1.1.0', status: 'deployed' });
      expect(actionLines(standby).some((l) => l.includes('"action":"upgrade"') && l.includes(`${ns}/one`))).toBe(true);
      const held = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: lease, namespace: ns });
      expect(held.spec?.holderIdentity).toBe(standbyId);
    });
  }
});
