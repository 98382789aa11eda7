// `make bench`: the whole product at scale on the local control plane. Prints figures; asserts
// nothing about speed (figures go in notes, never in pass/fail).
//
// For each size N (BENCH_RELEASES, default 100,1000): a fresh runner and reconciler, N
// HelmReleases of the plain chart created at once in one namespace; then
//   - time from the first create until every HelmRelease is Ready=True for its generation;
//   - peak RSS (VmHWM) of the reconciler and of the runner;
//   - API requests the cluster served meanwhile (kube-apiserver's apiserver_request_total, by
//     resource and verb: it includes the cluster's own controllers and KWOK, so the resources
//     the controller touches are listed separately);
// and for the largest size a steady state of BENCH_STEADY_SECONDS (default 300) with nothing
// changing: CPU seconds of both processes and writes per minute to HelmReleases, Helm release
// Secrets and Events. The releases use interval BENCH_INTERVAL (default 2m) so that every
// release is re-checked (release state and drift) during the steady window.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { describe, it } from 'vitest';
import { clusterEnv, kubeConfig, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';
import { Informer } from '../../src/controller/informer.js';
import type { KubeObject } from '../../src/kube/list-watch.js';
import { KubeRest } from '../../src/kube/rest.js';
import { installCrd, type RunningController, startController } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';
import { cpuSeconds, peakRssMiB } from './proc.js';

const SIZES = (process.env['BENCH_RELEASES'] ?? '100,1000').split(',').map(Number);
const STEADY_S = Number(process.env['BENCH_STEADY_SECONDS'] ?? 300);
const CONCURRENCY = process.env['BENCH_CONCURRENCY'] ?? '20';
const INTERVAL = process.env['BENCH_INTERVAL'] ?? '2m';
const WAIT = process.env['BENCH_WAIT'] !== 'off';

const group = { group: 'helm.project-planton.org', version: 'v1', plural: 'helmreleases' };

/** pids of the local cluster's components, by name (from .cluster/pids). */
function clusterPids(): Map<string, number> {
  const dir = resolve(process.env['CLUSTER_DIR'] ?? resolve(repoRoot, '.cluster'), 'pids');
  const out = new Map<string, number>();
  for (const f of readdirSync(dir)) out.set(f.replace(/\.pid$/, ''), Number(readFileSync(resolve(dir, f), 'utf8').trim().split(/\s+/)[0]));
  return out;
}

/** CPU seconds per process name since `before` (a snapshot taken by the same function). */
function cpuBy(pids: Map<string, number>, before?: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, pid] of pids) {
    try {
      out.set(name, cpuSeconds(pid) - (before?.get(name) ?? 0));
    } catch {
      // the process is gone
    }
  }
  return out;
}

function cpuLine(cpu: Map<string, number>): string {
  return [...cpu.entries()]
    .filter(([, s]) => s >= 0.5)
    .sort(([, a], [, b]) => b - a)
    .map(([n, s]) => `${n} ${s.toFixed(0)} s`)
    .join(', ');
}

