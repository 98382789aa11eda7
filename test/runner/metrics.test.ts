// helm-runner's /metrics end to end: the real binary with --metrics-addr, driven through its gRPC
// API against the local cluster and both chart repositories (installs, a second install of the
// same chart, a chart that does not exist, an upgrade whose hook fails, a chart test, a diff),
// then scraped as Prometheus would, asserting the series an operator queries; and the runner's
// log lines of a call sent with a reconcile ID carry it.
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstallRequest, type InstallResponse } from '../../src/gen/planton/helmrunner/v1/runner.js';
import { clusterEnv, tempNamespace } from '../support/cluster.js';
import { buildRunner, type RunnerApi, runnerApi, type RunningRunner, startRunner } from '../support/runner.js';

const oci = () => ({ repo: clusterEnv().PLANTON_OCI_REPO, allowInsecureHttp: true });
const http = () => ({ repo: clusterEnv().PLANTON_HTTP_REPO, allowInsecureHttp: true });
const seconds = (n: number) => ({ seconds: n, nanos: 0 });
const RECONCILE_ID = '5e1f0a9c3b7d2468';
const INSTALL_METHOD = '/planton.helmrunner.v1.HelmRunnerService/Install';

let ns: string;
let cleanup: () => Promise<void>;
let runner: RunningRunner;
let api: RunnerApi;

interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of metric name in a Prometheus text exposition. */
function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one series of name whose labels are exactly labels; undefined when none. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).sort();
  const match = samples(text, name).filter((s) => JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(want));
  return match[0]?.value;
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://${runner.metricsAddress}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

/** Install as the reconciler calls it: with its reconcile ID in the call's metadata. */
function installWithReconcileId(req: Parameters<RunnerApi['install']>[0]): Promise<InstallResponse> {
  const md = new Metadata();
  md.set('x-planton-reconcile-id', RECONCILE_ID);
  return new Promise((ok, fail) => {
    runner.client.install(InstallRequest.fromPartial(req), md, (e: ServiceError | null, r: InstallResponse) => (e ? fail(e) : ok(r)));
  });
}

let metrics: string;

beforeAll(async () => {
  await buildRunner();
  ({ name: ns, cleanup } = await tempNamespace('runner-metrics'));
  runner = await startRunner({ metrics: true, extraArgs: ['--log-level', 'debug'] });
  api = runnerApi(runner.client);

  const install = (name: string, chart: Record<string, unknown>, values: Record<string, unknown> = {}) =>
    api.install({ release: { name, namespace: ns }, chart, values, wait: true, timeout: seconds(120) });
  const first = await installWithReconcileId({
    release: { name: 'first', namespace: ns }, chart: { ...http(), name: 'plain', version: '1.0.0' }, wait: true, timeout: seconds(120),
  });
  expect(first.outcome?.succeeded).toBe(true);
  // The same chart again: served from the cache.
  expect((await install('second', { ...http(), name: 'plain', version: '1.0.0' })).outcome?.succeeded).toBe(true);
  expect((await install('from-oci', { ...oci(), name: 'plain', version: '1.0.0' })).outcome?.succeeded).toBe(true);
  expect((await install('hooked', { ...http(), name: 'hooks', version: '1.0.0' })).outcome?.succeeded).toBe(true);
  expect((await install('tested', { ...http(), name: 'testable', version: '1.0.0' })).outcome?.succeeded).toBe(true);
  await expect(install('missing', { ...http(), name: 'no-such-chart', version: '1.0.0' })).rejects.toMatchObject({ details: expect.stringContaining('no-such-chart') });

  // The pre-upgrade hook Job fails: Helm wrote the pending revision, so this is an outcome.
  const failed = await api.upgrade({
    release: { name: 'hooked', namespace: ns }, chart: { ...http(), name: 'hooks', version: '1.0.0' },
    values: { failHook: true }, wait: true, atomic: false, timeout: seconds(120),
  });
  expect(failed.outcome).toMatchObject({ succeeded: false });
  expect((await api.test({ release: { name: 'tested', namespace: ns }, timeout: seconds(120) })).outcome?.succeeded).toBe(true);
  const diff = await api.diff({
    release: { name: 'first', namespace: ns }, chart: { ...http(), name: 'plain', version: '1.0.0' },
    values: { message: 'changed' }, timeout: seconds(60),
  });
  expect(diff.objects.length).toBeGreaterThan(0);
  metrics = await scrape();
});
afterAll(async () => {
  await runner?.stop();
  await cleanup();
});

