import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { HelmReleaseSpec, HelmReleaseStatus } from '../gen/planton/helm/v1/helm_release.js';
import { ChangeType, type DiffResponse, type HelmRelease, type HelmReleaseApi, WatchEventType, type WatchResponse } from './client.js';
import { type Dependencies, type Io, run } from './commands.js';
import type { Connection } from './connection.js';
import { ApiError } from './errors.js';

const now = new Date('2025-06-01T12:00:00Z');

function release(name: string, namespace = 'team', status: Partial<HelmReleaseStatus> = {}): HelmRelease {
  return {
    namespace,
    name,
    labels: {},
    spec: HelmReleaseSpec.fromPartial({ repo: 'https://charts.example.com', name: 'podinfo', version: '6.5.0' }),
    status: HelmReleaseStatus.fromPartial({ observedGeneration: 1, ...status }),
    generation: 1,
    resourceVersion: '7',
    uid: `uid-${name}`,
    creationTime: new Date(now.getTime() - 60_000),
  };
}

/** An API whose every call fails unless the test gives it an answer; calls are recorded. */
function fakeApi(answers: Partial<Record<keyof HelmReleaseApi, (req: never) => unknown>>) {
  const calls: { method: string; req: unknown }[] = [];
  const api = new Proxy({} as HelmReleaseApi, {
    get: (_t, method: string) => {
      if (method === 'close') return () => undefined;
      return (req: never) => {
        calls.push({ method, req });
        const answer = answers[method as keyof HelmReleaseApi];
        if (method === 'watch') return (answer ?? (() => (async function* () {})()))(req);
        return answer ? Promise.resolve().then(() => answer(req)) : Promise.reject(new ApiError(GrpcStatus.UNIMPLEMENTED, `${method} not scripted`));
      };
    },
  });
  return { api, calls };
}

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly connections: Connection[];
}

async function cli(argv: string[], api: HelmReleaseApi, opts: { env?: Record<string, string>; tty?: boolean } = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const connections: Connection[] = [];
  const io: Io = {
    env: { HOME: mkdtempSync(join(tmpdir(), 'planton-helm-home-')), PLANTON_API_ADDR: '127.0.0.1:9', PLANTON_API_TOKEN: 'env-token', ...opts.env },
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    stdoutIsTty: opts.tty ?? false,
    signal: new AbortController().signal,
    now: () => now,
  };
  const deps: Dependencies = {
    connect: (conn) => {
      connections.push(conn);
      return api;
    },
    retry: { maxRetries: 0, baseDelayMs: 0, maxDelayMs: 0, healthyStreamMs: 1, now: () => 0, sleep: async () => undefined },
  };
  const code = await run(argv, io, deps);
  return { code, stdout, stderr, connections };
}

const changed: DiffResponse = {
  install: false,
  chartVersion: '6.6.0',
  objects: [{ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'team', name: 'web', change: ChangeType.UPDATE, fields: [{ path: '/spec/replicas', live: '1', desired: '2', redacted: false }] }],
};
const unchanged: DiffResponse = { install: false, chartVersion: '6.5.0', objects: [] };

function manifest(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'planton-helm-m-')), 'm.yaml');
  writeFileSync(path, text);
  return path;
}

const hrYaml = `apiVersion: helm.project-planton.org/v1
kind: HelmRelease
metadata: {name: web, namespace: team}
spec: {repo: "https://charts.example.com", name: podinfo, version: 6.6.0}
`;

