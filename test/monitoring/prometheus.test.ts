// The monitoring of deploy/monitoring/ proven against a real Prometheus (Debian's package), which
// scrapes the real reconcilers and helm-runners every second under the job names of the
// PodMonitor (planton-helm-reconciler, planton-helm-runner; honor_labels and the pod's namespace
// as target label, as there) and evaluates rules/planton-helm.rules.yaml, while the controllers
// install, fail, drift, lose their runner and queue up on the local control plane. Through
// Prometheus' HTTP API (/api/v1/alerts, /api/v1/query, query_range) it checks that every alert
// fires for what earns it and resolves when that ends, that over the whole run each alert fired
// for nothing else (Prometheus' own ALERTS series), and that every query of every dashboard panel
// returns data; then it plots the key panels' data with gnuplot into
// .build/monitoring/prometheus-e2e.png (printed).
//
// The rule file is loaded, once every target has been scraped, with every `for:` and every range
// window divided by 30 (shortenRuleDurations: `for: 15m` → 30s, `[1h]` → `[120s]`, `[5m]` →
// `[10s]`), so the alerts fire within seconds; thresholds and expressions are the file's own.
//
// Processes (all on loopback; each controller watches a namespace of its own):
//   main     runner R1 (on a socket path of the test's, so a restarted runner answers there) and a
//            controller serving the gRPC API with a certificate that expires in a day;
//   standby  a controller with --leader-elect=true whose Lease another identity holds;
//   queue    runner R2 and a controller with --concurrency 1, blocked by a Helm wait that lasts.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiController, type ApiTls, apiTls, startApiController } from '../support/api.js';
import { clusterEnv, kubeConfig, kubectl, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';
import { helmReleases, installCrd, requestReconcile, type RunningController, startController, waitForCondition } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';
import { type Alert, type PrometheusServer, type Series, shortenRuleDurations, startPrometheus } from './prometheus-server.js';

const execFileAsync = promisify(execFile);
const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
const hrs = helmReleases();

const FACTOR = 30;
const LEASE = 'planton-e2e';
const outDir = resolve(repoRoot, '.build/monitoring');
const rulesText = readFileSync(resolve(repoRoot, 'deploy/monitoring/rules/planton-helm.rules.yaml'), 'utf8');

interface DashboardTarget {
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  format?: string;
}
interface DashboardPanel {
  type: string;
  title: string;
  targets?: DashboardTarget[];
}
const dashboard = JSON.parse(readFileSync(resolve(repoRoot, 'deploy/monitoring/grafana/planton-helm.json'), 'utf8')) as { panels: DashboardPanel[] };

let prom: PrometheusServer | undefined;
let tls: ApiTls | undefined;
let runner: RunningRunner | undefined;
let queueRunner: RunningRunner | undefined;
let main: ApiController | undefined;
let standby: RunningController | undefined;
let queue: RunningController | undefined;
const namespaces: { name: string; cleanup: () => Promise<void> }[] = [];
let nsMain = '';
let nsLease = '';
let nsQueue = '';
let socketDir = '';
let runnerMetrics = '';
/** Unix seconds when Prometheus started scraping. */
let t0 = 0;

const now = () => Date.now() / 1000;

function runnerMetricsAddress(r: RunningRunner): string {
  const m = /"msg":"serving metrics"[^\n]*"address":"([^"]+)"/.exec(r.logs());
  if (!m?.[1]) throw new Error(`helm-runner logged no metrics address: ${r.logs()}`);
  return m[1];
}

function startMetricsRunner(opts: { socket?: string; metricsAddr?: string } = {}): Promise<RunningRunner> {
  return startRunner({ ...(opts.socket ? { socket: opts.socket } : {}), extraArgs: ['--metrics-addr', opts.metricsAddr ?? '127.0.0.1:0'] });
}

const plain = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });
const hooks = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'hooks', version: '1.0.0', timeout: '30s', ...extra });

const reconcilerAddress = (c: RunningController) => `127.0.0.1:${c.port}`;

/** True when `labels` has every label of `match`. */
const matches = (labels: Record<string, string>, match: Record<string, string>) => Object.entries(match).every(([k, v]) => labels[k] === v);

