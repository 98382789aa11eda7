// The TypeScript client as another project gets it: sdk/ts packed with `npm pack`, the tarball
// installed into a new project outside this repository (dependencies from the npm cache), its
// example type-checked there against the shipped .d.ts and run with Node against a real
// controller serving the API on the local control plane, to Ready.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, startApiFixture } from '../support/api.js';
import { clusterEnv, exitOf, helmHistory, repoRoot } from '../support/cluster.js';
import { condition, helmReleases } from '../support/controller.js';

const hrs = helmReleases();
let api: ApiFixture;
let consumer: string;

beforeAll(async () => {
  api = await startApiFixture('ts-client', { deployerVerbs: ['get', 'watch', 'create', 'patch'] });
  consumer = mkdtempSync(join(tmpdir(), 'helm-client-consumer-'));
});

afterAll(async () => {
  await api?.close();
  if (consumer) rmSync(consumer, { recursive: true, force: true });
});

describe('the npm package @project-planton/helm-client', () => {
  it('packs, installs into a project outside the repository, and its example applies a HelmRelease to Ready', { timeout: 600_000 }, async () => {
    const pack = await exitOf('npm', ['pack', '--pack-destination', consumer], { cwd: resolve(repoRoot, 'sdk/ts'), timeoutMs: 300_000 });
    expect(pack.code, `${pack.stdout}\n${pack.stderr}`).toBe(0);
    const tarball = readdirSync(consumer).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBe('project-planton-helm-client-0.1.0.tgz');

    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const install = await exitOf('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `./${tarball}`], { cwd: consumer, timeoutMs: 300_000 });
    expect(install.code, `${install.stdout}\n${install.stderr}`).toBe(0);

    // The example as shipped in the package, type-checked against the package's .d.ts.
    const example = join(consumer, 'apply-and-watch.ts');
    copyFileSync(join(consumer, 'node_modules/@project-planton/helm-client/examples/apply-and-watch.ts'), example);
    const typecheck = await exitOf(
      process.execPath,
      [resolve(repoRoot, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--allowImportingTsExtensions', '--erasableSyntaxOnly', '--skipLibCheck', 'apply-and-watch.ts'],
      { cwd: consumer, timeoutMs: 120_000 },
    );
    expect(typecheck.code, `${typecheck.stdout}\n${typecheck.stderr}`).toBe(0);

    const ns = api.namespace;
    const args = ['apply-and-watch.ts', '--namespace', ns, '--name', 'ts-example', '--repo', clusterEnv().PLANTON_HTTP_REPO, '--chart', 'plain', '--version', '1.0.0', '--values', '{"message":"from the TS example"}', '--timeout', '240'];
    const env = api.env(api.tokens.deployer);
    const run = await exitOf(process.execPath, args, { cwd: consumer, env, timeoutMs: 300_000 });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`helmrelease ${ns}/ts-example created (generation 1)`);
    expect(lines[1]).toMatch(new RegExp(`^helmrelease ${ns}/ts-example Ready: .* \\(release ${ns}/ts-example revision 1, chart plain 1\\.0\\.0\\)$`));
    expect(lines[2]).toMatch(/^REVISION\s+CHART VERSION\s+APP VERSION\s+STATUS\s+DEPLOYED$/);
    expect(lines[3]).toMatch(/^1\s+1\.0\.0\s+1\.0\.0\s+deployed\s+\d{4}-\d\d-\d\dT/);
    expect(lines).toHaveLength(4);

    const hr = await hrs.get(ns, 'ts-example');
    expect(condition(hr, 'Ready')?.status).toBe('True');
    expect(hr?.spec['values']).toEqual({ message: 'from the TS example' });
    expect(await helmHistory(ns, 'ts-example')).toEqual([{ revision: 1, chartVersion: '1.0.0', status: 'deployed' }]);

    // The same run, unchanged, configures the HelmRelease again: nothing to install.
    const again = await exitOf(process.execPath, args, { cwd: consumer, env, timeoutMs: 300_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('\n')[0]).toBe(`helmrelease ${ns}/ts-example configured (generation 1)`);
    expect(await helmHistory(ns, 'ts-example')).toHaveLength(1);

    // A token that may not create: one line naming the refusal, exit 1, nothing written.
    const refusedArgs = args.map((a) => (a === 'ts-example' ? 'ts-refused' : a));
    const refused = await exitOf(process.execPath, refusedArgs, { cwd: consumer, env: api.env(api.tokens.viewer), timeoutMs: 60_000 });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^apply-and-watch: 7 PERMISSION_DENIED: .*\n$/);
    expect(await hrs.get(ns, 'ts-refused')).toBeUndefined();
  });
});