describe('helm-runner /metrics', () => {
  it('counts every operation by verb and outcome, and none is left in flight', () => {
    const count = (verb: string, outcome: string) =>
      value(metrics, 'planton_helm_runner_operation_duration_seconds_count', { verb, outcome });
    expect(count('install', 'success')).toBe(5);
    expect(count('install', 'error')).toBe(1);
    expect(count('upgrade', 'failure')).toBe(1);
    expect(count('test', 'success')).toBe(1);
    expect(count('diff', 'success')).toBe(1);
    expect(count('upgrade', 'success')).toBeUndefined();
    const inFlight = samples(metrics, 'planton_helm_runner_operations_in_flight');
    expect(inFlight.map((s) => s.labels['verb']).sort()).toEqual([
      'correct_drift', 'detect_drift', 'diff', 'get_release_state', 'install', 'rollback', 'test', 'uninstall', 'unlock', 'upgrade',
    ]);
    expect(inFlight.every((s) => s.value === 0)).toBe(true);
    // The 5 s-or-so of the failing hook are in the upgrade's duration.
    expect(value(metrics, 'planton_helm_runner_operation_duration_seconds_sum', { verb: 'upgrade', outcome: 'failure' })).toBeGreaterThan(1);
  });

  it('counts chart pulls by source and the cache hits of charts pulled before', () => {
    const pulls = (source: string, outcome: string) => value(metrics, 'planton_helm_runner_chart_pulls_total', { source, outcome });
    // plain, hooks and testable over HTTP; the missing chart's index lookup failed; plain over OCI.
    expect(pulls('http', 'success')).toBe(3);
    expect(pulls('http', 'error')).toBe(1);
    expect(pulls('oci', 'success')).toBe(1);
    expect(pulls('oci', 'error')).toBe(0);
    // Hits: the second install of plain, the upgrade of hooks, the diff of plain.
    expect(value(metrics, 'planton_helm_runner_chart_cache_requests_total', { result: 'hit' })).toBe(3);
    expect(value(metrics, 'planton_helm_runner_chart_cache_requests_total', { result: 'miss' })).toBe(5);
    expect(value(metrics, 'planton_helm_runner_chart_cache_bytes', { tier: 'disk' })).toBeGreaterThanOrEqual(4 * 2 * 4096);
    expect(value(metrics, 'planton_helm_runner_chart_cache_bytes', { tier: 'memory' })).toBeGreaterThan(0);
    expect(value(metrics, 'planton_helm_runner_chart_cache_evictions_total', { tier: 'disk' })).toBe(0);
  });

  it('measures renders, and waits by kind and outcome', () => {
    // Every install, upgrade and diff rendered its chart in a render process once.
    expect(value(metrics, 'planton_helm_runner_render_duration_seconds_count', { outcome: 'success' })).toBe(7);
    const waits = (kind: string, outcome: string) =>
      value(metrics, 'planton_helm_runner_wait_duration_seconds_count', { kind, outcome }) ?? 0;
    // The objects of the five installs; the failed upgrade never got to its objects.
    expect(waits('resources', 'success')).toBe(5);
    // Helm waits for a hook's deletion under its delete policy too. The install: the pre-install
    // Job and ConfigMap, each deleted before creation and then ready, and the Job deleted once it
    // succeeded (5); the upgrade: the Job deleted before creation (6), then it failed.
    expect(waits('hooks', 'success')).toBe(6);
    expect(waits('hooks', 'error')).toBe(1);
    // The test Job: deleted before creation, then complete.
    expect(waits('tests', 'success')).toBe(2);
    expect(waits('tests', 'error')).toBe(0);
    expect(waits('resources', 'timeout') + waits('hooks', 'timeout') + waits('tests', 'timeout')).toBe(0);
  });

  it("counts the runner's Kubernetes requests with client-go's names", () => {
    const host = new URL(clusterEnv().PLANTON_APISERVER).host;
    const ok = samples(metrics, 'rest_client_requests_total').filter((s) => s.labels['code'] === '200');
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.every((s) => s.labels['host'] === host)).toBe(true);
    expect(ok.map((s) => s.labels['method'])).toContain('GET');
    expect(ok.reduce((n, s) => n + s.value, 0)).toBeGreaterThan(10);
    expect(value(metrics, 'rest_client_request_duration_seconds_count', { verb: 'GET', host })).toBeGreaterThan(10);
  });

  it('exports the Go runtime and process metrics', () => {
    expect(samples(metrics, 'go_goroutines')).toHaveLength(1);
    expect(samples(metrics, 'process_resident_memory_bytes')[0]?.value).toBeGreaterThan(1 << 20);
    expect(samples(metrics, 'process_cpu_seconds_total')[0]?.value).toBeGreaterThan(0);
  });

  it('puts the reconcile ID sent with a call in every log line of that call', () => {
    const lines = runner
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const start = lines.findIndex((l) => l['msg'] === 'operation started' && l['release'] === `${ns}/first`);
    const end = lines.findIndex((l) => l['msg'] === 'operation ended' && l['release'] === `${ns}/first`);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const call = lines.slice(start, end + 1);
    // The runner's own lines and Helm's (the rest), all of this one call.
    expect(call.map((l) => l['msg'])).toContain('operation succeeded');
    expect(call.filter((l) => !String(l['msg']).startsWith('operation ')).length).toBeGreaterThan(0);
    for (const l of call) {
      expect(l, JSON.stringify(l)).toMatchObject({ reconcileID: RECONCILE_ID, grpcMethod: INSTALL_METHOD });
    }
    // No other call was sent with it.
    expect(lines.filter((l) => l['reconcileID'] === RECONCILE_ID)).toHaveLength(call.length);
    // A call without the metadata names its method only.
    const second = lines.filter((l) => l['release'] === `${ns}/second`);
    expect(second.length).toBeGreaterThan(0);
    expect(second.every((l) => l['grpcMethod'] === INSTALL_METHOD && !('reconcileID' in l))).toBe(true);
  });
});
