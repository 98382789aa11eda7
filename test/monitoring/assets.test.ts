// The monitoring assets of deploy/monitoring/ as a user receives them: the PrometheusRule holds the
// rule file's groups exactly; every alert has a severity, a summary, a description and a runbook
// link to a section of docs/runbook.md that exists (and every section belongs to an alert); the
// rule file rewritten for the end-to-end test is still valid for promtool; the kustomization
// builds, and the API server accepts its NetworkPolicy and dashboard ConfigMap.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { kubectl, repoRoot, tempNamespace } from '../support/cluster.js';
import { durationSeconds, shortenRuleDurations } from './prometheus-server.js';

const execFileAsync = promisify(execFile);
const monitoring = resolve(repoRoot, 'deploy/monitoring');
const rulesText = readFileSync(resolve(monitoring, 'rules/planton-helm.rules.yaml'), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const groups = (parse(rulesText) as { groups: { name: string; rules: Rule[] }[] }).groups;
const alerts = groups.flatMap((g) => g.rules);

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

describe('the alerting rules', () => {
  it('are the same groups in the PrometheusRule as in the plain rule file', () => {
    const rule = parse(readFileSync(resolve(monitoring, 'prometheusrule.yaml'), 'utf8')) as { apiVersion: string; kind: string; spec: { groups: unknown } };
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.spec.groups).toEqual(groups);
  });

  it('give every alert a severity, a summary, a description and a runbook section that exists', () => {
    const runbook = readFileSync(resolve(repoRoot, 'docs/runbook.md'), 'utf8');
    const sections = [...runbook.matchAll(/^## (.+)$/gm)].map((m) => anchor(m[1] ?? ''));
    const base = 'https://github.com/project-planton/helm-release-controller/blob/main/docs/runbook.md#';
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.['severity']);
      expect(a.annotations?.['summary'], a.alert).toMatch(/\S/);
      expect(a.annotations?.['description'], a.alert).toMatch(/\S/);
      const url = a.annotations?.['runbook_url'] ?? '';
      expect(url.startsWith(base), `${a.alert}: ${url}`).toBe(true);
      expect(sections, `${a.alert}: no section #${url.slice(base.length)} in docs/runbook.md`).toContain(url.slice(base.length));
      expect(url.slice(base.length)).toBe(anchor(a.alert));
    }
    // Every alert section of the runbook belongs to an alert that exists.
    const alertSections = [...runbook.matchAll(/^## (Planton\w+)$/gm)].map((m) => m[1]);
    expect(alertSections.sort()).toEqual(alerts.map((a) => a.alert).sort());
  });

  it('rewritten for the end-to-end test, wait 30 times less and still pass promtool check rules', async () => {
    const short = shortenRuleDurations(rulesText, 30);
    const shortened = (parse(short) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    expect(shortened.map((r) => r.alert)).toEqual(alerts.map((a) => a.alert));
    for (const [i, a] of alerts.entries()) {
      const s = shortened[i];
      if (a.for !== undefined) expect(durationSeconds(s?.for ?? '')).toBe(Math.max(1, Math.round(durationSeconds(a.for) / 30)));
      // Only the ranges changed: the rest of each expression, labels and annotations are as written.
      expect(s?.expr.replace(/\[[0-9a-z:]+\]/g, '[]')).toBe(a.expr.replace(/\[[0-9a-z:]+\]/g, '[]'));
      expect(s?.labels).toEqual(a.labels);
      expect(s?.annotations).toEqual(a.annotations);
    }
    expect(shortened.find((r) => r.alert === 'PlantonHelmActionsFailing')?.expr).toContain('[120s]');
    expect(shortened.find((r) => r.alert === 'PlantonHelmRunnerUnreachable')?.expr).toContain('[10s]');
    const dir = mkdtempSync(join(tmpdir(), 'planton-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), short);
      const { stdout } = await execFileAsync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { timeout: 60_000 });
      expect(stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dashboard', () => {
  it('has panels with unique ids, each query on the datasource variable', () => {
    const dash = JSON.parse(readFileSync(resolve(monitoring, 'grafana/planton-helm.json'), 'utf8')) as {
      uid: string;
      panels: { id: number; type: string; title: string; targets?: { expr: string; datasource: { uid: string } }[] }[];
    };
    expect(dash.uid).toBe('planton-helm-controller');
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const queried = dash.panels.filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThan(10);
    for (const p of queried) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.expr, p.title).toMatch(/planton|workqueue|process_|leader_election|controller_runtime|up\{/);
        expect(t.datasource.uid, p.title).toBe('${datasource}');
      }
    }
  });
});

describe('deploy/monitoring', () => {
  it('builds with kustomize, and the API server accepts its NetworkPolicy and dashboard ConfigMap', async () => {
    const built = (await kubectl(['kustomize', monitoring])).stdout;
    const docs = parseAllDocuments(built).map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace: string; labels?: Record<string, string> }; spec?: unknown; data?: Record<string, string> });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'ConfigMap/planton-helm-dashboard',
      'NetworkPolicy/planton-helm-controller-metrics',
      'PodMonitor/planton-helm-controller',
      'PrometheusRule/planton-helm-controller',
    ]);
    for (const d of docs) expect(d.metadata.namespace).toBe('planton-system');
    const dashboard = docs.find((d) => d.kind === 'ConfigMap');
    expect(dashboard?.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(JSON.parse(dashboard?.data?.['planton-helm.json'] ?? '{}')).toMatchObject({ uid: 'planton-helm-controller' });
    const podMonitor = docs.find((d) => d.kind === 'PodMonitor')?.spec as { podMetricsEndpoints: { port: string; relabelings: { replacement: string }[] }[] };
    expect(podMonitor.podMetricsEndpoints.map((e) => [e.port, e.relabelings.at(-1)?.replacement])).toEqual([
      ['http', 'planton-helm-reconciler'],
      ['metrics', 'planton-helm-runner'],
    ]);

    // The CRDs of the Prometheus Operator are not in the local cluster: the two core objects are
    // checked by the API server (schema included, endPort too), in a namespace of their own.
    const ns = await tempNamespace('mon-assets');
    const dir = mkdtempSync(join(tmpdir(), 'planton-monitoring-'));
    try {
      const core = docs.filter((d) => d.kind === 'NetworkPolicy' || d.kind === 'ConfigMap').map((d) => ({ ...d, metadata: { ...d.metadata, namespace: ns.name } }));
      writeFileSync(join(dir, 'core.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: core }));
      const { stdout } = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', join(dir, 'core.json')]);
      expect(stdout.trim().split('\n').sort()).toEqual(['configmap/planton-helm-dashboard', 'networkpolicy.networking.k8s.io/planton-helm-controller-metrics']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await ns.cleanup();
    }
  });
});