async function waitFiring(alertname: string, match: Record<string, string>, timeoutMs = 120_000): Promise<Alert> {
  return waitFor(`${alertname} ${JSON.stringify(match)} to fire`, async () => {
    const all = await prom!.alerts();
    return all.find((a) => a.state === 'firing' && a.labels['alertname'] === alertname && matches(a.labels, match));
  }, timeoutMs, 500);
}

async function waitResolved(alertname: string, match: Record<string, string>, timeoutMs = 120_000): Promise<void> {
  await waitFor(`${alertname} ${JSON.stringify(match)} to resolve`, async () => {
    const all = await prom!.alerts();
    return all.some((a) => a.labels['alertname'] === alertname && matches(a.labels, match)) ? undefined : true;
  }, timeoutMs, 500);
}

/**
 * What `alertname` fired for since Prometheus started, from its ALERTS series: one string per
 * alert instance, of the values of `keys` (e.g. namespace/name), sorted.
 */
async function everFired(alertname: string, keys: readonly string[]): Promise<string[]> {
  const window = Math.ceil(now() - t0) + 5;
  const samples = await prom!.query(`max_over_time(ALERTS{alertname="${alertname}", alertstate="firing"}[${window}s])`);
  return [...new Set(samples.map((s) => keys.map((k) => s.metric[k] ?? '').join('/')))].sort();
}

/** Grafana's built-in interval variables, as Grafana would set them for a 1 s scrape interval. */
function grafanaExpr(expr: string): string {
  return expr.replaceAll('$__rate_interval', '10s').replaceAll('$__interval', '2s');
}

function legend(format: string | undefined, metric: Record<string, string>): string {
  if (!format) return JSON.stringify(metric);
  // The plot names processes by the `pod` target label (main, standby, queue), not by address.
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_all, k: string) => (k === 'instance' ? metric['pod'] ?? metric['instance'] : metric[k]) ?? '');
}

const finite = (s: Series) => s.values.some(([, v]) => Number.isFinite(Number(v)));

beforeAll(async () => {
  await execFileAsync(resolve(repoRoot, 'test/cluster/debian-tools.sh'), [], { timeout: 600_000 });
  await Promise.all([buildRunner(), installCrd()]);
  for (const prefix of ['mon-main', 'mon-lease', 'mon-queue']) namespaces.push(await tempNamespace(prefix));
  [nsMain, nsLease, nsQueue] = namespaces.map((n) => n.name) as [string, string, string];
  socketDir = mkdtempSync(join(tmpdir(), 'planton-mon-'));
  tls = await apiTls();

  runner = await startMetricsRunner({ socket: join(socketDir, 'runner.sock') });
  runnerMetrics = runnerMetricsAddress(runner);
  queueRunner = await startMetricsRunner();

  // The standby's Lease, held by an identity that is not one of ours and renewed "now" for an hour.
  const renew = new Date().toISOString().replace('Z', '000Z');
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: LEASE, namespace: nsLease },
    spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 3600, acquireTime: renew, renewTime: renew },
  };
  const leaseFile = join(socketDir, 'lease.json');
  writeFileSync(leaseFile, JSON.stringify(lease));
  await kubectl(['apply', '-f', leaseFile]);

  main = await startApiController({ runnerSocket: runner.socket, namespace: nsMain, tls });
  standby = await startController({
    runnerSocket: runner.socket,
    namespace: nsLease,
    args: ['--leader-elect=true', '--leader-election-namespace', nsLease, '--leader-election-id', LEASE, '--identity', 'standby-e2e'],
  });
  queue = await startController({ runnerSocket: queueRunner.socket, namespace: nsQueue, args: ['--concurrency', '1'] });

  const target = (address: string, pod: string) => ({ address, labels: { namespace: 'planton-system', pod } });
  prom = await startPrometheus({
    interval: '1s',
    jobs: [
      { name: 'planton-helm-reconciler', targets: [target(reconcilerAddress(main), 'main'), target(reconcilerAddress(standby), 'standby'), target(reconcilerAddress(queue), 'queue')] },
      { name: 'planton-helm-runner', targets: [target(runnerMetrics, 'main'), target(runnerMetricsAddress(queueRunner), 'queue')] },
    ],
  });
  t0 = now();
  await waitFor('all five targets scraped', async () => ((await prom!.query('up')).length === 5 ? true : undefined), 60_000, 500);
  await prom.loadRules(shortenRuleDurations(rulesText, FACTOR));
}, 600_000);