describe('diff exit codes', () => {
  it('exits 1 when there are changes, and prints them without colour when stdout is not a terminal', async () => {
    const { api, calls } = fakeApi({ diff: () => changed });
    const r = await cli(['diff', 'web', '-n', 'team'], api);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('team, web, Deployment (apps/v1) has changed:\n  @@ /spec/replicas @@\n  - 1\n  + 2\n');
    expect(r.stdout).not.toContain('\u001b[');
    expect(calls).toEqual([{ method: 'diff', req: { namespace: 'team', name: 'web' } }]);
  });

  it('colours on a terminal, unless NO_COLOR is set', async () => {
    const { api } = fakeApi({ diff: () => changed });
    expect((await cli(['diff', 'web'], api, { tty: true })).stdout).toContain('\u001b[31m- 1\u001b[0m');
    expect((await cli(['diff', 'web'], api, { tty: true, env: { NO_COLOR: '1' } })).stdout).not.toContain('\u001b[');
  });

  it('exits 0 when nothing would change', async () => {
    const { api } = fakeApi({ diff: () => unchanged });
    const r = await cli(['diff', 'web'], api);
    expect(r).toMatchObject({ code: 0, stdout: 'HelmRelease default/web: no changes (chart version 6.5.0)\n', stderr: '' });
  });

  it('exits 2 with one error line when the API refuses', async () => {
    const { api } = fakeApi({ diff: () => Promise.reject(new ApiError(GrpcStatus.NOT_FOUND, 'helmreleases.helm.project-planton.org "web" not found')) });
    const r = await cli(['diff', 'web'], api);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: 'error: NOT_FOUND: helmreleases.helm.project-planton.org "web" not found\n' });
  });

  it('exits 2 for a manifest it cannot read, before calling anything', async () => {
    const { api, calls } = fakeApi({});
    const r = await cli(['diff', '-f', '/nonexistent.yaml'], api);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: cannot read \/nonexistent.yaml: /);
    expect(calls).toEqual([]);
  });

  it('previews the spec of a file, and gives JSON to machines', async () => {
    const { api, calls } = fakeApi({ diff: () => changed });
    const r = await cli(['diff', '-f', manifest(hrYaml), '-o', 'json'], api);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: true, releases: [{ namespace: 'team', name: 'web', objects: [{ kind: 'Deployment', change: 'changed', fields: [{ path: '/spec/replicas', live: 1, desired: 2 }] }] }] });
    expect(calls[0]?.req).toMatchObject({ namespace: 'team', name: 'web', spec: { version: '6.6.0' } });
  });
});

