// The generated Go client (the sdk/go module) end to end: this suite starts a real controller
// with the API on the local control plane, makes two ServiceAccounts with their RBAC and real
// tokens, then runs sdk/go's integration test (every RPC, client/client_integration_test.go)
// and the Go example against it. When the Go test asks (it creates PLANTON_TEST_RESTART_FILE),
// the controller is stopped, the HelmRelease changed while it is down, and the controller
// started again at the same address: the Go client's watch must see that change once. Each
// expected Go subtest must have passed: a skipped or missing one fails here.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTls, type ApiController, type ApiTls, grantHelmReleases, serviceAccountToken, startApiController } from '../support/api.js';
import { clusterEnv, helmHistory, kubectl, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';
import { condition, helmReleases, installCrd } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';

const sdkGo = resolve(repoRoot, 'sdk/go');

/** The subtests of TestHelmReleaseService, in the order they run. */
const goSubtests = [
  'ApplyCreatesAndTheControllerInstalls',
  'ApplyOfTheSameSpecChangesNothing',
  'GetReturnsTheReadyRelease',
  'HistoryHasTheInstall',
  'ListPagesAndFiltersByLabel',
  'WatchStartsWithTheCurrentStateOrAfterAVersion',
  'DiffOfTheStoredSpecIsEmpty',
  'DiffOfAValuesChange',
  'DiffOfAVersionChange',
  'DiffOfANewRelease',
  'ApplyOfANewVersionUpgrades',
  'WatchResumesAcrossAControllerRestart',
  'SuspendResumeReconcile',
  'RefusedRequestsWriteNothing',
  'NotFound',
  'AViewerMayReadButNotWrite',
  'NoTokenIsUnauthenticated',
  'DeleteUninstalls',
];

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end, whatever its exit code. */
function runToEnd(file: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<Exit> {
  return new Promise((done) => {
    execFile(file, [...args], { cwd: sdkGo, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      done({ code, stdout, stderr });
    });
  });
}

const hrs = helmReleases();
let ns: string;
let tls: ApiTls;
let runner: RunningRunner;
let controller: ApiController;
let deployerToken: string;
let viewerToken: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  const namespace = await tempNamespace('go-client');
  ns = namespace.name;
  cleanups.push(namespace.cleanup);
  tls = await apiTls();
  cleanups.push(() => tls.cleanup());
  await Promise.all([installCrd(), buildRunner()]);
  runner = await startRunner();
  controller = await startApiController({ runnerSocket: runner.socket, namespace: ns, tls });
  await grantHelmReleases(ns, 'deployer', ['get', 'list', 'watch', 'create', 'patch', 'delete']);
  await grantHelmReleases(ns, 'viewer', ['get', 'list', 'watch']);
  deployerToken = await serviceAccountToken(ns, 'deployer');
  viewerToken = await serviceAccountToken(ns, 'viewer');
});

afterAll(async () => {
  await controller?.stop();
  await runner?.stop();
  for (const c of cleanups.reverse()) await c();
});

function apiEnv(token: string): Record<string, string> {
  return { PLANTON_API_ADDR: controller.apiAddress, PLANTON_API_CA: tls.caFile, PLANTON_API_TOKEN: token };
}

