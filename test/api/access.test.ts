// Who may call the public gRPC API, and what a bad request gets: real ServiceAccount tokens
// (valid, expired, for another audience, none), RBAC that allows one ServiceAccount and not
// another for each RPC, plaintext refused, malformed requests refused with INVALID_ARGUMENT and
// nothing written; health, reflection and a serving certificate rotated under a running server.
import { connect, type TLSSocket } from 'node:tls';
import { credentials, loadPackageDefinition, status as Code, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeletionPolicy, type HelmReleaseSpec } from '../../src/gen/planton/helm/v1/helm_release.js';
import { HelmReleaseServiceClient, type WatchResponse } from '../../src/gen/planton/helm/v1/helm_release_service.js';
import { apiClient, type ApiFixture, expiredToken, grpcOutcome, type Rpc, rpc, serviceAccountToken, startApiController, startApiFixture } from '../support/api.js';
import { clusterEnv, kubectl, repoRoot, waitFor } from '../support/cluster.js';
import { helmReleases } from '../support/controller.js';

const hrs = helmReleases();
let api: ApiFixture;
let ns: string;
const clients: HelmReleaseServiceClient[] = [];

function spec(over: Partial<HelmReleaseSpec> = {}): HelmReleaseSpec {
  return {
    repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0', valuesFrom: [], releaseName: '', targetNamespace: '',
    createNamespace: false, dependsOn: [], serviceAccountName: '', suspend: true, deletionPolicy: DeletionPolicy.UNSPECIFIED, ...over,
  };
}

function client(token?: string): Rpc {
  const c = apiClient(api.controller.apiAddress, api.tls.ca, token);
  clients.push(c);
  return rpc(c);
}

const failure = grpcOutcome;

/** Every RPC once, against `name` in `ns`, with the outcome code of each. */
async function everyRpc(c: Rpc, name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const base = { namespace: ns, name };
  out['Get'] = (await failure(c.get(base))).code;
  out['List'] = (await failure(c.list({ namespace: ns, labelSelector: '', pageSize: 0, pageToken: '' }))).code;
  out['History'] = (await failure(c.history({ ...base, limit: 0 }))).code;
  out['Diff'] = (await failure(c.diff(base))).code;
  out['Apply'] = (await failure(c.apply({ ...base, labels: { by: 'api' }, spec: spec(), fieldManager: '', force: false, dryRun: false }))).code;
  out['Reconcile'] = (await failure(c.reconcile({ ...base, resetFailures: false }))).code;
  out['Suspend'] = (await failure(c.suspend(base))).code;
  out['Resume'] = (await failure(c.resume(base))).code;
  out['Delete'] = (await failure(c.delete({ ...base, uid: '', resourceVersion: '', dryRun: true }))).code;
  return out;
}

function watchOutcome(token: string | undefined, namespace: string): Promise<{ code: number; events: number }> {
  const c = apiClient(api.controller.apiAddress, api.tls.ca, token);
  clients.push(c);
  return new Promise((resolve) => {
    let events = 0;
    const stream = c.watch({ namespace, name: '', labelSelector: '', resourceVersion: '' });
    stream.on('data', (_e: WatchResponse) => {
      events++;
      stream.cancel();
    });
    stream.on('error', (e: { code: number }) => resolve({ code: e.code === Code.CANCELLED && events > 0 ? Code.OK : e.code, events }));
  });
}

beforeAll(async () => {
  api = await startApiFixture('api-access', { controllerArgs: ['--api-tls-reload-interval', '1s'] });
  ns = api.namespace;
  await hrs.create(ns, 'target', { repo: clusterEnv().PLANTON_HTTP_REPO, name: 'plain', version: '1.0.0', suspend: true });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await api?.close();
});