afterAll(async () => {
  await prom?.stop();
  for (const c of [main, standby, queue]) await c?.stop();
  for (const r of [runner, queueRunner]) await r?.stop();
  for (const n of namespaces) await n.cleanup();
  tls?.cleanup();
  if (socketDir) rmSync(socketDir, { recursive: true, force: true });
}, 120_000);

describe('Prometheus with the rules of deploy/monitoring, scraping real controllers', () => {
  it('scrapes every reconciler and helm-runner under the job names of the contract', async () => {
    const up = await waitFor('all five targets up', async () => {
      const s = await prom!.query('up == 1');
      return s.length === 5 ? s : undefined;
    }, 60_000, 500);
    expect(up.map((s) => `${s.metric['job']} ${s.metric['pod']}`).sort()).toEqual([
      'planton-helm-reconciler main',
      'planton-helm-reconciler queue',
      'planton-helm-reconciler standby',
      'planton-helm-runner main',
      'planton-helm-runner queue',
    ]);
    // Both processes report memory under the job names the dashboard reads.
    const rss = await waitFor('process metrics of both jobs', async () => {
      const s = await prom!.query('count by (job) (process_resident_memory_bytes)');
      return s.length === 2 ? s : undefined;
    }, 30_000, 500);
    expect(rss.map((s) => s.metric['job']).sort()).toEqual(['planton-helm-reconciler', 'planton-helm-runner']);
  });

  it('fires Stalled, NotReady, ActionsFailing and DriftRecurring for the releases that earn them', async () => {
    await hrs.create(nsMain, 'healthy', plain());
    await hrs.create(nsMain, 'drift', plain({ interval: '3s' }));
    // Fails about 5 s into every install, and is retried with backoff (practically) for ever.
    await hrs.create(nsMain, 'failing', hooks({ values: { failHook: true }, remediation: { retries: 1000 } }));
    await hrs.create(nsMain, 'stalled', hooks({ values: { failHook: true }, remediation: { retries: 0 } }));
    await hrs.create(nsMain, 'paused', plain({ suspend: true }));
    // Waits for a HelmRelease that does not exist: progressing, never Ready.
    await hrs.create(nsMain, 'waiting', plain({ dependsOn: [{ name: 'missing' }] }));

    await waitForCondition(nsMain, 'healthy', 'Ready', 'True');
    await waitForCondition(nsMain, 'drift', 'Ready', 'True');
    // Drift that keeps coming back: scaled by hand four times, corrected each time.
    for (let i = 1; i <= 4; i++) {
      const before = (await hrs.get(nsMain, 'drift'))?.status?.drift?.lastCorrectedTime;
      await kubectl(['scale', 'deployment/drift-plain', '--namespace', nsMain, '--replicas=3']);
      await waitFor(`correction ${i} of the drift`, async () => {
        const hr = await hrs.get(nsMain, 'drift');
        const corrected = hr?.status?.drift?.lastCorrectedTime;
        const replicas = (await apps.readNamespacedDeployment({ namespace: nsMain, name: 'drift-plain' })).spec?.replicas;
        return corrected !== undefined && corrected !== before && replicas === 1 ? true : undefined;
      }, 60_000, 250);
    }
    const drift = await waitFiring('PlantonHelmReleaseDriftRecurring', { namespace: nsMain, name: 'drift' });
    expect(drift.labels['severity']).toBe('warning');
    expect(drift.annotations['description']).toContain(`HelmRelease ${nsMain}/drift were corrected about`);

    const stalledHr = await waitForCondition(nsMain, 'stalled', 'Stalled', 'True', 120_000);
    const stalled = await waitFiring('PlantonHelmReleaseStalled', { namespace: nsMain, name: 'stalled' });
    expect(stalled.annotations['summary']).toBe(`HelmRelease ${nsMain}/stalled is Stalled`);
    expect(stalled.annotations['runbook_url']).toMatch(/docs\/runbook\.md#plantonhelmreleasestalled$/);
    expect(stalledHr.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');

    const notReady = await waitFiring('PlantonHelmReleaseNotReady', { namespace: nsMain, name: 'failing' });
    expect(notReady.annotations['description']).toContain(`HelmRelease ${nsMain}/failing has not been Ready`);
    await waitFiring('PlantonHelmReleaseNotReady', { namespace: nsMain, name: 'waiting' });

    const failing = await waitFiring('PlantonHelmActionsFailing', { action: 'install' });
    // The description names the releases failing or Stalled when it was evaluated.
    expect(failing.annotations['description']).toContain(`${nsMain}/stalled`);
    expect(failing.annotations['summary']).toBe('Helm install actions keep failing');

    // Nothing fired for the healthy, the suspended or the corrected release, and Stalled and
    // NotReady did not fire for each other's releases.
    expect(await everFired('PlantonHelmReleaseStalled', ['namespace', 'name'])).toEqual([`${nsMain}/stalled`]);
    const notReadyFor = await everFired('PlantonHelmReleaseNotReady', ['namespace', 'name']);
    expect(notReadyFor).toEqual([`${nsMain}/failing`, `${nsMain}/waiting`]);
    expect(await everFired('PlantonHelmReleaseDriftRecurring', ['namespace', 'name'])).toEqual([`${nsMain}/drift`]);

    // A deleted HelmRelease's series go with it, and so does its alert.
    await hrs.delete(nsMain, 'drift');
    await waitResolved('PlantonHelmReleaseDriftRecurring', { namespace: nsMain, name: 'drift' });
  }, 480_000);

  it('fires RunnerDown and RunnerUnreachable while the runner is stopped, and resolves both when it is back on the same socket', async () => {
    expect(await everFired('PlantonHelmRunnerDown', ['instance'])).toEqual([]);
    expect(await everFired('PlantonHelmRunnerUnreachable', ['instance'])).toEqual([]);
    await runner!.stop();
    // A user asks for a retry meanwhile: the release is reconciled at once, and again every 5 s
    // while the runner does not answer (instead of after its backoff).
    await requestReconcile(nsMain, 'failing');
    const down = await waitFiring('PlantonHelmRunnerDown', { instance: runnerMetrics });
    expect(down.labels['severity']).toBe('critical');
    const unreachable = await waitFiring('PlantonHelmRunnerUnreachable', { instance: reconcilerAddress(main!) });
    expect(unreachable.annotations['description']).toMatch(/of the calls of the reconciler at 127\.0\.0\.1:\d+ to helm-runner ended UNAVAILABLE/);
    // What a user sees on a release reconciled meanwhile.
    await waitForCondition(nsMain, 'failing', 'Ready', 'Unknown', 60_000, 'RunnerUnavailable');

    runner = await startMetricsRunner({ socket: join(socketDir, 'runner.sock'), metricsAddr: runnerMetrics });
    await waitResolved('PlantonHelmRunnerDown', { instance: runnerMetrics });
    await waitResolved('PlantonHelmRunnerUnreachable', { instance: reconcilerAddress(main!) });
    await waitForCondition(nsMain, 'healthy', 'Ready', 'True');
  }, 300_000);

  it('fires ReconcileQueueGrowing for a queue that keeps growing behind a long Helm wait, and resolves it when the queue drains', async () => {
    // The queue controller's one worker waits up to 60 s for a Deployment that never becomes ready.
    await hrs.create(nsQueue, 'block', plain({ name: 'never-ready', timeout: '60s', remediation: { retries: 1000 } }));
    await waitFor('the blocking install to be in flight', async () => {
      const s = await prom!.query('planton_helm_runner_operations_in_flight{job="planton-helm-runner", pod="queue", verb="install"} == 1');
      return s.length === 1 ? true : undefined;
    }, 60_000, 500);
    // Suspended HelmReleases (nothing to install once their turn comes), one a second.
    let created = 0;
    let growing: Alert | undefined;
    while (growing === undefined && created < 60) {
      await hrs.create(nsQueue, `q-${String(created).padStart(2, '0')}`, plain({ suspend: true }));
      created++;
      await new Promise((r) => setTimeout(r, 1000));
      growing = (await prom!.alerts()).find((a) => a.state === 'firing' && a.labels['alertname'] === 'PlantonHelmReconcileQueueGrowing');
    }
    expect(growing?.labels['instance'], `not firing after ${created} HelmReleases`).toBe(reconcilerAddress(queue!));
    // Those waiting read -4: known, not reconciled yet.
    const waiting = await prom!.query(`planton_helm_release_reconciliation_status{namespace="${nsQueue}", name="q-00"}`);
    expect(waiting.map((s) => s.value[1])).toEqual(['-4']);

    // The install times out, the worker takes the suspended ones, the queue drains.
    await waitResolved('PlantonHelmReconcileQueueGrowing', { instance: reconcilerAddress(queue!) }, 180_000);
    expect(await everFired('PlantonHelmReconcileQueueGrowing', ['instance'])).toEqual([reconcilerAddress(queue!)]);
  }, 360_000);

  it('fires NoLeader while another identity holds the Lease, and resolves it once a replica takes it', async () => {
    const noLeader = await waitFiring('PlantonHelmNoLeader', { name: LEASE });
    expect(noLeader.annotations['summary']).toBe(`No replica holds the Lease ${LEASE}`);
    await kubectl(['delete', 'lease', LEASE, '--namespace', nsLease]);
    await waitResolved('PlantonHelmNoLeader', { name: LEASE });
    const leading = await prom!.query(`leader_election_master_status{name="${LEASE}"}`);
    expect(leading.map((s) => [s.metric['pod'], s.value[1]])).toEqual([['standby', '1']]);
    expect(await everFired('PlantonHelmNoLeader', ['name'])).toEqual([LEASE]);
  }, 180_000);

  it('fires ApiCertificateExpiringSoon for the API serving a certificate that expires in a day, and for nothing else', async () => {
    const cert = await waitFiring('PlantonHelmApiCertificateExpiringSoon', { instance: reconcilerAddress(main!) });
    expect(cert.annotations['summary']).toMatch(/^The gRPC API certificate of 127\.0\.0\.1:\d+ expires in 23h \d+m \d+s$/);
    expect(await everFired('PlantonHelmApiCertificateExpiringSoon', ['instance'])).toEqual([reconcilerAddress(main!)]);
  }, 180_000);

  it('returns data for every query of every dashboard panel, and plots the key panels', async () => {
    const end = now();
    const empty: string[] = [];
    const data = new Map<string, { legend: string; series: Series }[]>();
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      for (const t of panel.targets ?? []) {
        const expr = grafanaExpr(t.expr);
        if (t.instant) {
          const result = await prom!.query(expr, end);
          if (result.length === 0) empty.push(`${panel.title}: ${t.expr}`);
          continue;
        }
        const result = await prom!.queryRange(expr, t0, end, 2);
        if (!result.some(finite)) empty.push(`${panel.title}: ${t.expr}`);
        const rows = data.get(panel.title) ?? [];
        rows.push(...result.filter(finite).map((series) => ({ legend: legend(t.legendFormat, series.metric), series })));
        data.set(panel.title, rows);
      }
    }
    expect(empty).toEqual([]);

    const alertsFiring = await prom!.queryRange('count by (alertname) (ALERTS{alertstate="firing"})', t0, end, 2);
    data.set('Alerts firing (Prometheus ALERTS)', alertsFiring.map((series) => ({ legend: (series.metric['alertname'] ?? '').replace(/^PlantonHelm/, ''), series })));
    // The data behind the plot, for a person who wants the numbers.
    mkdirSync(outDir, { recursive: true });
    const json = join(outDir, 'prometheus-e2e.json');
    writeFileSync(json, JSON.stringify({ start: t0, end, panels: Object.fromEntries([...data].map(([title, rows]) => [title, rows.map((r) => ({ legend: r.legend, values: r.series.values.map(([t, v]) => [Math.round((t - t0) * 10) / 10, Number(v)]) }))])) }));
    const png = await plot(data, [
      'Releases by state over time',
      'Helm actions per minute',
      'Drift detected and corrected',
      'Runner operation latency (helm-runner)',
      'Runner call latency (reconciler)',
      'Reconcile queue depth',
      'Memory (RSS)',
      'CPU',
      'Alerts firing (Prometheus ALERTS)',
    ], end);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    console.log(`monitoring end to end: the key panels' data plotted in ${png} (the data: ${json})`);
    for (const s of alertsFiring) {
      const firing = s.values.filter(([, v]) => Number(v) > 0);
      console.log(`  ${s.metric['alertname']}: firing from ${Math.round((firing[0]?.[0] ?? t0) - t0)} s to ${Math.round((firing.at(-1)?.[0] ?? t0) - t0)} s of the run`);
    }
  }, 180_000);

  it('fires ControllerDown once no reconciler is left, and over the run fired nothing it should not have', async () => {
    expect(await everFired('PlantonHelmControllerDown', ['alertname'])).toEqual([]);
    // Over the whole run, each alert fired for exactly what earned it.
    expect(await everFired('PlantonHelmReleaseStalled', ['namespace', 'name'])).toEqual([`${nsMain}/stalled`]);
    const notReady = await everFired('PlantonHelmReleaseNotReady', ['namespace', 'name']);
    expect(notReady).toEqual(expect.arrayContaining([`${nsMain}/failing`, `${nsMain}/waiting`]));
    // Besides those, only HelmReleases of the queue that waited longer than the rule's `for:`.
    expect(notReady.filter((r) => !r.startsWith(`${nsQueue}/`))).toEqual([`${nsMain}/failing`, `${nsMain}/waiting`]);
    expect(await everFired('PlantonHelmActionsFailing', ['action'])).toEqual(['install']);
    expect(await everFired('PlantonHelmReleaseDriftRecurring', ['namespace', 'name'])).toEqual([`${nsMain}/drift`]);
    expect(await everFired('PlantonHelmRunnerDown', ['instance'])).toEqual([runnerMetrics]);
    expect(await everFired('PlantonHelmRunnerUnreachable', ['instance'])).toEqual([reconcilerAddress(main!)]);

    await Promise.all([main!.stop(), standby!.stop(), queue!.stop()]);
    const down = await waitFiring('PlantonHelmControllerDown', {});
    expect(down.labels['severity']).toBe('critical');
  }, 180_000);
});

/**
 * Plots each named panel's series (seconds since the run started against the value) with gnuplot
 * into .build/monitoring/prometheus-e2e.png; returns its path.
 */
async function plot(data: Map<string, { legend: string; series: Series }[]>, titles: readonly string[], end: number): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'planton-plot-'));
  const png = join(outDir, 'prometheus-e2e.png');
  const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;
  const script = [
    'set terminal pngcairo size 1800,1500 font ",9"',
    `set output ${quote(png)}`,
    `set multiplot layout 3,3 title ${quote(`Planton HelmRelease controller: dashboard queries over the monitoring end-to-end run (${Math.round(end - t0)} s, scraped every second)`)}`,
    'set key top left font ",7" noenhanced',
    'set xlabel "seconds since Prometheus started"',
    `set xrange [0:${Math.ceil(end - t0)}]`,
    'set grid',
  ];
  titles.forEach((title, i) => {
    const rows = data.get(title) ?? [];
    script.push(`set title ${quote(title)} noenhanced`);
    if (rows.length === 0) {
      script.push('unset key', 'plot 0 notitle', 'set key');
      return;
    }
    const file = join(dir, `panel-${i}.dat`);
    // One block per series; a blank line where the series has no value, so gnuplot draws no line across it.
    const blocks = rows.map(({ legend: name, series }) => {
      const lines = [quote(name)];
      let last: number | undefined;
      for (const [t, v] of series.values) {
        if (!Number.isFinite(Number(v))) continue;
        if (last !== undefined && t - last > 3) lines.push('');
        lines.push(`${(t - t0).toFixed(1)} ${v}`);
        last = t;
      }
      return lines.join('\n');
    });
    writeFileSync(file, `${blocks.join('\n\n\n')}\n`);
    // Latencies span milliseconds to tens of seconds.
    script.push(/latency/.test(title) ? 'set logscale y' : 'unset logscale y');
    script.push(`plot for [i=0:${rows.length - 1}] ${quote(file)} index i using 1:2 with linespoints pointtype 7 pointsize 0.3 title columnheader(1)`);
  });
  script.push('unset multiplot');
  writeFileSync(join(dir, 'panels.gp'), `${script.join('\n')}\n`);
  try {
    await execFileAsync('gnuplot', [join(dir, 'panels.gp')], { timeout: 120_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return png;
}
