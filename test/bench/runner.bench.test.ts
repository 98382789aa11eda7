// `make bench-runner`: helm-runner throughput and memory on the local cluster. Prints figures;
// asserts nothing about speed (figures go in notes, never in pass/fail).
//
// 1. install latency of the plain chart (wait on), p50/p95 over 20 sequential installs;
// 2. 200 installs of the same chart at concurrency 1, 4, 10 and 20 (a fresh runner per level,
//    so peak RSS is per level): installs/s and the runner's peak RSS (VmHWM) with 200 releases;
// 3. drift detection of a 10-object release, p50 over 20 runs.
import { describe, it } from 'vitest';
import { clusterEnv, tempNamespace } from '../support/cluster.js';
import { peakRssMiB } from './proc.js';
import { buildRunner, type RunnerApi, runnerApi, startRunner } from '../support/runner.js';

const INSTALLS = Number(process.env['BENCH_INSTALLS'] ?? 200);
const LEVELS = (process.env['BENCH_CONCURRENCY'] ?? '1,4,10,20').split(',').map(Number);
// Extra runner flags, e.g. BENCH_RUNNER_ARGS='--kube-api-qps 200 --kube-api-burst 400'.
const RUNNER_ARGS = (process.env['BENCH_RUNNER_ARGS'] ?? '').split(' ').filter(Boolean);
const LATENCY = process.env['BENCH_LATENCY'] !== 'off';
// BENCH_WAIT=off measures the runner without waiting for readiness (the cluster's controllers
// and KWOK then do not bound the figure).
const WAIT = process.env['BENCH_WAIT'] !== 'off';

const chart = () => ({ repo: clusterEnv().PLANTON_OCI_REPO, allowInsecureHttp: true, name: 'plain', version: '1.0.0' });
const timeout = { seconds: 300, nanos: 0 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function install(api: RunnerApi, ns: string, name: string): Promise<number> {
  const start = performance.now();
  const res = await api.install({ release: { name, namespace: ns }, chart: chart(), wait: WAIT, atomic: false, timeout });
  if (!res.outcome?.succeeded) throw new Error(`install ${name}: ${res.outcome?.message}`);
  return performance.now() - start;
}

async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

describe('helm-runner benchmark', () => {
  it('measures install latency, throughput by concurrency, peak RSS and drift detection', async () => {
    await buildRunner();
    const rows: string[] = [];

    if (LATENCY) {
      const runner = await startRunner({ extraArgs: RUNNER_ARGS });
      const api = runnerApi(runner.client);
      const { name: ns, cleanup } = await tempNamespace('bench-latency');
      const ms: number[] = [];
      for (let i = 0; i < 20; i++) ms.push(await install(api, ns, `lat-${i}`));
      ms.sort((a, b) => a - b);
      rows.push(`install latency (plain chart, wait): p50 ${percentile(ms, 50).toFixed(0)} ms, p95 ${percentile(ms, 95).toFixed(0)} ms`);

      const drift: number[] = [];
      for (let i = 0; i < 20; i++) {
        const start = performance.now();
        await api.detectDrift({ release: { name: 'lat-0', namespace: ns }, timeout: { seconds: 60, nanos: 0 } });
        drift.push(performance.now() - start);
      }
      drift.sort((a, b) => a - b);
      rows.push(`drift detection (3-object release): p50 ${percentile(drift, 50).toFixed(0)} ms`);
      await runner.stop();
      await cleanup();
    }

    rows.push(`${INSTALLS} installs of the plain chart (wait ${WAIT ? 'on' : 'off'}), fresh runner per level, runner flags: ${RUNNER_ARGS.join(' ') || '(defaults)'}, GOMEMLIMIT ${process.env['GOMEMLIMIT'] ?? '(unset)'}:`);
    rows.push('concurrency | wall s | installs/s | runner peak RSS MiB');
    for (const c of LEVELS) {
      const runner = await startRunner({ extraArgs: RUNNER_ARGS });
      const api = runnerApi(runner.client);
      const { name: ns, cleanup } = await tempNamespace(`bench-c${c}`);
      const start = performance.now();
      await pool(INSTALLS, c, async (i) => {
        await install(api, ns, `r-${i}`);
      });
      const wall = (performance.now() - start) / 1000;
      const rss = peakRssMiB(runner.process.pid ?? 0);
      rows.push(`${String(c).padStart(11)} | ${wall.toFixed(1).padStart(6)} | ${(INSTALLS / wall).toFixed(2).padStart(10)} | ${rss.toFixed(0).padStart(6)}`);
      await runner.stop();
      await cleanup();
    }
    console.log(`\n${rows.join('\n')}\n`);
  }, 3_600_000);
});