describe('authentication', () => {
  it('refuses no token, a malformed one, an expired one and one for another audience, revealing nothing', async () => {
    const before = await hrs.get(ns, 'target');
    const otherAudience = await serviceAccountToken(ns, 'viewer', { audience: 'some-other-service' });
    const uid = JSON.parse((await kubectl(['get', 'serviceaccount', 'viewer', '--namespace', ns, '-o', 'json'])).stdout).metadata.uid as string;
    const cases: [string, string | undefined][] = [
      ['no token', undefined],
      ['not a token', 'not-a-token'],
      ['expired', expiredToken(ns, 'viewer', uid)],
      ['another audience', otherAudience],
    ];
    for (const [what, token] of cases) {
      const codes = await everyRpc(client(token), 'target');
      expect(Object.entries(codes).filter(([, code]) => code !== Code.UNAUTHENTICATED), what).toEqual([]);
      expect((await watchOutcome(token, ns)).code, what).toBe(Code.UNAUTHENTICATED);
    }
    const after = await hrs.get(ns, 'target');
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    const e = await failure(client(undefined).get({ namespace: ns, name: 'target' }));
    expect(e.details).toMatch(/Bearer/);
  });

  it('refuses plaintext', async () => {
    const c = new HelmReleaseServiceClient(api.controller.apiAddress, credentials.createInsecure());
    clients.push(c);
    const e = await failure(rpc(c).get({ namespace: ns, name: 'target' }));
    expect(e.code).toBe(Code.UNAVAILABLE);
  });
});