describe('the generated Go client', () => {
  it('drives every RPC of HelmReleaseService (sdk/go integration test)', { timeout: 900_000 }, async () => {
    const restartFile = join(tls.dir, 'restart-requested');
    let goTestEnded = false;
    const running = runToEnd(
      'go',
      ['test', '-tags', 'integration', '-count=1', '-v', '-run', '^TestHelmReleaseService$', './client/'],
      {
        ...apiEnv(deployerToken),
        PLANTON_API_VIEWER_TOKEN: viewerToken,
        PLANTON_TEST_NAMESPACE: ns,
        PLANTON_TEST_REPO: clusterEnv().PLANTON_HTTP_REPO,
        PLANTON_TEST_RESTART_FILE: restartFile,
      },
      840_000,
    ).finally(() => (goTestEnded = true));
    const asked = await waitFor('the Go test to ask for a controller restart, or to end', async () => (existsSync(restartFile) ? true : goTestEnded ? false : undefined), 600_000, 200);
    if (asked) {
      const address = controller.apiAddress;
      await controller.stop();
      await kubectl(['label', '--namespace', ns, 'helmrelease/go-web', 'restarted=while-down']);
      controller = await startApiController({ runnerSocket: runner.socket, namespace: ns, tls, args: ['--api-addr', address] });
      expect(controller.apiAddress).toBe(address);
    }
    const run = await running;
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output, output).not.toMatch(/--- SKIP/);
    const passed = [...run.stdout.matchAll(/--- PASS: TestHelmReleaseService\/(\w+)/g)].map((m) => m[1]);
    expect(passed, output).toEqual(goSubtests);
    expect(run.stdout, output).toMatch(/^--- PASS: TestHelmReleaseService /m);
    expect(run.code, output).toBe(0);

    // What the Go test left in the cluster: go-web uninstalled by its Delete, and nothing
    // installed or created by the Diff of go-new or by the refused Applies.
    expect(await helmHistory(ns, 'go-web')).toEqual([]);
    expect(await helmHistory(ns, 'go-new')).toEqual([]);
    expect(await hrs.get(ns, 'go-new')).toBeUndefined();
    expect(await hrs.get(ns, 'go-bad')).toBeUndefined();
  });

  it('runs examples/apply-and-watch to Ready and prints the history', { timeout: 600_000 }, async () => {
    // Built, not `go run`, which adds its own "exit status" line to stderr.
    const bin = resolve(mkdtempSync(join(tmpdir(), 'apply-and-watch-')), 'apply-and-watch');
    cleanups.push(() => rmSync(dirname(bin), { recursive: true, force: true }));
    const build = await runToEnd('go', ['build', '-o', bin, './examples/apply-and-watch'], {}, 300_000);
    expect(build.code, build.stderr).toBe(0);
    const args = ['-namespace', ns, '-name', 'go-example', '-repo', clusterEnv().PLANTON_HTTP_REPO, '-chart', 'plain', '-version', '1.0.0', '-values', '{"message":"from the Go example"}', '-timeout', '4m'];
    const run = await runToEnd(bin, args, apiEnv(deployerToken), 300_000);
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.code, output).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`helmrelease ${ns}/go-example created (generation 1)`);
    expect(lines[1]).toMatch(new RegExp(`^helmrelease ${ns}/go-example Ready: .* \\(release ${ns}/go-example revision 1, chart plain 1\\.0\\.0\\)$`));
    expect(lines[2]).toMatch(/^REVISION\s+CHART VERSION\s+APP VERSION\s+STATUS\s+DEPLOYED$/);
    expect(lines[3]).toMatch(/^1\s+1\.0\.0\s+1\.0\.0\s+deployed\s+\d{4}-\d\d-\d\dT/);
    expect(lines).toHaveLength(4);

    const hr = await hrs.get(ns, 'go-example');
    expect(condition(hr, 'Ready')?.status).toBe('True');
    expect(hr?.spec['values']).toEqual({ message: 'from the Go example' });
    expect(await helmHistory(ns, 'go-example')).toEqual([{ revision: 1, chartVersion: '1.0.0', status: 'deployed' }]);

    // A token that may not create: one line naming the refusal, exit 1, nothing written.
    const refused = await runToEnd(bin, [...args.slice(0, 3), 'go-refused', ...args.slice(4)], apiEnv(viewerToken), 60_000);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(new RegExp(`^apply-and-watch: apply ${ns}/go-refused: .*PermissionDenied.*\\n$`));
    expect(await hrs.get(ns, 'go-refused')).toBeUndefined();
  });
});
