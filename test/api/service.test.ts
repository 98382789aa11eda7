// The public gRPC API end to end, from the generated TypeScript client: every RPC against a
// real controller over real TLS with real ServiceAccount tokens, authorized by real RBAC, and
// what each call leaves in the cluster (the HelmRelease, the Helm release, the objects).
import { status as Code } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApplyRequest,
  ChangeType,
  type HelmReleaseServiceClient,
  type WatchResponse,
  WatchEventType,
} from '../../src/gen/planton/helm/v1/helm_release_service.js';
import { DeletionPolicy, type HelmReleaseSpec } from '../../src/gen/planton/helm/v1/helm_release.js';
import { apiClient, type ApiFixture, grpcOutcome, type Rpc, rpc, startApiFixture } from '../support/api.js';
import { clusterEnv, helmHistory, kubectl, tempNamespace, waitFor } from '../support/cluster.js';
import { eventsFor, helmReleases, metricValue, waitForCondition } from '../support/controller.js';

const hrs = helmReleases();
let api: ApiFixture;
let ns: string;
let other: string;
let deployerClient: HelmReleaseServiceClient;
let viewerClient: HelmReleaseServiceClient;
let deployer: Rpc;
let viewer: Rpc;
const cleanups: (() => Promise<void> | void)[] = [];

function spec(over: Partial<HelmReleaseSpec> = {}): HelmReleaseSpec {
  return {
    repo: clusterEnv().PLANTON_HTTP_REPO,
    name: 'plain',
    version: '1.0.0',
    valuesFrom: [],
    releaseName: '',
    targetNamespace: '',
    createNamespace: false,
    dependsOn: [],
    serviceAccountName: '',
    suspend: false,
    deletionPolicy: DeletionPolicy.UNSPECIFIED,
    wait: false,
    ...over,
  };
}

function applyRequest(name: string, over: Partial<ApplyRequest> = {}): ApplyRequest {
  return { namespace: ns, name, labels: {}, spec: spec(), fieldManager: '', force: false, dryRun: false, ...over };
}

const codeOf = grpcOutcome;

/** Clients of the controller serving now, for the deployer and the viewer. */
function connect(): void {
  deployerClient = apiClient(api.controller.apiAddress, api.tls.ca, api.tokens.deployer);
  viewerClient = apiClient(api.controller.apiAddress, api.tls.ca, api.tokens.viewer);
  deployer = rpc(deployerClient);
  viewer = rpc(viewerClient);
}

beforeAll(async () => {
  api = await startApiFixture('api');
  ns = api.namespace;
  const b = await tempNamespace('api-other');
  other = b.name;
  cleanups.push(b.cleanup);
  connect();
});

afterAll(async () => {
  deployerClient?.close();
  viewerClient?.close();
  await api?.close();
  for (const c of cleanups.reverse()) await c();
});