describe('authorization', () => {
  it('allows each RPC for a ServiceAccount bound to the verbs, and denies the writes to one bound to read only', async () => {
    const reader = client(await serviceAccountToken(ns, 'viewer'));
    const writer = client(await serviceAccountToken(ns, 'deployer'));
    const before = await hrs.get(ns, 'target');
    const denied = await everyRpc(reader, 'target');
    expect(denied).toEqual({
      Get: Code.OK, List: Code.OK, History: Code.OK, Diff: Code.OK,
      Apply: Code.PERMISSION_DENIED, Reconcile: Code.PERMISSION_DENIED, Suspend: Code.PERMISSION_DENIED, Resume: Code.PERMISSION_DENIED, Delete: Code.PERMISSION_DENIED,
    });
    expect((await hrs.get(ns, 'target'))?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    const allowed = await everyRpc(writer, 'target');
    expect(Object.entries(allowed).filter(([, code]) => code !== Code.OK)).toEqual([]);
    expect((await hrs.get(ns, 'target'))?.metadata.labels).toEqual({ by: 'api' });
  });

  it('denies everything, Watch included, to a ServiceAccount with no binding here', async () => {
    const nobody = await serviceAccountToken(ns, 'nobody');
    const codes = await everyRpc(client(nobody), 'target');
    expect(Object.entries(codes).filter(([, code]) => code !== Code.PERMISSION_DENIED)).toEqual([]);
    expect((await watchOutcome(nobody, ns)).code).toBe(Code.PERMISSION_DENIED);
    const e = await failure(client(nobody).get({ namespace: ns, name: 'target' }));
    expect(e.details).toContain(`system:serviceaccount:${ns}:nobody may not get helmreleases`);
  });
});

describe('malformed requests', () => {
  it('are INVALID_ARGUMENT naming the field, and write nothing', async () => {
    const writer = client(await serviceAccountToken(ns, 'deployer'));
    const apply = (name: string, s: HelmReleaseSpec | undefined, namespace = ns) =>
      failure(writer.apply({ namespace, name, labels: {}, ...(s ? { spec: s } : {}), fieldManager: '', force: false, dryRun: false }));
    const cases: [string, Promise<{ code: number; details: string }>, RegExp][] = [
      ['missing name', apply('', spec()), /^name: required/],
      ['missing namespace', apply('bad', spec(), ''), /^namespace: required/],
      ['bad name', apply('Not_A_Name', spec()), /^name: must be/],
      ['missing spec', apply('bad', undefined), /^spec: required/],
      ['range version', apply('bad', spec({ version: '^1.0.0' })), /^spec\.version: must be an exact SemVer/],
      ['ftp repo', apply('bad', spec({ repo: 'ftp://charts.example.com' })), /^spec\.repo: must be an https:\/\/, oci:\/\/ or http:\/\/ URL/],
      ['oversized spec', apply('bad', spec({ values: { blob: 'x'.repeat(600 * 1024) } })), /^spec: \d+ bytes as JSON, at most 524288/],
      ['unknown enum value', apply('bad', spec({ deletionPolicy: 99 as DeletionPolicy })), /^spec\.deletionPolicy: unknown value 99/],
      ['unknown nested enum value', apply('bad', spec({ valuesFrom: [{ kind: 7 as 1, name: 's', key: '', targetPath: '', optional: false }] })), /^spec\.valuesFrom\[0\]\.kind: unknown value 7/],
      ['page size', failure(writer.list({ namespace: ns, labelSelector: '', pageSize: 5000, pageToken: '' })), /^page_size:/],
      ['label selector', failure(writer.list({ namespace: ns, labelSelector: 'a in (', pageSize: 0, pageToken: '' })), /^label_selector: list helmreleases: unable to parse requirement/],
      ['page token', failure(writer.list({ namespace: ns, labelSelector: '', pageSize: 0, pageToken: 'garbage' })), /^page_token: /],
      ['field manager', failure(writer.apply({ namespace: ns, name: 'bad', labels: {}, spec: spec(), fieldManager: 'x'.repeat(200), force: false, dryRun: false })), /^field_manager:/],
      ['bad label', failure(writer.apply({ namespace: ns, name: 'bad', labels: { 'no spaces allowed': 'x' }, spec: spec(), fieldManager: '', force: false, dryRun: false })), /^labels:/],
      ['negative history limit', failure(writer.history({ namespace: ns, name: 'target', limit: -1 })), /^limit:/],
    ];
    for (const [what, p, message] of cases) {
      const e = await p;
      expect(e.code, what).toBe(Code.INVALID_ARGUMENT);
      expect(e.details, what).toMatch(message);
    }
    expect(await hrs.get(ns, 'bad')).toBeUndefined();
    expect(await hrs.get(ns, 'not-a-name')).toBeUndefined();
  });

  it('a request larger than the message limit is refused before it is read', async () => {
    const writer = client(await serviceAccountToken(ns, 'deployer'));
    const e = await failure(writer.apply({ namespace: ns, name: 'huge', labels: {}, spec: spec({ values: { blob: 'x'.repeat(5 * 1024 * 1024) } }), fieldManager: '', force: false, dryRun: false }));
    expect(e.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(await hrs.get(ns, 'huge')).toBeUndefined();
  });
});

describe('every replica serves', () => {
  it('a standby replica, waiting for the Lease another holds, answers calls', async () => {
    const lease = ['--leader-elect=true', '--leader-election-namespace', ns, '--leader-election-id', 'api-standby-test'];
    const leader = await startApiController({ runnerSocket: api.runner.socket, namespace: ns, tls: api.tls, args: [...lease, '--identity', 'leader'] });
    try {
      await waitFor('the first replica to lead', async () => (/"msg":"leading"/.test(leader.logs()) ? true : undefined));
      const standby = await startApiController({ runnerSocket: api.runner.socket, namespace: ns, tls: api.tls, args: [...lease, '--identity', 'standby'] });
      try {
        expect(standby.logs()).toMatch(/"msg":"waiting for the leader lease"/);
        expect(standby.logs()).not.toMatch(/"msg":"leading"/);
        const c = apiClient(standby.apiAddress, api.tls.ca, await serviceAccountToken(ns, 'viewer'));
        clients.push(c);
        expect((await rpc(c).get({ namespace: ns, name: 'target' })).helmRelease?.name).toBe('target');
      } finally {
        await standby.stop();
      }
    } finally {
      await leader.stop();
    }
  });
});

describe('many watches', () => {
  it('more open Watch streams than the controller keeps connections for requests starve nothing', async () => {
    const c = apiClient(api.controller.apiAddress, api.tls.ca, await serviceAccountToken(ns, 'viewer'));
    clients.push(c);
    const streams = Array.from({ length: 80 }, () => {
      const seen: WatchResponse[] = [];
      const stream = c.watch({ namespace: ns, name: 'target', labelSelector: '', resourceVersion: '' });
      stream.on('data', (e: WatchResponse) => seen.push(e));
      stream.on('error', () => undefined);
      return { seen, stream };
    });
    try {
      await waitFor('every stream to deliver its ADDED', async () => (streams.every((s) => s.seen.length > 0) ? true : undefined), 60_000);
      // A call, and a write the controller's own requests make, while all of them hold a watch.
      expect((await rpc(c).get({ namespace: ns, name: 'target' })).helmRelease?.name).toBe('target');
      await kubectl(['label', '--overwrite', '--namespace', ns, 'helmrelease/target', 'watched=by-80']);
      await waitFor('every stream to deliver the change', async () =>
        streams.every((s) => s.seen.some((e) => e.helmRelease?.labels['watched'] === 'by-80')) ? true : undefined, 60_000);
    } finally {
      for (const s of streams) s.stream.cancel();
    }
  });
});

describe('health, reflection, certificate rotation', () => {
  it('answers the gRPC health checking protocol and server reflection', async () => {
    const health = loadPackageDefinition(loadSync('health/v1/health.proto', { enums: String, includeDirs: [`${repoRoot}/node_modules/grpc-health-check/proto`] })) as unknown as {
      grpc: { health: { v1: { Health: ServiceClientConstructor } } };
    };
    const h = new health.grpc.health.v1.Health(api.controller.apiAddress, credentials.createSsl(api.tls.ca));
    const check = (service: string) =>
      new Promise<string>((ok, fail) => h['check']?.({ service }, (err: Error | null, res: { status: string }) => (err ? fail(err) : ok(res.status))));
    expect(await check('')).toBe('SERVING');
    expect(await check('planton.helm.v1.HelmReleaseService')).toBe('SERVING');
    h.close();

    const reflection = loadPackageDefinition(loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [`${repoRoot}/node_modules/@grpc/reflection/build/proto`] })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } };
    };
    const r = new reflection.grpc.reflection.v1.ServerReflection(api.controller.apiAddress, credentials.createSsl(api.tls.ca));
    const services = await new Promise<string[]>((ok, fail) => {
      const stream = r['serverReflectionInfo']?.() as NodeJS.ReadWriteStream & { end(): void; write(v: unknown): void };
      stream.on('data', (res: { listServicesResponse?: { service: { name: string }[] } }) => {
        ok((res.listServicesResponse?.service ?? []).map((s) => s.name));
        stream.end();
      });
      stream.on('error', fail);
      stream.write({ listServices: '' });
    });
    r.close();
    expect(services).toContain('planton.helm.v1.HelmReleaseService');
  });

  it('serves a rotated certificate without a restart', async () => {
    const serial = (): Promise<string> =>
      new Promise((ok, fail) => {
        const [host, port] = [api.controller.apiAddress.split(':')[0], Number(api.controller.apiAddress.split(':')[1])];
        const socket: TLSSocket = connect({ host, port, ca: api.tls.ca, ALPNProtocols: ['h2'] }, () => {
          ok(socket.getPeerX509Certificate()?.serialNumber ?? '');
          socket.end();
        });
        socket.on('error', fail);
      });
    const first = await serial();
    await api.tls.rotate();
    const next = await waitFor('the new certificate to be served', async () => {
      const s = await serial();
      return s !== first ? s : undefined;
    }, 30_000);
    expect(next).not.toBe(first);
    const reader = client(await serviceAccountToken(ns, 'viewer'));
    expect((await reader.get({ namespace: ns, name: 'target' })).helmRelease?.name).toBe('target');
    expect(api.controller.process.exitCode).toBeNull();
  });
});
