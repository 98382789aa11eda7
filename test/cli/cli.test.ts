// planton-helm end to end: the built CLI (node dist/.../src/cli/main.js) run as a child process
// against a real controller serving the gRPC API over real TLS, with real ServiceAccount tokens
// and RBAC, installing real charts; each command's output, exit code and what it left in the
// cluster.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type ApiFixture, startApiFixture } from '../support/api.js';
import { clusterEnv, helmHistory, kubectl, repoRoot, waitFor } from '../support/cluster.js';
import { buildController, helmReleases, waitForCondition } from '../support/controller.js';
import { BUILD_ENV } from '../support/global-setup.js';

// The same build the controller runs from (test/support/controller.ts compiles the whole
// project, src/cli included, into this directory).
const cliJs = resolve(process.env[BUILD_ENV] ?? resolve(repoRoot, '.build', `test-${process.pid}`), 'src/cli/main.js');

const hrs = helmReleases();
let ns: string;
let api: ApiFixture;
let work: string;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment a CI job would give the CLI: the API's address and CA, a token, nothing else. */
function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: work,
    ...api.env(api.tokens.deployer),
    ...extra,
  };
}

function startCli(args: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [cliJs, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function cli(args: readonly string[], env: Record<string, string> = cliEnv()): Promise<CliResult> {
  const child = startCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  return new Promise((done) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    }),
  );
}

function file(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

function helmRelease(name: string, opts: { version?: string; message?: string; labels?: Record<string, string> } = {}): string {
  const labels = opts.labels ? `  labels: ${JSON.stringify(opts.labels)}\n` : '';
  return `apiVersion: helm.project-planton.org/v1
kind: HelmRelease
metadata:
  name: ${name}
  namespace: ${ns}
${labels}spec:
  repo: ${clusterEnv().PLANTON_HTTP_REPO}
  name: plain
  version: ${opts.version ?? '1.0.0'}
  wait: false
  timeout: 2m
  values:
    message: ${opts.message ?? 'hello'}
`;
}

async function configMapData(name: string): Promise<Record<string, string>> {
  return (JSON.parse((await kubectl(['get', 'configmap', name, '--namespace', ns, '-o', 'json'])).stdout) as { data: Record<string, string> }).data;
}

/** What a diff must leave as it was: the HelmRelease object, the Helm history, the chart's ConfigMap. */
async function clusterState(name: string) {
  const hr = await hrs.get(ns, name);
  return {
    resourceVersion: hr?.metadata.resourceVersion,
    generation: hr?.metadata.generation,
    revisions: (await helmHistory(ns, name)).map((r) => `${r.revision}:${r.chartVersion}:${r.status}`),
    data: hr ? await configMapData(`${name}-plain`) : undefined,
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'planton-helm-cli-'));
  await buildController();
  api = await startApiFixture('cli');
  ns = api.namespace;
});