describe('Apply, Get, History', () => {
  it('creates a HelmRelease that the controller installs, and reads it back', async () => {
    const res = await deployer.apply(applyRequest('web', { labels: { team: 'payments' }, spec: spec({ values: { replicaCount: 2 } }) }));
    expect(res.created).toBe(true);
    expect(res.helmRelease?.spec?.values).toEqual({ replicaCount: 2 });
    expect(res.helmRelease?.labels).toEqual({ team: 'payments' });
    const ready = await waitForCondition(ns, 'web', 'Ready', 'True');
    expect(ready.status?.release?.revision).toBe(1);

    const got = await deployer.get({ namespace: ns, name: 'web' });
    expect(got.helmRelease?.uid).toBe(ready.metadata.uid);
    expect(got.helmRelease?.status?.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(got.helmRelease?.status?.release?.revision).toBe(1);

    const history = await deployer.history({ namespace: ns, name: 'web', limit: 0 });
    expect(history.revisions.map((r) => [r.revision, r.chartVersion, r.status])).toEqual([[1, '1.0.0', 'deployed']]);
  });
});

describe('Apply updates and dry runs', () => {
  it('updates with created false and a new generation; a dry run writes nothing', async () => {
    const before = await hrs.get(ns, 'web');
    const dry = await deployer.apply(applyRequest('web', { labels: { team: 'payments' }, spec: spec({ values: { replicaCount: 3 } }), dryRun: true }));
    expect(dry.created).toBe(false);
    expect(dry.helmRelease?.spec?.values).toEqual({ replicaCount: 3 });
    expect((await hrs.get(ns, 'web'))?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);

    const dryNew = await deployer.apply(applyRequest('never-stored', { dryRun: true }));
    expect(dryNew.created).toBe(true);
    expect(await hrs.get(ns, 'never-stored')).toBeUndefined();

    const res = await deployer.apply(applyRequest('web', { labels: { team: 'payments' }, spec: spec({ values: { replicaCount: 3 } }) }));
    expect(res.created).toBe(false);
    expect(res.helmRelease?.generation).toBe((before?.metadata.generation ?? 0) + 1);
    const upgraded = await waitFor('revision 2', async () => {
      const hr = await hrs.get(ns, 'web');
      return hr?.status?.release?.revision === 2 && hr.status.observedGeneration === hr.metadata.generation ? hr : undefined;
    }, 120_000);
    expect(upgraded.spec['values']).toEqual({ replicaCount: 3 });
  });

  it('a conflict with another field manager is ABORTED unless forced', async () => {
    await kubectl(['patch', '--namespace', ns, 'helmrelease/web', '--type', 'merge', '--field-manager', 'someone-else', '-p', '{"spec":{"maxHistory":7}}']);
    const conflict = await codeOf(deployer.apply(applyRequest('web', { labels: { team: 'payments' }, spec: spec({ values: { replicaCount: 3 }, maxHistory: 4 }) })));
    expect(conflict.code).toBe(Code.ABORTED);
    expect(conflict.details).toMatch(/conflict/i);
    const forced = await deployer.apply(applyRequest('web', { labels: { team: 'payments' }, spec: spec({ values: { replicaCount: 3 }, maxHistory: 4 }), force: true }));
    expect(forced.helmRelease?.spec?.maxHistory).toBe(4);
  });
});

describe('List', () => {
  it('lists a namespace by label selector and page, and across namespaces only what the caller may list', async () => {
    await deployer.apply(applyRequest('api', { labels: { team: 'search' }, spec: spec({ suspend: true }) }));
    await hrs.create(other, 'hidden', { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0', suspend: true });

    const all = await viewer.list({ namespace: ns, labelSelector: '', pageSize: 0, pageToken: '' });
    expect(all.helmReleases.map((h) => h.name)).toEqual(['api', 'web']);
    expect(all.resourceVersion).not.toBe('');
    const payments = await viewer.list({ namespace: ns, labelSelector: 'team=payments', pageSize: 0, pageToken: '' });
    expect(payments.helmReleases.map((h) => h.name)).toEqual(['web']);

    const first = await viewer.list({ namespace: ns, labelSelector: '', pageSize: 1, pageToken: '' });
    expect(first.helmReleases.map((h) => h.name)).toEqual(['api']);
    expect(first.nextPageToken).not.toBe('');
    const second = await viewer.list({ namespace: ns, labelSelector: '', pageSize: 1, pageToken: first.nextPageToken });
    expect(second.helmReleases.map((h) => h.name)).toEqual(['web']);
    expect(second.nextPageToken).toBe('');

    // No cluster-wide list: every namespace yields only the one this ServiceAccount may read.
    const everywhere = await viewer.list({ namespace: '', labelSelector: '', pageSize: 1000, pageToken: '' });
    expect(new Set(everywhere.helmReleases.map((h) => h.namespace))).toEqual(new Set([ns]));
    expect((await codeOf(viewer.list({ namespace: other, labelSelector: '', pageSize: 0, pageToken: '' }))).code).toBe(Code.PERMISSION_DENIED);
  });
});

describe('Diff', () => {
  async function snapshot(name: string) {
    const hr = await hrs.get(ns, name);
    const cm = await kubectl(['get', 'configmap', `${name}-plain`, '--namespace', ns, '-o', 'jsonpath={.metadata.resourceVersion}']).then((r) => r.stdout, () => 'absent');
    return { hr: hr?.metadata.resourceVersion, cm, history: (await helmHistory(ns, name)).length };
  }

  it('previews a values change field by field, and changes nothing', async () => {
    await deployer.apply(applyRequest('preview', { spec: spec({ values: { message: 'before' } }) }));
    await waitForCondition(ns, 'preview', 'Ready', 'True');
    const before = await snapshot('preview');
    const res = await deployer.diff({ namespace: ns, name: 'preview', spec: spec({ values: { message: 'after' } }) });
    expect(res.install).toBe(false);
    expect(res.chartVersion).toBe('1.0.0');
    const cm = res.objects.find((o) => o.kind === 'ConfigMap');
    expect(cm).toMatchObject({ apiVersion: 'v1', namespace: ns, name: 'preview-plain', change: ChangeType.UPDATE });
    expect(cm?.fields).toEqual([{ path: '/data/message', desired: '"after"', live: '"before"', redacted: false }]);
    expect(res.objects.map((o) => o.kind)).toEqual(['ConfigMap']);
    expect(await snapshot('preview')).toEqual(before);

    const stored = await deployer.diff({ namespace: ns, name: 'preview' });
    expect(stored.objects).toEqual([]);
  });

  it('previews a version change', async () => {
    const before = await snapshot('preview');
    const res = await deployer.diff({ namespace: ns, name: 'preview', spec: spec({ version: '1.1.0', values: { message: 'before' } }) });
    expect(res.chartVersion).toBe('1.1.0');
    const cm = res.objects.find((o) => o.kind === 'ConfigMap');
    expect(cm?.fields.map((f) => f.path)).toContain('/data/version');
    expect(res.objects.every((o) => o.change === ChangeType.UPDATE)).toBe(true);
    expect(await snapshot('preview')).toEqual(before);
  });

  it('previews a new release: every object created, nothing stored', async () => {
    const res = await deployer.diff({ namespace: ns, name: 'brand-new', spec: spec() });
    expect(res.install).toBe(true);
    expect(res.objects.map((o) => [o.kind, o.name, o.change]).sort()).toEqual([
      ['ConfigMap', 'brand-new-plain', ChangeType.CREATE],
      ['Deployment', 'brand-new-plain', ChangeType.CREATE],
      ['Service', 'brand-new-plain', ChangeType.CREATE],
    ]);
    expect(await hrs.get(ns, 'brand-new')).toBeUndefined();
    expect(await helmHistory(ns, 'brand-new')).toEqual([]);
  });

  it('withholds Secret data and values that came from Secrets', async () => {
    await kubectl(['create', 'secret', 'generic', 'db', '--namespace', ns, '--from-literal=values.yaml=password: s3cret-from-secret-1234']);
    const secretSpec = spec({ name: 'with-secret', valuesFrom: [{ kind: 1, name: 'db', key: 'values.yaml', targetPath: '', optional: false }] });
    await deployer.apply(applyRequest('vault', { spec: secretSpec }));
    await waitForCondition(ns, 'vault', 'Ready', 'True');
    await kubectl(['create', 'secret', 'generic', 'db2', '--namespace', ns, '--from-literal=values.yaml=password: n3w-secret-value-5678\nmessage: n3w-secret-value-5678']);
    const res = await deployer.diff({ namespace: ns, name: 'vault', spec: { ...secretSpec, valuesFrom: [{ kind: 1, name: 'db2', key: 'values.yaml', targetPath: '', optional: false }] } });
    const secret = res.objects.find((o) => o.kind === 'Secret');
    expect(secret?.change).toBe(ChangeType.UPDATE);
    expect(secret?.fields.length).toBeGreaterThan(0);
    expect(secret?.fields.every((f) => f.redacted && f.desired === '' && f.live === '')).toBe(true);
    const text = JSON.stringify(res);
    expect(text).not.toContain('n3w-secret-value-5678');
    expect(text).not.toContain('s3cret-from-secret-1234');
    const cm = res.objects.find((o) => o.kind === 'ConfigMap');
    expect(cm?.fields[0]?.desired).toBe('"[REDACTED]"');
  });

  it('a spec the caller supplies needs write access; the stored one, read access', async () => {
    expect((await codeOf(viewer.diff({ namespace: ns, name: 'preview', spec: spec() }))).code).toBe(Code.PERMISSION_DENIED);
    expect((await viewer.diff({ namespace: ns, name: 'preview' })).objects).toEqual([]);
    expect((await codeOf(viewer.diff({ namespace: ns, name: 'nothing-here' }))).code).toBe(Code.NOT_FOUND);
  });
});

describe('Reconcile, Suspend, Resume', () => {
  it('a Stalled release stays Stalled on a request without reset, and tries again with one', async () => {
    const failing = spec({ name: 'hooks', atomic: false, values: { failHook: true }, remediation: { retries: 0, strategy: 0 } });
    await deployer.apply(applyRequest('stuck', { spec: failing }));
    await waitForCondition(ns, 'stuck', 'Stalled', 'True', 180_000, 'RetriesExhausted');
    const installFailed = async () => (await eventsFor(ns, 'stuck')).filter((e) => e.reason === 'InstallFailed').length;
    const before = await installFailed();

    const keep = (await deployer.reconcile({ namespace: ns, name: 'stuck', resetFailures: false })).requestedTime?.toISOString();
    const kept = await waitFor('the request to be handled', async () => {
      const hr = await hrs.get(ns, 'stuck');
      return hr?.status?.lastHandledReconcileTime === keep ? hr : undefined;
    });
    expect(kept.status?.conditions?.find((c) => c.type === 'Stalled')?.reason).toBe('RetriesExhausted');
    expect(kept.status?.installFailures).toBe(1);
    expect(await installFailed()).toBe(before);

    const reset = (await deployer.reconcile({ namespace: ns, name: 'stuck', resetFailures: true })).requestedTime?.toISOString();
    await waitFor('another attempt, Stalled again', async () => {
      const hr = await hrs.get(ns, 'stuck');
      const stalled = hr?.status?.lastHandledReconcileTime === reset && hr?.status?.conditions?.find((c) => c.type === 'Stalled')?.reason === 'RetriesExhausted';
      return stalled && (await installFailed()) === before + 1 ? true : undefined;
    }, 180_000, 1_000);
  });

  it('records a reconcile request that the controller then handles', async () => {
    const res = await deployer.reconcile({ namespace: ns, name: 'preview', resetFailures: false });
    const at = res.requestedTime?.toISOString();
    expect(at).toBeDefined();
    await waitFor('the request to be handled', async () => ((await hrs.get(ns, 'preview'))?.status?.lastHandledReconcileTime === at ? true : undefined));
    const reset = await deployer.reconcile({ namespace: ns, name: 'preview', resetFailures: true });
    const hr = await hrs.get(ns, 'preview');
    expect(hr?.metadata.annotations?.['helm.project-planton.org/reconcile-requested-at']).toBe(reset.requestedTime?.toISOString());
    expect(hr?.metadata.annotations?.['helm.project-planton.org/reconcile-keep-failures']).toBeUndefined();
    expect((await codeOf(deployer.reconcile({ namespace: ns, name: 'nothing-here', resetFailures: false }))).code).toBe(Code.NOT_FOUND);
  });

  it('suspends and resumes', async () => {
    const s = await deployer.suspend({ namespace: ns, name: 'preview' });
    expect(s.helmRelease?.spec?.suspend).toBe(true);
    // The controller writes nothing for a suspended HelmRelease; its metric says so.
    await waitFor('the suspended status sample', async () =>
      metricValue(await api.controller.metrics(), 'planton_helm_release_reconciliation_status', { namespace: ns, name: 'preview' }) === -3 ? true : undefined);
    const r = await deployer.resume({ namespace: ns, name: 'preview' });
    expect(r.helmRelease?.spec?.suspend).toBe(false);
    expect(r.helmRelease?.spec?.values).toEqual({ message: 'before' });
    await waitForCondition(ns, 'preview', 'Ready', 'True');
  });
});

describe('Watch', () => {
  function collect(client: HelmReleaseServiceClient, req: { namespace: string; name: string; labelSelector: string; resourceVersion: string }) {
    const events: WatchResponse[] = [];
    let ended: { code: number; details: string } | undefined;
    const stream = client.watch(req);
    stream.on('data', (e: WatchResponse) => events.push(e));
    stream.on('error', (e: { code: number; details: string }) => (ended = { code: e.code, details: e.details }));
    stream.on('end', () => (ended ??= { code: Code.OK, details: '' }));
    return { events, ended: () => ended, cancel: () => stream.cancel() };
  }

  it('starts with the current state, then streams changes; resumes from a version across a controller restart without a miss or a duplicate', async () => {
    const w = collect(deployerClient, { namespace: ns, name: 'web', labelSelector: '', resourceVersion: '' });
    await waitFor('the initial ADDED', async () => (w.events.length > 0 ? true : undefined));
    expect(w.events[0]).toMatchObject({ type: WatchEventType.ADDED, helmRelease: { name: 'web' } });
    await kubectl(['label', '--overwrite', '--namespace', ns, 'helmrelease/web', 'step=one']);
    await waitFor('the MODIFIED with the label', async () => (w.events.some((e) => e.helmRelease?.labels['step'] === 'one') ? true : undefined));

    await api.controller.stop();
    await waitFor('the stream to end', async () => w.ended());
    expect(w.ended()?.code).toBe(Code.UNAVAILABLE);
    const last = w.events.at(-1)?.helmRelease?.resourceVersion ?? '';
    // Changed while no controller serves the API.
    await kubectl(['label', '--overwrite', '--namespace', ns, 'helmrelease/web', 'step=two']);

    await api.restart();
    deployerClient.close();
    viewerClient.close();
    connect();

    const again = collect(deployerClient, { namespace: ns, name: 'web', labelSelector: '', resourceVersion: last });
    await waitFor('the change made while down', async () => (again.events.some((e) => e.helmRelease?.labels['step'] === 'two') ? true : undefined));
    await kubectl(['label', '--overwrite', '--namespace', ns, 'helmrelease/web', 'step=three']);
    await waitFor('the change after the restart', async () => (again.events.some((e) => e.helmRelease?.labels['step'] === 'three') ? true : undefined));
    again.cancel();
    const versions = [...w.events, ...again.events].map((e) => BigInt(e.helmRelease?.resourceVersion ?? '0'));
    expect(new Set(versions).size).toBe(versions.length);
    expect([...versions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(versions);
    expect(again.events.every((e) => e.type === WatchEventType.MODIFIED)).toBe(true);
  });

  it('a version too old is OUT_OF_RANGE', async () => {
    const w = collect(deployerClient, { namespace: ns, name: '', labelSelector: '', resourceVersion: '1' });
    await waitFor('the stream to end', async () => w.ended());
    expect(w.ended()?.code).toBe(Code.OUT_OF_RANGE);
  });

  it('across namespaces, streams only what the caller may watch', async () => {
    const w = collect(viewerClient, { namespace: '', name: '', labelSelector: '', resourceVersion: '' });
    await kubectl(['label', '--overwrite', '--namespace', other, 'helmrelease/hidden', 'seen=no']);
    await kubectl(['label', '--overwrite', '--namespace', ns, 'helmrelease/api', 'seen=yes']);
    await waitFor('the visible change', async () => (w.events.some((e) => e.helmRelease?.labels['seen'] === 'yes') ? true : undefined));
    w.cancel();
    expect(w.events.length).toBeGreaterThan(0);
    expect(w.events.filter((e) => e.helmRelease?.namespace !== ns)).toEqual([]);
  });
});

describe('Delete', () => {
  it('honours preconditions and dry runs, then deletes; the controller uninstalls the release', async () => {
    const mismatch = await codeOf(deployer.delete({ namespace: ns, name: 'preview', uid: '00000000-0000-0000-0000-000000000000', resourceVersion: '', dryRun: false }));
    expect(mismatch.code).toBe(Code.ABORTED);
    await deployer.delete({ namespace: ns, name: 'preview', uid: '', resourceVersion: '', dryRun: true });
    expect((await hrs.get(ns, 'preview'))?.metadata.deletionTimestamp).toBeUndefined();

    const uid = (await hrs.get(ns, 'preview'))?.metadata.uid ?? '';
    const res = await deployer.delete({ namespace: ns, name: 'preview', uid, resourceVersion: '', dryRun: false });
    expect(res.helmRelease?.deletionTime).toBeInstanceOf(Date);
    await waitFor('the HelmRelease to be gone', async () => ((await hrs.get(ns, 'preview')) === undefined ? true : undefined), 120_000);
    expect(await helmHistory(ns, 'preview')).toEqual([]);
    expect((await codeOf(deployer.get({ namespace: ns, name: 'preview' }))).code).toBe(Code.NOT_FOUND);
  });
});
