// A real Prometheus server (Debian's package, test/cluster/debian-tools.sh) for end-to-end tests:
// on 127.0.0.1 only, in a temporary directory of its own, scraping the given targets and
// evaluating the given rule file; and its HTTP API (/api/v1/query, query_range, alerts).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { waitFor } from '../support/cluster.js';

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** Seconds of a Prometheus duration (`90s`, `5m`, `1h30m`); throws on anything else. */
export function durationSeconds(d: string): number {
  const parts = [...d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== d) throw new Error(`not a Prometheus duration: ${d}`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_SECONDS[p[2] ?? ''] ?? Number.NaN), 0);
}

/** `d` divided by `factor`, in whole seconds, at least 1s. */
function shorten(d: string, factor: number): string {
  return `${Math.max(1, Math.round(durationSeconds(d) / factor))}s`;
}

interface RuleFile {
  groups: { name: string; interval?: string; rules: { alert?: string; record?: string; expr: string; for?: string }[] }[];
}

/**
 * The rule file with every duration that makes an alert wait divided by `factor`, so that the
 * alerts fire within a test instead of minutes or hours: each rule's `for:`, and every range of a
 * range selector or subquery in its `expr` (`[1h]` → `[120s]` with factor 30, `[5m:1m]` → `[10s:2s]`).
 * Thresholds, label matchers, `offset` and numbers (`7 * 86400`) are left as they are.
 */
export function shortenRuleDurations(rulesYaml: string, factor: number): string {
  const file = parse(rulesYaml) as RuleFile;
  for (const group of file.groups) {
    if (group.interval !== undefined) group.interval = shorten(group.interval, factor);
    for (const rule of group.rules) {
      if (rule.for !== undefined) rule.for = shorten(rule.for, factor);
      rule.expr = rule.expr.replace(/\[([0-9a-z]+)(?::([0-9a-z]*))?\]/g, (_all, range: string, step: string | undefined) =>
        step === undefined ? `[${shorten(range, factor)}]` : `[${shorten(range, factor)}:${step === '' ? '' : shorten(step, factor)}]`,
      );
    }
  }
  return stringify(file, { lineWidth: 0 });
}

export interface ScrapeTarget {
  /** host:port */
  readonly address: string;
  /** Target labels, as Kubernetes discovery would add them (namespace, pod). */
  readonly labels: Readonly<Record<string, string>>;
}

export interface ScrapeJob {
  readonly name: string;
  readonly targets: readonly ScrapeTarget[];
}

export interface PrometheusOptions {
  readonly jobs: readonly ScrapeJob[];
  /** Scrape and rule evaluation interval, e.g. `1s`. */
  readonly interval: string;
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface Series {
  readonly metric: Record<string, string>;
  readonly values: [number, string][];
}

export interface Alert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Its temporary directory: prometheus.yml, rules.yaml, data/. */
  readonly dir: string;
  readonly process: ChildProcess;
  /** What it logged so far. */
  logs(): string;
  /** GET /api/v1/query: an instant vector; throws on a query error. */
  query(expr: string, time?: number): Promise<Sample[]>;
  /** GET /api/v1/query_range: a matrix; throws on a query error. */
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<Series[]>;
  /** GET /api/v1/alerts: the alerts pending or firing now. */
  alerts(): Promise<Alert[]>;
  /**
   * Loads a rule file (its text) by rewriting the configuration and sending SIGHUP, and waits
   * until Prometheus serves its groups. Rules loaded once the targets have been scraped do not
   * see the few seconds after start-up when no target has a sample yet (Prometheus applies
   * discovered targets in batches of 5 s), which shortened `for:` durations would otherwise
   * turn into alerts about absent targets.
   */
  loadRules(rules: string): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s; removes its directory. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as ApiResponse<T>;
  if (body.status !== 'success') throw new Error(`${url}: ${body.errorType ?? res.status}: ${body.error ?? ''}`);
  return body.data;
}

/** Starts `prometheus` on a free loopback port and waits until it is ready. */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'planton-prometheus-'));
  const config: Record<string, unknown> = {
    global: { scrape_interval: opts.interval, scrape_timeout: opts.interval, evaluation_interval: opts.interval },
    scrape_configs: opts.jobs.map((job) => ({
      job_name: job.name,
      // As deploy/monitoring/podmonitor.yaml: the series' own `namespace` (a HelmRelease's) wins.
      honor_labels: true,
      static_configs: job.targets.map((t) => ({ targets: [t.address], labels: { ...t.labels } })),
    })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('Prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${out}`);
      const res = await fetch(`${url}/-/ready`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, 60_000, 250);
  } catch (err) {
    await stop();
    throw err;
  }
  const q = (path: string, params: Record<string, string>) => `${url}${path}?${new URLSearchParams(params).toString()}`;
  return {
    url,
    dir,
    process: child,
    logs: () => out,
    query: async (expr, time) => {
      const data = await api<{ resultType: string; result: Sample[] }>(q('/api/v1/query', { query: expr, ...(time === undefined ? {} : { time: String(time) }) }));
      if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not an instant vector`);
      return data.result;
    },
    queryRange: async (expr, start, end, stepSeconds) => {
      const data = await api<{ resultType: string; result: Series[] }>(
        q('/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(stepSeconds) }),
      );
      return data.result;
    },
    alerts: async () => (await api<{ alerts: Alert[] }>(`${url}/api/v1/alerts`)).alerts,
    loadRules: async (rules) => {
      writeFileSync(join(dir, 'rules.yaml'), rules);
      const expected = (parse(rules) as RuleFile).groups.map((g) => g.name).sort();
      writeFileSync(join(dir, 'prometheus.yml'), stringify({ ...config, rule_files: [join(dir, 'rules.yaml')] }));
      child.kill('SIGHUP');
      await waitFor('Prometheus to load the rules', async () => {
        const data = await api<{ groups: { name: string }[] }>(`${url}/api/v1/rules`);
        const names = data.groups.map((g) => g.name).sort();
        return JSON.stringify(names) === JSON.stringify(expected) ? true : undefined;
      }, 30_000, 250);
    },
    stop,
  };
}