describe('other exit codes and errors', () => {
  it('exits 2 for a usage error, saying where the help is', async () => {
    const r = await cli(['get', '--bogus'], fakeApi({}).api);
    expect(r).toMatchObject({ code: 2, stderr: "error: unknown flag '--bogus' (see planton-helm get --help)\n" });
  });

  it('exits 0 for --help on every command', async () => {
    for (const c of ['apply', 'get', 'list', 'delete', 'history', 'reconcile', 'suspend', 'resume', 'watch', 'diff']) {
      const r = await cli([c, '--help'], fakeApi({}).api);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: planton-helm ${c}`);
    }
  });

  it('exits 1 with the gRPC code name for an API error, going on with the other names', async () => {
    const { api } = fakeApi({
      get: (req: { name: string }) => (req.name === 'web' ? { helmRelease: release('web') } : Promise.reject(new ApiError(GrpcStatus.PERMISSION_DENIED, 'cannot get helmreleases'))),
    });
    const r = await cli(['get', 'secret', 'web', '-n', 'team'], api);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: team/secret: PERMISSION_DENIED: cannot get helmreleases\n');
    expect(r.stdout.split('\n')[1]).toMatch(/^web\s+Unknown/);
  });

  it('exits 1 when there is nowhere to connect, naming the flag and variable', async () => {
    const r = await cli(['list'], fakeApi({}).api, { env: { PLANTON_API_ADDR: '' } });
    expect(r).toMatchObject({ code: 1, stderr: 'error: no API server: pass --server HOST:PORT or set PLANTON_API_ADDR\n' });
  });
});

describe('commands', () => {
  it('takes the namespace and the token from the kubeconfig context when not given', async () => {
    const kc = manifest('current-context: dev\ncontexts: [{name: dev, context: {user: u, namespace: from-kc}}]\nusers: [{name: u, user: {token: kc-token}}]\n');
    const { api, calls } = fakeApi({ list: () => ({ helmReleases: [], nextPageToken: '', resourceVersion: '1' }) });
    const r = await cli(['list', '--kubeconfig', kc], api, { env: { PLANTON_API_TOKEN: '' } });
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: 'No HelmReleases found in from-kc namespace.\n' });
    expect(calls[0]?.req).toMatchObject({ namespace: 'from-kc' });
    expect(r.connections[0]).toMatchObject({ address: '127.0.0.1:9', token: 'kc-token' });
  });

  it('lists every page, and every namespace with -A', async () => {
    const pages = [
      { helmReleases: [release('a', 'x')], nextPageToken: 'p2', resourceVersion: '1' },
      { helmReleases: [release('b', 'y')], nextPageToken: '', resourceVersion: '1' },
    ];
    const { api, calls } = fakeApi({ list: () => pages.shift() });
    const r = await cli(['list', '-A'], api);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['NAMESPACE', 'x', 'y', '']);
    expect(calls.map((c) => c.req)).toEqual([
      { namespace: '', labelSelector: '', pageSize: 500, pageToken: '' },
      { namespace: '', labelSelector: '', pageSize: 500, pageToken: 'p2' },
    ]);
  });

  it('applies a KubernetesHelmRelease as the HelmRelease it means', async () => {
    const planton = manifest(
      'apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesHelmRelease\nmetadata: {name: redis}\nspec:\n  namespace: {value: cache}\n  createNamespace: true\n  repo: https://charts.example.com\n  name: redis\n  version: 18.19.0\n  values: {architecture: standalone}\n',
    );
    const { api, calls } = fakeApi({ apply: () => ({ created: true, helmRelease: release('redis', 'cache') }) });
    const r = await cli(['apply', '-f', planton], api);
    expect(r).toMatchObject({ code: 0, stdout: 'helmrelease.helm.project-planton.org/redis created in namespace cache (from KubernetesHelmRelease)\n', stderr: '' });
    expect(calls[0]?.req).toMatchObject({ namespace: 'cache', name: 'redis', spec: { repo: 'https://charts.example.com', name: 'redis', version: '18.19.0', createNamespace: true, values: { architecture: 'standalone' } } });
  });

  it('applies with --dry-run and --force-conflicts as asked, printing what the server would store', async () => {
    const { api, calls } = fakeApi({ apply: () => ({ created: false, helmRelease: release('web') }) });
    const path = manifest(hrYaml);
    const r = await cli(['apply', '-f', path, '--dry-run', '--force-conflicts', '--field-manager', 'ci'], api);
    expect(r).toMatchObject({ code: 0, stdout: 'helmrelease.helm.project-planton.org/web configured (server dry run) in namespace team\n' });
    expect(calls[0]?.req).toMatchObject({ dryRun: true, force: true, fieldManager: 'ci' });
    const json = await cli(['apply', '-f', path, '-o', 'json'], api);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'HelmRelease', metadata: { name: 'web', namespace: 'team' } });
  });

  it('applies nothing when any document of the files is wrong', async () => {
    const { api, calls } = fakeApi({ apply: () => ({ created: true, helmRelease: release('web') }) });
    const r = await cli(['apply', '-f', manifest(hrYaml), '-f', manifest(hrYaml.replace('spec: {', 'spec: {frobnicate: true, '))], api);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*m\.yaml, HelmRelease web: spec.frobnicate: unknown field\n$/);
    expect(calls).toEqual([]);
  });

  it('waits for the requested reconcile and exits by the Ready it ends with', async () => {
    const requested = new Date('2025-06-01T12:00:05Z');
    const states = (ready: string): WatchResponse[] => [
      { type: WatchEventType.ADDED, helmRelease: release('web', 'team', { lastHandledReconcileTime: new Date('2025-06-01T11:00:00Z'), conditions: [{ type: 'Ready', status: 'True', reason: 'InstallSucceeded', message: 'old', observedGeneration: 1 }] }) },
      {
        type: WatchEventType.MODIFIED,
        helmRelease: release('web', 'team', {
          lastHandledReconcileTime: requested,
          conditions: [{ type: 'Ready', status: ready, reason: ready === 'True' ? 'UpgradeSucceeded' : 'UpgradeFailed', message: 'done', observedGeneration: 1 }],
        }),
      },
    ];
    for (const [ready, code] of [['True', 0], ['False', 1]] as const) {
      const { api } = fakeApi({
        reconcile: () => ({ requestedTime: requested }),
        watch: () =>
          (async function* () {
            yield* states(ready);
          })(),
      });
      const r = await cli(['reconcile', 'web', '-n', 'team'], api);
      expect(r.code).toBe(code);
      expect(r.stdout).toContain('HelmRelease team/web: reconcile requested at 2025-06-01T12:00:05Z');
      expect(ready === 'True' ? r.stdout : r.stderr).toContain(`HelmRelease team/web: ${ready === 'True' ? 'Ready (UpgradeSucceeded)' : 'not Ready (UpgradeFailed)'}: done`);
    }
  });

  it('watch prints a header then a line per event', async () => {
    const { api } = fakeApi({
      watch: () =>
        (async function* () {
          yield { type: WatchEventType.ADDED, helmRelease: release('web') };
          yield { type: WatchEventType.DELETED, helmRelease: release('web') };
          throw new ApiError(GrpcStatus.PERMISSION_DENIED, 'no more');
        })(),
    });
    const r = await cli(['watch', '-n', 'team'], api);
    expect(r.stdout.split('\n').map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual(['EVENT NAMESPACE NAME', 'ADDED team web', 'DELETED team web', '']);
    expect(r).toMatchObject({ code: 1, stderr: 'error: PERMISSION_DENIED: no more\n' });
  });
});
