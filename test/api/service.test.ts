// The public gRPC API end to end, from the generated TypeScript client: every RPC against a
// real controller over real TLS with real ServiceAccount tokens, authorized by real RBAC, and
// what each call leaves in the cluster (the HelmRelease, the Helm release, the objects).
import { credentials, status as Code } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApplyRequest,
  ChangeType,
  type HelmReleaseServiceClient,
  type WatchResponse,
  WatchEventType,
} from '../../src/gen/planton/helm/v1/helm_release_service.js';
import { DeletionPolicy, type HelmReleaseSpec } from '../../src/gen/planton/helm/v1/helm_release.js';
import { apiClient, apiTls, type ApiController, type ApiTls, grantHelmReleases, type Rpc, rpc, serviceAccountToken, startApiController } from '../support/api.js';
import { clusterEnv, helmHistory, kubectl, tempNamespace, waitFor } from '../support/cluster.js';
import { helmReleases, installCrd, waitForCondition } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';

const hrs = helmReleases();
let ns: string;
let other: string;
let tls: ApiTls;
let runner: RunningRunner;
let controller: ApiController;
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

async function codeOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; details?: string };
    return { code: e.code ?? -1, details: e.details ?? '' };
  }
  return { code: Code.OK, details: '' };
}

beforeAll(async () => {
  const a = await tempNamespace('api');
  const b = await tempNamespace('api-other');
  ns = a.name;
  other = b.name;
  cleanups.push(a.cleanup, b.cleanup);
  tls = await apiTls();
  cleanups.push(() => tls.cleanup());
  await Promise.all([installCrd(), buildRunner()]);
  runner = await startRunner();
  controller = await startApiController({ runnerSocket: runner.socket, namespace: ns, tls });
  await grantHelmReleases(ns, 'deployer', ['get', 'list', 'watch', 'create', 'patch', 'delete']);
  await grantHelmReleases(ns, 'viewer', ['get', 'list', 'watch']);
  deployerClient = apiClient(controller.apiAddress, tls.ca, await serviceAccountToken(ns, 'deployer'));
  viewerClient = apiClient(controller.apiAddress, tls.ca, await serviceAccountToken(ns, 'viewer'));
  deployer = rpc(deployerClient);
  viewer = rpc(viewerClient);
});

afterAll(async () => {
  deployerClient?.close();
  viewerClient?.close();
  await controller?.stop();
  await runner?.stop();
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
