// `make bench-api`: the public gRPC API on the local control plane. Prints figures; asserts
// nothing about speed (figures go in notes, never in pass/fail). It does fail when a Watch
// stream misses an event: that is correctness, not speed.
//
// One namespace holds BENCH_API_RELEASES (default 1000) HelmReleases, all created suspended
// (spec.suspend true): the controller watches that namespace and holds every object in its
// cache, as it would in production, but installs nothing, so the figures are the API's and not
// 1000 Helm installs'. (Watching another namespace instead would leave the controller's cache
// empty and make the RSS comparison meaningless.)
//
// Every call goes through the real TLS API with a real ServiceAccount token (one per caller) and
// a RoleBinding, so each call pays its SubjectAccessReview and, once per token every 10 s, a
// TokenReview. Each caller (and each Watch stream) has its own client and so its own TLS
// connection (credentials.createSsl gives each client its own secure context, which grpc-js never
// shares); the number of connections the controller holds is read from /proc/net/tcp and printed.
//
//   1. Get, List (page_size 1000, and the default page of 100) and Apply at 1, 10 and 50
//      concurrent callers (BENCH_API_CONCURRENCY): BENCH_API_CALLS calls per operation and
//      level (default 300; List of 1000: BENCH_API_LIST_CALLS, default 200), each level and
//      operation stopped after BENCH_API_LEVEL_SECONDS (default 90). A caller's first call (TLS
//      handshake and its token's first TokenReview) is a warm-up, printed apart.
//   2. BENCH_API_WATCHES (default 100) Watch streams from a List's resource_version while
//      BENCH_API_CHANGES (default 1000) status writes (merge patches of the status subresource
//      with the admin kubeconfig, BENCH_API_WRITE_RATE per second, default 50) are made:
//      delivery lag per event and stream (from the write's response to the event's arrival),
//      events delivered against expected, the controller's RSS before, during and after, and
//      whether a Get is still answered (within 10 s) while the streams are open.
//   3. The controller's RSS with the API off and on: idle after its cache synced, and after the
//      load of 1.
import { readFileSync } from 'node:fs';
import { type ClientReadableStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { type WatchResponse, WatchEventType, type HelmReleaseServiceClient } from '../../src/gen/planton/helm/v1/helm_release_service.js';
import { HelmReleaseSpec } from '../../src/gen/planton/helm/v1/helm_release.js';
import { KubeRest } from '../../src/kube/rest.js';
import { apiClient, apiTls, grantHelmReleases, rpc, serviceAccountToken, startApiController, type Rpc } from '../support/api.js';
import { clusterEnv, kubeConfig, kubectl, tempNamespace, waitFor } from '../support/cluster.js';
import { installCrd, type RunningController, startController } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';
import { peakRssMiB, rssMiB } from './proc.js';

const env = process.env;
const RELEASES = Number(env['BENCH_API_RELEASES'] ?? 1000);
const LEVELS = (env['BENCH_API_CONCURRENCY'] ?? '1,10,50').split(',').map(Number);
const CALLS = Number(env['BENCH_API_CALLS'] ?? 300);
const LIST_CALLS = Number(env['BENCH_API_LIST_CALLS'] ?? 200);
const LEVEL_S = Number(env['BENCH_API_LEVEL_SECONDS'] ?? 90);
const WATCHES = Number(env['BENCH_API_WATCHES'] ?? 100);
const CHANGES = Number(env['BENCH_API_CHANGES'] ?? 1000);
const WRITE_RATE = Number(env['BENCH_API_WRITE_RATE'] ?? 50);
const SETTLE_S = Number(env['BENCH_API_SETTLE_SECONDS'] ?? 15);
/** Longest wait for the last events to reach every stream after the last write. */
const DELIVERY_WAIT_MS = 120_000;

const API_VERSION = 'helm.project-planton.org/v1';
const SA = 'bench-caller';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function collection(ns: string): string {
  return `/apis/${API_VERSION}/namespaces/${ns}/helmreleases`;
}

const releaseName = (i: number): string => `r${i % RELEASES}`;

/** The minimal spec every HelmRelease is created with (suspended: nothing is installed). */
function baseSpec(): { repo: string; name: string; version: string; suspend: true } {
  return { repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', suspend: true };
}

/** Runs `work(i)` for i in [0, n) with at most `width` at once. */
async function pool(n: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

async function createSuspended(rest: KubeRest, ns: string): Promise<void> {
  await pool(RELEASES, 20, async (i) => {
    await rest.json({
      method: 'POST',
      path: collection(ns),
      body: { apiVersion: API_VERSION, kind: 'HelmRelease', metadata: { name: releaseName(i) }, spec: baseSpec() },
    });
  });
}

// ---- figures ------------------------------------------------------------------------------

/** Nearest-rank percentile of sorted values. */
function pct(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

const ms = (v: number): string => (Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const mib = (v: number): string => v.toFixed(1);

interface Memory {
  readonly rss: number;
  readonly hwm: number;
}

function memory(pid: number): Memory {
  return { rss: rssMiB(pid), hwm: peakRssMiB(pid) };
}

/** ESTABLISHED TCP connections whose local port is `port` (the server's side), from /proc/net/tcp. */
function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`) && f[3] === '01') n++;
    }
  }
  return n;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---- 1. unary latency ---------------------------------------------------------------------

interface Caller {
  readonly client: HelmReleaseServiceClient;
  readonly api: Rpc;
}

interface LoadResult {
  readonly op: string;
  readonly callers: number;
  readonly latencies: number[];
  readonly errors: number;
  readonly firstError?: string;
  readonly seconds: number;
  readonly items?: number;
}

type Op = { readonly name: string; readonly calls: number; readonly call: (api: Rpc, k: number) => Promise<number | undefined> };

function ops(ns: string, level: number): Op[] {
  return [
    { name: 'Get', calls: CALLS, call: async (api, k) => void (await api.get({ namespace: ns, name: releaseName(k) })) },
    {
      name: 'List page_size=1000',
      calls: LIST_CALLS,
      call: async (api) => (await api.list({ namespace: ns, labelSelector: '', pageSize: 1000, pageToken: '' })).helmReleases.length,
    },
    {
      name: 'List default page (100)',
      calls: CALLS,
      call: async (api) => (await api.list({ namespace: ns, labelSelector: '', pageSize: 0, pageToken: '' })).helmReleases.length,
    },
    {
      // A real write each call: new values change the spec (and generation) of a different
      // HelmRelease; it stays suspended, so the controller installs nothing.
      name: 'Apply (values change)',
      calls: CALLS,
      call: async (api, k) =>
        void (await api.apply({
          namespace: ns,
          name: releaseName(k),
          labels: {},
          spec: HelmReleaseSpec.fromPartial({ ...baseSpec(), values: { bench: { level, call: k } } }),
          fieldManager: '',
          force: false,
          dryRun: false,
        })),
    },
  ];
}

async function load(callers: readonly Caller[], op: Op): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let items: number | undefined;
  let next = 0;
  const start = performance.now();
  const stopAt = start + LEVEL_S * 1000;
  await Promise.all(
    callers.map(async (c) => {
      while (next < op.calls && performance.now() < stopAt) {
        const k = next++;
        const t0 = performance.now();
        try {
          const n = await op.call(c.api, k);
          latencies.push(performance.now() - t0);
          if (n !== undefined) items = n;
        } catch (err) {
          errors++;
          firstError ??= `${(err as ServiceError).code ?? ''} ${(err as Error).message}`;
        }
      }
    }),
  );
  return {
    op: op.name,
    callers: callers.length,
    latencies: latencies.sort((a, b) => a - b),
    errors,
    seconds: (performance.now() - start) / 1000,
    ...(firstError !== undefined ? { firstError } : {}),
    ...(items !== undefined ? { items } : {}),
  };
}

// ---- 2. watch streams ---------------------------------------------------------------------

interface Stream {
  readonly call: ClientReadableStream<WatchResponse>;
  readonly client: HelmReleaseServiceClient;
  /** `name@resourceVersion` -> arrival (performance.now()), for MODIFIED events. */
  readonly arrivals: Map<string, number>;
  duplicates: number;
  /** Events other than MODIFIED (none is expected: nothing is created or deleted meanwhile). */
  otherTypes: number;
  error?: string;
}

function openStream(address: string, ca: Buffer, token: string, ns: string, resourceVersion: string): Stream {
  const client = apiClient(address, ca, token);
  const call = client.watch({ namespace: ns, name: '', labelSelector: '', resourceVersion });
  const s: Stream = { call, client, arrivals: new Map(), duplicates: 0, otherTypes: 0 };
  call.on('data', (m: WatchResponse) => {
    const at = performance.now();
    const key = `${m.helmRelease?.name ?? ''}@${m.helmRelease?.resourceVersion ?? ''}`;
    if (m.type !== WatchEventType.MODIFIED) s.otherTypes++;
    else if (s.arrivals.has(key)) s.duplicates++;
    else s.arrivals.set(key, at);
  });
  call.on('error', (err: ServiceError) => {
    if (err.code !== 1 /* CANCELLED: we closed it */) s.error ??= `${err.code} ${err.details}`;
  });
  return s;
}

/** A status write as the controller makes them (one Ready condition); resolves with the new resourceVersion. */
async function writeStatus(rest: KubeRest, ns: string, name: string, message: string): Promise<string> {
  const obj = await rest.json<{ metadata: { resourceVersion: string } }>({
    method: 'PATCH',
    path: `${collection(ns)}/${name}/status`,
    contentType: 'application/merge-patch+json',
    body: { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'Progressing', message, lastTransitionTime: new Date().toISOString() }] } },
  });
  return obj.metadata.resourceVersion;
}

/** One Get on a new connection with a deadline: its latency in ms, or the error it ended with. */
async function probeGet(address: string, ca: Buffer, token: string, ns: string, deadlineMs: number): Promise<string> {
  const client = apiClient(address, ca, token);
  const t0 = performance.now();
  try {
    await new Promise<void>((ok, fail) => {
      client.get({ namespace: ns, name: releaseName(1) }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err) => (err ? fail(err) : ok()));
    });
    return `answered in ${ms(performance.now() - t0)} ms`;
  } catch (err) {
    return `!!!!! NO ANSWER: ${(err as ServiceError).code === 4 ? `deadline of ${deadlineMs / 1000} s exceeded` : (err as Error).message}`;
  } finally {
    client.close();
  }
}

// ---- the benchmark --------------------------------------------------------------------------

describe('API benchmark', () => {
  it('measures Get/List/Apply latency by concurrency, Watch delivery, and the controller RSS with the API on and off', async () => {
    await Promise.all([buildRunner(), installCrd()]);
    const rest = new KubeRest(kubeConfig());
    const { name: ns, cleanup } = await tempNamespace('bench-api');
    const tls = await apiTls();
    let runner: RunningRunner | undefined;
    let controller: RunningController | undefined;
    const summary: string[] = [];
    let missingEvents = 0;
    try {
      say(`API benchmark: ${RELEASES} HelmReleases in namespace ${ns}, all created suspended (spec.suspend true), so the controller caches them but installs no chart.`);
      say('Figures are from a shared 2-core machine (the API server, etcd, the controller and this benchmark client compete for it): read them as orders of magnitude.');
      runner = await startRunner();
      let t = performance.now();
      await createSuspended(rest, ns);
      say(`created ${RELEASES} suspended HelmReleases in ${((performance.now() - t) / 1000).toFixed(1)} s (admin kubeconfig, 20 at a time)`);

      const tokenCount = Math.max(...LEVELS, WATCHES);
      await grantHelmReleases(ns, SA, ['get', 'list', 'watch', 'create', 'patch']);
      const tokens: string[] = new Array<string>(tokenCount);
      t = performance.now();
      // The first creates the ServiceAccount; the others only ask for tokens (serviceAccountToken
      // applies the ServiceAccount from one file per process, which calls at once would share).
      tokens[0] = await serviceAccountToken(ns, SA);
      await pool(tokenCount - 1, 5, async (i) => {
        tokens[i + 1] = (await kubectl(['create', 'token', SA, '--namespace', ns, '--duration', '3600s'])).stdout.trim();
      });
      say(`${tokenCount} tokens of ServiceAccount ${ns}/${SA} (Role: get, list, watch, create, patch on helmreleases) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

      // ---- 3a. RSS with the API off, idle after sync
      const off = await startController({ runnerSocket: runner.socket, namespace: ns, args: ['--log-level', 'info'] });
      await sleep(SETTLE_S * 1000);
      const memOff = memory(off.process.pid ?? 0);
      say(`API off, idle ${SETTLE_S} s after the cache synced: VmRSS ${mib(memOff.rss)} MiB, VmHWM ${mib(memOff.hwm)} MiB`);
      await off.stop();

      // ---- 3b. RSS with the API on, idle after sync
      const on = await startApiController({ runnerSocket: runner.socket, namespace: ns, tls, args: ['--log-level', 'info'] });
      controller = on;
      const pid = on.process.pid ?? 0;
      const apiPort = Number(on.apiAddress.slice(on.apiAddress.lastIndexOf(':') + 1));
      await sleep(SETTLE_S * 1000);
      const memOnIdle = memory(pid);
      say(`API on (${on.apiAddress}), idle ${SETTLE_S} s after the cache synced: VmRSS ${mib(memOnIdle.rss)} MiB, VmHWM ${mib(memOnIdle.hwm)} MiB`);

      // ---- 1. unary latency by concurrency
      const results: LoadResult[] = [];
      const warmups: { callers: number; latencies: number[]; connections: number }[] = [];
      let peakDuringLoad = 0;
      const sampler = setInterval(() => {
        peakDuringLoad = Math.max(peakDuringLoad, rssMiB(pid));
      }, 250);
      try {
        for (const level of LEVELS) {
          const callers: Caller[] = Array.from({ length: level }, (_, i) => {
            const client = apiClient(on.apiAddress, tls.ca, tokens[i] ?? '');
            return { client, api: rpc(client) };
          });
          try {
            const warm: number[] = [];
            await Promise.all(
              callers.map(async (c, i) => {
                const t0 = performance.now();
                await c.api.get({ namespace: ns, name: releaseName(i) });
                warm.push(performance.now() - t0);
              }),
            );
            warmups.push({ callers: level, latencies: warm.sort((a, b) => a - b), connections: connectionsTo(apiPort) });
            for (const op of ops(ns, level)) {
              const r = await load(callers, op);
              results.push(r);
              say(
                `${op.name} x${level} callers: ${r.latencies.length} calls in ${r.seconds.toFixed(1)} s, p50 ${ms(pct(r.latencies, 0.5))} ms, p99 ${ms(pct(r.latencies, 0.99))} ms` +
                  `${r.errors > 0 ? `, ${r.errors} ERRORS (first: ${r.firstError})` : ''}`,
              );
            }
          } finally {
            for (const c of callers) c.client.close();
          }
        }
      } finally {
        clearInterval(sampler);
      }
      await sleep(SETTLE_S * 1000);
      const memAfterLoad = memory(pid);
      say(`API on, ${SETTLE_S} s after the Get/List/Apply load: VmRSS ${mib(memAfterLoad.rss)} MiB, VmHWM ${mib(memAfterLoad.hwm)} MiB (VmRSS sampled during the load: up to ${mib(peakDuringLoad)} MiB)`);

      // ---- 2. Watch streams through status writes
      const names = Array.from({ length: CHANGES }, (_, j) => releaseName(j));
      const written = new Map<string, number>();
      const memBeforeWatch = memory(pid);
      const lister = apiClient(on.apiAddress, tls.ca, tokens[0] ?? '');
      const start = await rpc(lister).list({ namespace: ns, labelSelector: '', pageSize: 1, pageToken: '' });
      lister.close();
      t = performance.now();
      const streams = Array.from({ length: WATCHES }, (_, i) => openStream(on.apiAddress, tls.ca, tokens[i % tokens.length] ?? '', ns, start.resourceVersion));
      let peakDuringWatch = 0;
      const watchSampler = setInterval(() => {
        peakDuringWatch = Math.max(peakDuringWatch, rssMiB(pid));
      }, 250);
      let watchRows: string[][] = [];
      let lagLine = '';
      let getWhileWatching = '';
      try {
        // A write every stream must see before the measured ones, so no stream still being set
        // up when they start inflates the lag.
        const sentinelRv = await writeStatus(rest, ns, releaseName(0), 'benchmark: sentinel');
        const sentinel = `${releaseName(0)}@${sentinelRv}`;
        const opened = await waitFor(
          `every Watch stream to deliver the sentinel write`,
          async () => (streams.every((s) => s.arrivals.has(sentinel)) ? true : undefined),
          120_000,
          100,
        ).catch(() => false);
        const ready = streams.filter((s) => s.arrivals.has(sentinel)).length;
        say(`${ready}/${WATCHES} Watch streams open and delivering ${((performance.now() - t) / 1000).toFixed(1)} s after they were opened; ${connectionsTo(apiPort)} client connections at the API port`);
        if (!opened) {
          say(`!!!!! ${WATCHES - ready} Watch stream(s) did not deliver the sentinel write within 120 s; errors: ${[...new Set(streams.map((s) => s.error).filter(Boolean))].join('; ') || 'none'}`);
        }
        for (const s of streams) s.arrivals.delete(sentinel);
        getWhileWatching = await probeGet(on.apiAddress, tls.ca, tokens[0] ?? '', ns, 10_000);
        say(`a Get (new connection) while ${WATCHES} Watch streams are open: ${getWhileWatching}`);

        const w0 = performance.now();
        let writeErrors = 0;
        await pool(CHANGES, 10, async (j) => {
          const due = w0 + (j * 1000) / WRITE_RATE;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          const name = names[j] ?? '';
          try {
            const rv = await writeStatus(rest, ns, name, `benchmark status change ${j}`);
            const key = `${name}@${rv}`;
            written.set(key, performance.now());
          } catch {
            writeErrors++;
          }
        });
        const writeSeconds = (performance.now() - w0) / 1000;
        say(`${written.size} status writes in ${writeSeconds.toFixed(1)} s (${(written.size / writeSeconds).toFixed(1)}/s)${writeErrors > 0 ? `, ${writeErrors} WRITE ERRORS` : ''}`);
        await waitFor(
          'every stream to deliver every write',
          async () => (streams.every((s) => [...written.keys()].every((k) => s.arrivals.has(k))) ? true : undefined),
          DELIVERY_WAIT_MS,
          500,
        ).catch(() => undefined);
        const memDuringWatch = memory(pid);

        const lags: number[] = [];
        let negative = 0;
        const perStream: number[] = [];
        let incomplete = 0;
        for (const [i, s] of streams.entries()) {
          let got = 0;
          const missing: string[] = [];
          for (const [key, wroteAt] of written) {
            const at = s.arrivals.get(key);
            if (at === undefined) {
              missing.push(key);
              continue;
            }
            got++;
            const lag = at - wroteAt;
            if (lag < 0) negative++;
            lags.push(Math.max(0, lag));
          }
          perStream.push(got);
          if (missing.length > 0) {
            missingEvents += missing.length;
            incomplete++;
            if (incomplete <= 10)
              say(`!!!!! MISSING EVENTS: stream ${i} delivered ${got}/${written.size}; missing ${missing.length}, e.g. ${missing.slice(0, 5).join(', ')}${s.error ? `; stream error: ${s.error}` : ''}`);
          }
        }
        if (incomplete > 10) say(`!!!!! MISSING EVENTS on ${incomplete - 10} more stream(s)`);
        lags.sort((a, b) => a - b);
        const dup = streams.reduce((n, s) => n + s.duplicates, 0);
        const unexpected = streams.reduce((n, s) => n + s.otherTypes + [...s.arrivals.keys()].filter((k) => !written.has(k)).length, 0);
        const complete = perStream.filter((n) => n === written.size).length;
        const min = Math.min(...perStream);
        lagLine =
          `delivery lag over ${lags.length} (event, stream) pairs: p50 ${ms(pct(lags, 0.5))} ms, p99 ${ms(pct(lags, 0.99))} ms, max ${ms(lags.at(-1) ?? Number.NaN)} ms` +
          `${negative > 0 ? ` (${negative} events arrived before this process had read the write's response: counted as 0)` : ''}`;
        say(lagLine);
        const deliveredLine =
          `events delivered per stream: ${complete}/${WATCHES} streams complete with ${written.size}/${written.size} each (fewest: ${min}); duplicates ${dup}; unexpected events ${unexpected}`;
        say(missingEvents > 0 ? `!!!!! ${deliveredLine}: ${missingEvents} EVENTS MISSING` : deliveredLine);
        watchRows = [
          ['before (streams not open)', mib(memBeforeWatch.rss), mib(memBeforeWatch.hwm)],
          [`during (${WATCHES} streams, ${CHANGES} writes; VmRSS sampled max)`, mib(peakDuringWatch), mib(memDuringWatch.hwm)],
        ];
        summary.push(deliveredLine);
      } finally {
        clearInterval(watchSampler);
        for (const s of streams) {
          s.call.cancel();
          s.client.close();
        }
      }
      await sleep(SETTLE_S * 1000);
      const memAfterWatch = memory(pid);
      watchRows.push([`after (streams closed, ${SETTLE_S} s)`, mib(memAfterWatch.rss), mib(memAfterWatch.hwm)]);

      // ---- the table
      const latencyRows = results.map((r) => [
        r.op,
        String(r.callers),
        `${r.latencies.length}${r.errors > 0 ? ` (+${r.errors} err)` : ''}`,
        ms(pct(r.latencies, 0.5)),
        ms(pct(r.latencies, 0.99)),
        ms(r.latencies.at(-1) ?? Number.NaN),
        (r.latencies.length / r.seconds).toFixed(1),
        r.items === undefined ? '' : String(r.items),
      ]);
      const warmRows = warmups.map((w) => [`first call of each caller (Get)`, String(w.callers), String(w.latencies.length), ms(pct(w.latencies, 0.5)), ms(pct(w.latencies, 0.99)), ms(w.latencies.at(-1) ?? Number.NaN), '', `conns ${w.connections}`]);
      say('');
      say(`==== API benchmark: ${RELEASES} suspended HelmReleases, shared 2-core machine, each caller its own TLS connection and token ====`);
      say(table(['operation', 'callers', 'calls', 'p50 ms', 'p99 ms', 'max ms', 'calls/s', 'items'], [...warmRows, ...latencyRows]));
      const errorsSeen = results.filter((r) => r.errors > 0);
      for (const r of errorsSeen) say(`!!!!! ${r.op} x${r.callers}: ${r.errors} errors, first: ${r.firstError}`);
      say('');
      say(`Watch: ${WATCHES} streams (each its own connection), ${written.size} status writes at ${WRITE_RATE}/s`);
      say(lagLine);
      say(summary.at(-1) ?? '');
      say(`a Get while the streams were open: ${getWhileWatching}`);
      say(table(['controller RSS during the Watch phase', 'VmRSS MiB', 'VmHWM MiB'], watchRows));
      say('');
      say(
        table(
          ['controller RSS, API off / on', 'VmRSS MiB', 'VmHWM MiB'],
          [
            ['API off, idle after sync', mib(memOff.rss), mib(memOff.hwm)],
            ['API on, idle after sync', mib(memOnIdle.rss), mib(memOnIdle.hwm)],
            ['API on, after the Get/List/Apply load', mib(memAfterLoad.rss), mib(memAfterLoad.hwm)],
            ['API on, after the Watch phase', mib(memAfterWatch.rss), mib(memAfterWatch.hwm)],
          ],
        ),
      );
    } finally {
      await controller?.stop();
      await runner?.stop();
      await cleanup();
      tls.cleanup();
    }
    // Correctness, not speed: a Watch must not lose an update.
    expect(missingEvents, 'events missing from Watch streams (printed above)').toBe(0);
  });
});
