// The generated Go client (the sdk/go module) end to end: this suite starts a real controller
// with the API on the local control plane, makes two ServiceAccounts with their RBAC and real
// tokens, then runs sdk/go's integration test (every RPC, client/client_integration_test.go)
// and the Go example against it. When the Go test asks (it creates PLANTON_TEST_RESTART_FILE),
// the controller is stopped, the HelmRelease changed while it is down, and the controller
// started again at the same address: the Go client's watch must see that change once. Each
// expected Go subtest must have passed: a skipped or missing one fails here.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type ApiFixture, startApiFixture } from '../support/api.js';
import { clusterEnv, exitOf, helmHistory, kubectl, repoRoot, waitFor } from '../support/cluster.js';
import { condition, helmReleases } from '../support/controller.js';

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

const hrs = helmReleases();
let api: ApiFixture;

beforeAll(async () => {
  api = await startApiFixture('go-client');
});

afterAll(async () => {
  await api?.close();
});

describe('the generated Go client', () => {
  it('drives every RPC of HelmReleaseService (sdk/go integration test)', { timeout: 900_000 }, async () => {
    const restartFile = join(api.tls.dir, 'restart-requested');
    const ns = api.namespace;
    let goTestEnded = false;
    const running = exitOf(
      'go',
      ['test', '-tags', 'integration', '-count=1', '-v', '-run', '^TestHelmReleaseService$', './client/'],
      {
        cwd: sdkGo,
        timeoutMs: 840_000,
        env: {
        ...api.env(api.tokens.deployer),
        PLANTON_API_VIEWER_TOKEN: api.tokens.viewer,
        PLANTON_TEST_NAMESPACE: ns,
        PLANTON_TEST_REPO: clusterEnv().PLANTON_HTTP_REPO,
        PLANTON_TEST_RESTART_FILE: restartFile,
        },
      },
    ).finally(() => (goTestEnded = true));
    const asked = await waitFor('the Go test to ask for a controller restart, or to end', async () => (existsSync(restartFile) ? true : goTestEnded ? false : undefined), 600_000, 200);
    if (asked) {
      const address = api.controller.apiAddress;
      await api.controller.stop();
      await kubectl(['label', '--namespace', ns, 'helmrelease/go-web', 'restarted=while-down']);
      expect((await api.restart({ sameAddress: true })).apiAddress).toBe(address);
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
    const ns = api.namespace;
    const bin = resolve(mkdtempSync(join(tmpdir(), 'apply-and-watch-')), 'apply-and-watch');
    onTestFinished(() => rmSync(dirname(bin), { recursive: true, force: true }));
    const build = await exitOf('go', ['build', '-o', bin, './examples/apply-and-watch'], { cwd: sdkGo, timeoutMs: 300_000 });
    expect(build.code, build.stderr).toBe(0);
    const args = ['-namespace', ns, '-name', 'go-example', '-repo', clusterEnv().PLANTON_HTTP_REPO, '-chart', 'plain', '-version', '1.0.0', '-values', '{"message":"from the Go example"}', '-timeout', '4m'];
    const run = await exitOf(bin, args, { cwd: sdkGo, env: api.env(api.tokens.deployer), timeoutMs: 300_000 });
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
    const refused = await exitOf(bin, [...args.slice(0, 3), 'go-refused', ...args.slice(4)], { cwd: sdkGo, env: api.env(api.tokens.viewer), timeoutMs: 60_000 });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(new RegExp(`^apply-and-watch: apply ${ns}/go-refused: .*PermissionDenied.*\\n$`));
    expect(await hrs.get(ns, 'go-refused')).toBeUndefined();
  });
});