afterAll(async () => {
  await api?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('errors', () => {
  it('exits 2 with one line for a usage error', async () => {
    const r = await cli(['get', '--no-such-flag']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: "error: unknown flag '--no-such-flag' (see planton-helm get --help)\n" });
  });

  it('refuses a bad token with one UNAUTHENTICATED line: exit 1, and 2 for diff', async () => {
    const list = await cli(['list', '-n', ns, '--token', 'not-a-token']);
    expect(list.code).toBe(1);
    expect(list.stdout).toBe('');
    expect(list.stderr).toMatch(/^error: UNAUTHENTICATED: [^\n]+\n$/);
    const diff = await cli(['diff', 'web', '-n', ns], cliEnv({ PLANTON_API_TOKEN: 'not-a-token' }));
    expect(diff.code).toBe(2);
    expect(diff.stderr).toMatch(/^error: UNAUTHENTICATED: [^\n]+\n$/);
  });

  it('says PERMISSION_DENIED when the token may not apply, and nothing is created', async () => {
    file('denied.yaml', helmRelease('denied'));
    const r = await cli(['apply', '-f', 'denied.yaml'], cliEnv({ PLANTON_API_TOKEN: api.tokens.viewer }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: denied.yaml: ${ns}/denied: PERMISSION_DENIED: [^\\n]+\\n$`));
    expect(await hrs.get(ns, 'denied')).toBeUndefined();
  });
});

describe('apply, get, list', () => {
  it('applies every HelmRelease of a multi-document file, which the controller installs', async () => {
    const path = file('apps.yaml', `${helmRelease('web', { labels: { tier: 'frontend' } })}---\n${helmRelease('api', { labels: { tier: 'backend' } })}`);
    const r = await cli(['apply', '-f', path]);
    expect(r).toEqual({
      code: 0,
      stdout: `helmrelease.helm.project-planton.org/web created in namespace ${ns}\nhelmrelease.helm.project-planton.org/api created in namespace ${ns}\n`,
      stderr: '',
    });
    await waitForCondition(ns, 'web', 'Ready', 'True');
    await waitForCondition(ns, 'api', 'Ready', 'True');
    expect((await cli(['apply', '-f', path])).stdout).toContain(`helmrelease.helm.project-planton.org/web configured in namespace ${ns}\n`);
  });

  it('gets a HelmRelease as a table, and as the Kubernetes object in JSON and YAML', async () => {
    const table = await cli(['get', 'web', '-n', ns]);
    expect(table.code).toBe(0);
    const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'STATUS', 'CHART', 'VERSION', 'REVISION', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 6)).toEqual(['web', 'True', 'InstallSucceeded', 'plain', '1.0.0', '1']);
    expect(rest).toEqual([]);

    const json = await cli(['get', 'web', '-n', ns, '-o', 'json']);
    const obj = JSON.parse(json.stdout) as { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown>; status: { conditions: { type: string; status: string }[] } };
    const stored = await hrs.get(ns, 'web');
    expect(obj).toMatchObject({
      apiVersion: 'helm.project-planton.org/v1',
      kind: 'HelmRelease',
      metadata: { name: 'web', namespace: ns, labels: { tier: 'frontend' }, uid: stored?.metadata.uid },
      spec: { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0', wait: false, timeout: '2m', values: { message: 'hello' } },
    });
    expect(obj.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    const yaml = await cli(['get', 'web', '-n', ns, '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    expect((parseYaml(yaml.stdout) as { metadata: unknown }).metadata).toEqual(obj.metadata);
  });

  it('says NOT_FOUND for a HelmRelease that does not exist', async () => {
    const r = await cli(['get', 'nope', '-n', ns]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: ${ns}/nope: NOT_FOUND: [^\\n]+\\n$`));
  });

  it('lists the namespace, by label, and every namespace with -A', async () => {
    const names = (r: CliResult) => r.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
    expect(names(await cli(['list', '-n', ns]))).toEqual(['api', 'web']);
    expect(names(await cli(['list', '-n', ns, '-l', 'tier=backend']))).toEqual(['api']);
    const all = await cli(['list', '-A', '-o', 'json']);
    expect(all.code).toBe(0);
    const items = (JSON.parse(all.stdout) as { kind: string; items: { metadata: { namespace: string; name: string } }[] });
    expect(items.kind).toBe('List');
    expect(items.items.filter((i) => i.metadata.namespace === ns).map((i) => i.metadata.name)).toEqual(['api', 'web']);
    const table = await cli(['list', '-A']);
    expect(table.stdout.split('\n')[0]?.split(/\s{2,}/)[0]).toBe('NAMESPACE');
    expect(table.stdout).toMatch(new RegExp(`^${ns}\\s+web\\s+True`, 'm'));
  });

  it('takes the token and the namespace from the kubeconfig context when neither is given', async () => {
    const kubeconfig = file('kubeconfig', `apiVersion: v1\nkind: Config\ncurrent-context: ci\ncontexts:\n  - name: ci\n    context: {cluster: local, user: deployer, namespace: ${ns}}\nusers:\n  - name: deployer\n    user: {token: ${api.tokens.deployer}}\n`);
    const env = cliEnv({ KUBECONFIG: kubeconfig });
    delete env['PLANTON_API_TOKEN'];
    const r = await cli(['list'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['api', 'web']);
  });
});

describe('diff', () => {
  it('exits 0 for a manifest that changes nothing, and for NAME with its stored spec', async () => {
    const before = await clusterState('web');
    const r = await cli(['diff', '-f', file('same.yaml', helmRelease('web', { labels: { tier: 'frontend' } }))]);
    expect(r).toEqual({ code: 0, stdout: `HelmRelease ${ns}/web: no changes (chart version 1.0.0)\n`, stderr: '' });
    expect((await cli(['diff', 'web', '-n', ns])).code).toBe(0);
    expect(await clusterState('web')).toEqual(before);
  });

  it('exits 1 for a values change, showing the changed field, and changes nothing', async () => {
    const before = await clusterState('web');
    const r = await cli(['diff', '-f', file('values.yaml', helmRelease('web', { message: 'changed' }))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`HelmRelease ${ns}/web: upgrade (chart version 1.0.0): 0 to add, 1 to change, 0 to remove\n`);
    expect(r.stdout).toContain(`${ns}, web-plain, ConfigMap (v1) has changed:\n  @@ /data/message @@\n  - hello\n  + changed\n`);
    expect(r.stdout).not.toContain('\u001b[');
    expect(await clusterState('web')).toEqual(before);
  });

  it('exits 1 for a version change, as JSON for machines, and changes nothing', async () => {
    const before = await clusterState('web');
    const r = await cli(['diff', '-f', file('version.yaml', helmRelease('web', { version: '1.1.0' })), '-o', 'json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { changed: boolean; releases: { install: boolean; chartVersion: string; objects: { kind: string; change: string; fields: { path: string; desired?: unknown }[] }[] }[] };
    expect(doc.changed).toBe(true);
    expect(doc.releases[0]).toMatchObject({ install: false, chartVersion: '1.1.0' });
    const configMap = doc.releases[0]?.objects.find((o) => o.kind === 'ConfigMap');
    expect(configMap?.change).toBe('changed');
    expect(configMap?.fields).toContainEqual({ path: '/data/version', desired: '1.1.0' });
    expect(await clusterState('web')).toEqual(before);
  });

  it('exits 1 for a new release, every object added, and creates nothing', async () => {
    const r = await cli(['diff', '-f', file('new.yaml', helmRelease('fresh'))]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`HelmRelease ${ns}/fresh: install (chart version 1.0.0): 3 to add, 0 to change, 0 to remove\n`);
    for (const kind of ['ConfigMap (v1)', 'Deployment (apps/v1)', 'Service (v1)']) expect(r.stdout).toContain(`${ns}, fresh-plain, ${kind} has been added\n`);
    expect(await hrs.get(ns, 'fresh')).toBeUndefined();
    expect(await helmHistory(ns, 'fresh')).toEqual([]);
  });

  it('says a Secret has changed without showing its data, in text and in JSON', async () => {
    const secretRelease = (password: string) =>
      helmRelease('vault', {}).replace('name: plain', 'name: with-secret').replace('message: hello', `message: hello\n    password: ${password}`);
    expect((await cli(['apply', '-f', file('vault.yaml', secretRelease('first-secret-value'))])).code).toBe(0);
    await waitForCondition(ns, 'vault', 'Ready', 'True');
    const path = file('vault-next.yaml', secretRelease('second-secret-value'));
    const text = await cli(['diff', '-f', path]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`${ns}, vault-credentials, Secret (v1) has changed:\n`);
    expect(text.stdout).toContain('~ (value hidden: Secret data)\n');
    const json = await cli(['diff', '-f', path, '-o', 'json']);
    expect(json.code).toBe(1);
    const secret = (JSON.parse(json.stdout) as { releases: { objects: { kind: string; fields: { redacted?: boolean }[] }[] }[] }).releases[0]?.objects.find((o) => o.kind === 'Secret');
    expect(secret?.fields.length).toBeGreaterThan(0);
    expect(secret?.fields.every((f) => f.redacted === true)).toBe(true);
    for (const out of [text.stdout, json.stdout]) {
      for (const secretText of ['first-secret-value', 'second-secret-value', Buffer.from('first-secret-value').toString('base64'), Buffer.from('second-secret-value').toString('base64')]) {
        expect(out).not.toContain(secretText);
      }
    }
  });

  it('exits 2 for a HelmRelease that does not exist', async () => {
    const r = await cli(['diff', 'nope', '-n', ns]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: NOT_FOUND: [^\n]+\n$/);
  });
});

describe('history, reconcile, suspend, resume, watch', () => {
  it('applies an upgrade and shows both revisions, oldest first', async () => {
    expect((await cli(['apply', '-f', file('upgrade.yaml', helmRelease('web', { version: '1.1.0', labels: { tier: 'frontend' } }))])).code).toBe(0);
    await waitFor('web at revision 2', async () => ((await hrs.get(ns, 'web'))?.status?.release?.revision === 2 ? true : undefined), 120_000);
    await waitForCondition(ns, 'web', 'Ready', 'True');
    const table = await cli(['history', 'web', '-n', ns]);
    expect(table.code).toBe(0);
    expect(table.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ['1', expect.any(String), 'superseded', '1.0.0'],
      ['2', expect.any(String), 'deployed', '1.1.0'],
    ]);
    const json = JSON.parse((await cli(['history', 'web', '-n', ns, '-o', 'json', '--max', '1'])).stdout) as { revision: number; chartVersion: string }[];
    expect(json.map((r) => [r.revision, r.chartVersion])).toEqual([[2, '1.1.0']]);
  });

  it('reconciles now and reports the Ready it ends with', async () => {
    const before = (await hrs.get(ns, 'web'))?.status?.lastHandledReconcileTime;
    const r = await cli(['reconcile', 'web', '-n', ns]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^HelmRelease ${ns}/web: reconcile requested at \\S+\nHelmRelease ${ns}/web: Ready \\(\\w+\\): .*\\(revision 2, chart version 1.1.0\\)\n$`));
    const after = (await hrs.get(ns, 'web'))?.status?.lastHandledReconcileTime;
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
  });

  it('suspends and resumes, which a running watch prints as it happens', async () => {
    const watch = startCli(['watch', 'web', '-n', ns, '-o', 'json'], cliEnv());
    let out = '';
    watch.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    const events = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; object: { metadata: { resourceVersion: string }; spec: { suspend?: boolean } } });
    try {
      await waitFor('the watch to print the current state', async () => (events()[0]?.type === 'ADDED' ? true : undefined), 30_000);

      expect(await cli(['suspend', 'web', '-n', ns])).toEqual({ code: 0, stdout: `HelmRelease ${ns}/web suspended\n`, stderr: '' });
      expect((await hrs.get(ns, 'web'))?.spec['suspend']).toBe(true);
      await waitFor('the watch to print the suspension', async () => (events().some((e) => e.type === 'MODIFIED' && e.object.spec.suspend === true) ? true : undefined), 30_000);
      expect((await cli(['get', 'web', '-n', ns])).stdout.split('\n')[1]?.split(/\s+/)[2]).toBe('Suspended');

      expect(await cli(['resume', 'web', '-n', ns])).toEqual({ code: 0, stdout: `HelmRelease ${ns}/web resumed\n`, stderr: '' });
      expect((await hrs.get(ns, 'web'))?.spec['suspend']).toBeFalsy();
      await waitFor('the watch to print the resumption', async () => {
        const e = events();
        const suspendedAt = e.findIndex((x) => x.object.spec.suspend === true);
        return e.slice(suspendedAt + 1).some((x) => !x.object.spec.suspend) ? true : undefined;
      }, 30_000);
      const versions = events().map((e) => e.object.metadata.resourceVersion);
      expect(new Set(versions).size).toBe(versions.length);
    } finally {
      watch.kill('SIGINT');
    }
    const code = await new Promise<number | null>((done) => (watch.exitCode !== null ? done(watch.exitCode) : watch.once('exit', (c) => done(c))));
    expect(code).toBe(0);
  });
});

describe('Project Planton manifests', () => {
  it('applies a KubernetesHelmRelease as a HelmRelease, which get -o json shows and the controller installs', async () => {
    const path = file(
      'planton.yaml',
      `apiVersion: kubernetes.planton.dev/v1
kind: KubernetesHelmRelease
metadata:
  name: cache
  labels: {team: data}
spec:
  namespace:
    value: ${ns}
  createNamespace: false
  repo: ${clusterEnv().PLANTON_HTTP_REPO}
  name: plain
  version: 1.1.0
  values:
    message: from planton
    replicaCount: "2"
`,
    );
    const r = await cli(['apply', '-f', path]);
    expect(r).toEqual({ code: 0, stdout: `helmrelease.helm.project-planton.org/cache created in namespace ${ns} (from KubernetesHelmRelease)\n`, stderr: '' });
    const got = JSON.parse((await cli(['get', 'cache', '-n', ns, '-o', 'json'])).stdout) as Record<string, unknown>;
    expect(got).toMatchObject({
      kind: 'HelmRelease',
      metadata: { name: 'cache', namespace: ns, labels: { team: 'data' } },
      spec: { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.1.0', values: { message: 'from planton', replicaCount: '2' } },
    });
    await waitForCondition(ns, 'cache', 'Ready', 'True', 180_000);
    expect(await configMapData('cache-plain')).toMatchObject({ message: 'from planton', replicaCount: '2', version: '1.1.0' });
  });
});

describe('delete', () => {
  it('deletes and waits until the release is uninstalled and the HelmRelease gone', async () => {
    const r = await cli(['delete', 'api', '-n', ns, '--wait', '--timeout', '2m']);
    expect(r).toEqual({ code: 0, stdout: `helmrelease.helm.project-planton.org "api" deleted from namespace ${ns}\n`, stderr: '' });
    expect(await hrs.get(ns, 'api')).toBeUndefined();
    expect(await helmHistory(ns, 'api')).toEqual([]);
    expect((await cli(['get', 'api', '-n', ns])).code).toBe(1);
  });
});

describe('watch across a controller restart', () => {
  it('resumes from the last version it printed: the change made while the API was down is printed once', async () => {
    const watch = startCli(['watch', 'web', '-n', ns, '-o', 'json'], cliEnv());
    let out = '';
    let err = '';
    watch.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    watch.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const events = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; object: { metadata: { resourceVersion: string; labels?: Record<string, string> } } });
    try {
      await waitFor('the watch to print the current state', async () => (events()[0]?.type === 'ADDED' ? true : undefined), 30_000);
      const address = api.controller.apiAddress;
      await api.controller.stop();
      // Changed while nothing serves the API: the resumed watch must still deliver it.
      await kubectl(['label', '--overwrite', '--namespace', ns, 'helmrelease/web', 'changed-while-down=yes']);
      expect((await api.restart({ sameAddress: true })).apiAddress).toBe(address);
      await waitFor('the watch to print the change made during the restart', async () => (events().some((e) => e.object.metadata.labels?.['changed-while-down'] === 'yes') ? true : undefined), 90_000);
      expect(watch.exitCode).toBeNull();
      const versions = events().map((e) => e.object.metadata.resourceVersion);
      expect(new Set(versions).size).toBe(versions.length);
      expect(events().filter((e) => e.type === 'ADDED')).toHaveLength(1);
    } finally {
      watch.kill('SIGINT');
    }
    const code = await new Promise<number | null>((done) => (watch.exitCode !== null ? done(watch.exitCode) : watch.once('exit', (c) => done(c))));
    expect({ code, err }).toEqual({ code: 0, err: '' });
  });
});
