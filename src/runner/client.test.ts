import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Metadata, Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetReleaseStateResponse, HelmRunnerServiceService, InstallResponse } from '../gen/planton/helmrunner/v1/runner.js';
import { RECONCILE_ID_METADATA, RunnerClient } from './client.js';

// A gRPC server on a unix socket standing in for helm-runner: it answers and records the
// metadata each call arrived with, so the test sees what the real runner receives.
const received: { method: string; reconcileId: string[] }[] = [];
const dir = mkdtempSync(join(tmpdir(), 'runner-client-'));
const socket = join(dir, 'runner.sock');
let server: Server;
let client: RunnerClient;

function recording<Res>(method: string, answer: Res) {
  return (call: ServerUnaryCall<unknown, Res>, cb: sendUnaryData<Res>) => {
    const md: Metadata = call.metadata;
    received.push({ method, reconcileId: md.get(RECONCILE_ID_METADATA).map(String) });
    cb(null, answer);
  };
}

beforeAll(async () => {
  server = new Server();
  const impl: UntypedServiceImplementation = {
    getReleaseState: recording('GetReleaseState', GetReleaseStateResponse.fromPartial({ state: { exists: false } })),
    install: recording('Install', InstallResponse.fromPartial({ outcome: { succeeded: true } })),
  };
  server.addService(HelmRunnerServiceService, impl);
  await new Promise<void>((ok, fail) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (e) => (e ? fail(e) : ok())));
  client = new RunnerClient({ address: `unix://${socket}` });
});

afterAll(() => {
  client.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('RunnerClient', () => {
  it('sends the reconcile ID as x-planton-reconcile-id on every call that has one, and nothing otherwise', async () => {
    received.length = 0;
    await client.getReleaseState({ release: { name: 'web', namespace: 'apps' } }, { deadlineMs: 5_000, reconcileId: '0123456789abcdef' });
    await client.install({ release: { name: 'web', namespace: 'apps' } }, { deadlineMs: 5_000, reconcileId: '0123456789abcdef' });
    await client.getReleaseState({ release: { name: 'web', namespace: 'apps' } }, { deadlineMs: 5_000 });
    expect(received).toEqual([
      { method: 'GetReleaseState', reconcileId: ['0123456789abcdef'] },
      { method: 'Install', reconcileId: ['0123456789abcdef'] },
      { method: 'GetReleaseState', reconcileId: [] },
    ]);
  });
});