/** apiserver_request_total summed by `resource verb`. */
async function apiRequests(): Promise<Map<string, number>> {
  const res = await new KubeRest(kubeConfig()).send({ method: 'GET', path: '/metrics' });
  let text = '';
  for await (const chunk of res) text += String(chunk);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '';
    const key = `${resource} ${verb}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) {
    const x = v - (before.get(k) ?? 0);
    if (x > 0) d.set(k, x);
  }
  return d;
}

const OURS = ['helmreleases', 'secrets', 'events', 'leases', 'configmaps'];
const WRITES = ['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY'];

function summarize(d: Map<string, number>): { total: number; ours: string; writes: (resources: string[]) => number } {
  let total = 0;
  for (const v of d.values()) total += v;
  const ours = [...d.entries()]
    .filter(([k]) => OURS.includes(k.split(' ')[0] ?? ''))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const writes = (resources: string[]) =>
    [...d.entries()]
      .filter(([k]) => resources.includes(k.split(' ')[0] ?? '') && WRITES.includes(k.split(' ')[1] ?? ''))
      .reduce((s, [, v]) => s + v, 0);
  return { total, ours, writes };
}

interface ReadyView extends KubeObject {
  readonly ready: boolean;
}

/**
 * Watches the namespace's HelmReleases (one LIST, then a WATCH: the benchmark must not load the
 * API server it measures with a LIST of every release each second) and keeps, per release,
 * whether it is Ready=True for its current generation.
 */
function readiness(ns: string): Informer<ReadyView> {
  return new Informer<ReadyView>({
    kubeConfig: kubeConfig(),
    path: `/apis/helm.project-planton.org/v1/namespaces/${ns}/helmreleases`,
    transform: (o) => {
      const obj = o as KubeObject & {
        metadata: { generation?: number };
        status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
      };
      return {
        metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, resourceVersion: obj.metadata.resourceVersion },
        ready:
          obj.status?.observedGeneration === obj.metadata.generation &&
          (obj.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      };
    },
  });
}

async function createAll(api: k8s.CustomObjectsApi, ns: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await api.createNamespacedCustomObject({
        ...group,
        namespace: ns,
        body: {
          apiVersion: 'helm.project-planton.org/v1',
          kind: 'HelmRelease',
          metadata: { name: `r${i}` },
          spec: { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', wait: WAIT, interval: INTERVAL, timeout: '5m' },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
}

type Versions = { helmreleases: Map<string, string>; secrets: Map<string, string>; events: Set<string> };

/** resourceVersions of the namespace's HelmReleases and Helm release Secrets, and its event names. */
async function versions(ns: string): Promise<Versions> {
  const kc = kubeConfig();
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const hr = (await objects.listNamespacedCustomObject({ ...group, namespace: ns })) as { items: { metadata: { name: string; resourceVersion: string } }[] };
  const secrets = await core.listNamespacedSecret({ namespace: ns, labelSelector: 'owner=helm' });
  const events = await core.listNamespacedEvent({ namespace: ns });
  return {
    helmreleases: new Map(hr.items.map((i) => [i.metadata.name, i.metadata.resourceVersion])),
    secrets: new Map(secrets.items.map((i) => [i.metadata?.name ?? '', i.metadata?.resourceVersion ?? ''])),
    events: new Set(events.items.map((e) => e.metadata?.name ?? '')),
  };
}

function changedVersions(a: Versions, b: Versions): { helmreleases: number; secrets: number; events: number } {
  const diff = (x: Map<string, string>, y: Map<string, string>) => [...y].filter(([k, v]) => x.get(k) !== v).length;
  return {
    helmreleases: diff(a.helmreleases, b.helmreleases),
    secrets: diff(a.secrets, b.secrets),
    events: [...b.events].filter((e) => !a.events.has(e)).length,
  };
}

describe('reconciler benchmark', () => {
  it('measures time to Ready, peak RSS and API requests for N releases, then a steady state', async () => {
    await Promise.all([buildRunner(), installCrd()]);
    const api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const rows: string[] = [];
    for (const [index, n] of SIZES.entries()) {
      const { name: ns, cleanup } = await tempNamespace(`bench-${n}`);
      let runner: RunningRunner | undefined;
      let controller: RunningController | undefined;
      try {
        runner = await startRunner();
        controller = await startController({ runnerSocket: runner.socket, namespace: ns, args: ['--concurrency', CONCURRENCY, '--log-level', 'info'] });
        const watch = readiness(ns);
        await watch.start();
        const before = await apiRequests();
        const procs = new Map([...clusterPids(), ['reconciler', controller.process.pid ?? 0], ['helm-runner', runner.process.pid ?? 0]]);
        const cpuBefore = cpuBy(procs);
        const start = performance.now();
        await createAll(api, ns, n);
        const created = performance.now();
        await waitFor(`${n} HelmReleases Ready`, async () => (watch.list().filter((r) => r.ready).length === n ? true : undefined), 3_600_000, 100);
        watch.stop();
        const seconds = (performance.now() - start) / 1000;
        const cpu = cpuBy(procs, cpuBefore);
        const d = summarize(delta(before, await apiRequests()));
        const rssController = peakRssMiB(controller.process.pid ?? 0);
        const rssRunner = peakRssMiB(runner.process.pid ?? 0);
        rows.push(
          `N=${n} concurrency=${CONCURRENCY} wait=${WAIT}: all Ready in ${seconds.toFixed(1)} s (creates took ${((created - start) / 1000).toFixed(1)} s), ` +
            `${(n / seconds).toFixed(2)} releases/s; peak RSS reconciler ${rssController.toFixed(0)} MiB + runner ${rssRunner.toFixed(0)} MiB = ${(rssController + rssRunner).toFixed(0)} MiB; ` +
            `CPU seconds meanwhile: ${cpuLine(cpu)}; API requests ${d.total} (cluster-wide), of which ${d.ours}`,
        );
        process.stdout.write(`${rows.at(-1)}\n`);

        if (index === SIZES.length - 1 && STEADY_S > 0) {
          const pids = [controller.process.pid ?? 0, runner.process.pid ?? 0];
          // Let the last statuses land, then watch nothing change.
          await new Promise((r) => setTimeout(r, 5000));
          const b = await apiRequests();
          const versions0 = await versions(ns);
          const cpu0 = pids.map(cpuSeconds);
          const t0 = performance.now();
          await new Promise((r) => setTimeout(r, STEADY_S * 1000));
          const minutes = (performance.now() - t0) / 60_000;
          const cpu = pids.map((p, i) => cpuSeconds(p) - (cpu0[i] ?? 0));
          const s = summarize(delta(b, await apiRequests()));
          const changed = changedVersions(versions0, await versions(ns));
          rows.push(
            `steady state, ${n} Ready releases, ${STEADY_S} s, interval ${INTERVAL}: CPU reconciler ${cpu[0]?.toFixed(1)} s + runner ${cpu[1]?.toFixed(1)} s ` +
              `(${(((cpu[0] ?? 0) + (cpu[1] ?? 0)) / (minutes * 60) * 100).toFixed(1)} % of one core); ` +
              `cluster-wide writes/min to helmreleases ${(s.writes(['helmreleases']) / minutes).toFixed(1)}, secrets ${(s.writes(['secrets']) / minutes).toFixed(1)}, events ${(s.writes(['events']) / minutes).toFixed(1)}; ` +
              `in the benchmark namespace: ${changed.helmreleases} HelmRelease(s), ${changed.secrets} release Secret(s) changed, ${changed.events} new event(s); ` +
              `cluster-wide ${s.ours}; peak RSS now reconciler ${peakRssMiB(pids[0] ?? 0).toFixed(0)} MiB, runner ${peakRssMiB(pids[1] ?? 0).toFixed(0)} MiB`,
          );
          process.stdout.write(`${rows.at(-1)}\n`);
        }
      } finally {
        await controller?.stop();
        await runner?.stop();
        await cleanup();
      }
    }
    process.stdout.write(`\n${rows.join('\n')}\n`);
  });
});
