// Hostile charts end to end, on the local control plane with the real runner and controller: a
// chart whose template loops without end, one whose string doubles without end and one that
// renders 48 MiB are installed at the same time as several ordinary releases. Each hostile release
// stalls with RenderLimitExceeded and a message naming the limit it hit, writing no revision;
// every ordinary release becomes Ready; the runner is the same process at the end and still
// serves. The runner's peak RSS and how long each hostile release took to fail are printed.
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, kubeConfig, tempNamespace } from '../support/cluster.js';
import {
  condition,
  helmReleases,
  installCrd,
  type RunningController,
  startController,
  waitForCondition,
} from '../support/controller.js';
import { buildRunner, type RunningRunner, runnerApi, startRunner } from '../support/runner.js';

const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
const hrs = helmReleases();

// The render time limit of this suite's runner: short, so the endless loop fails quickly.
const RENDER_TIME_LIMIT = '15s';

let ns: string;
let cleanup: (() => Promise<void>) | undefined;
let runner: RunningRunner;
let controller: RunningController;

beforeAll(async () => {
  await Promise.all([buildRunner(), installCrd()]);
  const namespace = await tempNamespace('hr-hostile');
  ns = namespace.name;
  cleanup = namespace.cleanup;
  runner = await startRunner({ extraArgs: ['--render-time-limit', RENDER_TIME_LIMIT] });
  controller = await startController({ runnerSocket: runner.socket, namespace: ns });
});
afterAll(async () => {
  await controller?.stop();
  await runner?.stop();
  await cleanup?.();
});

const spec = (name: string) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name, version: '1.0.0', wait: true, timeout: '2m' });

/** A field of /proc/<pid>/status in MiB ("VmHWM", "VmRSS"). */
function procStatusMiB(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)\s*kB/.exec(line ?? '')?.[1] ?? Number.NaN) / 1024;
}

const hostile = [
  { chart: 'hostile-loop', message: `rendering chart hostile-loop-1.0.0 did not finish within ${RENDER_TIME_LIMIT}` },
  { chart: 'hostile-memory', message: 'rendering chart hostile-memory-1.0.0 exceeded the render memory limit of 512 MiB' },
  { chart: 'hostile-output', message: 'rendering chart hostile-output-1.0.0 produced more than 32 MiB' },
];
const ordinary = ['plain-a', 'plain-b', 'plain-c', 'plain-d', 'plain-e'];

describe('hostile charts next to ordinary releases', () => {
  it('fail only their own releases, with the limit named, while the runner keeps serving', async () => {
    const pid = runner.process.pid;
    expect(pid).toBeDefined();
    const started = Date.now();
    await Promise.all([
      ...hostile.map((h) => hrs.create(ns, h.chart, spec(h.chart))),
      ...ordinary.map((name) => hrs.create(ns, name, spec('plain'))),
    ]);

    const failedAfter = await Promise.all(hostile.map(async (h) => {
      const hr = await waitForCondition(ns, h.chart, 'Stalled', 'True', 180_000, 'RenderLimitExceeded');
      const seconds = (Date.now() - started) / 1000;
      expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'RenderLimitExceeded' });
      expect(condition(hr, 'Stalled')?.message).toContain(h.message);
      return { chart: h.chart, seconds };
    }));
    for (const name of ordinary) {
      const hr = await waitForCondition(ns, name, 'Ready', 'True', 180_000);
      expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
    }

    // A failed render writes no revision.
    for (const h of hostile) {
      const secrets = await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${h.chart}` });
      expect(secrets.items).toHaveLength(0);
    }
    // The same runner process, never restarted or killed, still answers.
    expect(runner.process.pid).toBe(pid);
    expect(runner.process.exitCode).toBeNull();
    expect(runner.process.signalCode).toBeNull();
    const state = await runnerApi(runner.client).getReleaseState({ release: { namespace: ns, name: ordinary[0] } });
    expect(state.state).toMatchObject({ exists: true, revision: 1 });

    const peak = procStatusMiB(pid ?? 0, 'VmHWM');
    console.log(`runner peak RSS (VmHWM) during the suite: ${peak.toFixed(1)} MiB; now ${procStatusMiB(pid ?? 0, 'VmRSS').toFixed(1)} MiB`);
    for (const f of failedAfter) console.log(`${f.chart}: Stalled RenderLimitExceeded ${f.seconds.toFixed(1)} s after creation`);
  }, 300_000);
});
