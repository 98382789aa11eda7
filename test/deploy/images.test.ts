// The two images, built by `make images` (deploy/images/build.sh: buildah on base images made from
// Debian's packages and the pinned toolchains, reused from the cache when built before) and pushed
// to the local registry, run for real with runc (deploy/images/run.sh) as the Deployment runs them:
// pulled from that registry, user 65532, read-only root, no capabilities, the socket volume shared
// between the containers, the Deployment's arguments and environment, host networking, in-cluster
// configuration with the tokens of the controller's two identities. The reconciler becomes ready and
// installs a release from the local HTTP chart repository; afterwards nothing of the run is left.
// Needs root and Debian's buildah, skopeo, mmdebstrap, umoci, runc and jq (the scripts name what
// is missing). The first build takes minutes (figures in README "Images"); a warm one seconds.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exitOf, kubectl, repoRoot } from '../support/cluster.js';

const script = (name: string) => resolve(repoRoot, 'deploy/images', name);

describe('the controller images (make images), run with runc', () => {
  beforeAll(async () => {
    const started = Date.now();
    const built = await exitOf(script('build.sh'), [], { timeoutMs: 20 * 60_000 });
    expect(built.stderr, 'deploy/images/build.sh').toContain('pushed docker://');
    expect(built.code, built.stderr.slice(-3000)).toBe(0);
    for (const line of built.stderr.split('\n').filter((l) => / built |pushed /.test(l))) console.log(line);
    console.log(`make images: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 21 * 60_000);

  it('runs both containers as the Deployment does until a HelmRelease is Ready, and leaves nothing behind', async () => {
    const started = Date.now();
    const run = await exitOf(script('run.sh'), [], { timeoutMs: 5 * 60_000 });
    console.log(`deploy/images/run.sh: ${((Date.now() - started) / 1000).toFixed(1)} s\n${run.stderr}`);
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const out = run.stderr;
    expect(out).toMatch(/helm-runner serves srw------- 65532:65532 \S+\/runner\.sock/);
    for (const c of ['helm-runner', 'reconciler']) {
      expect(out).toMatch(new RegExp(`${c}: pid \\d+, Uid: 65532 65532 65532 65532 Gid: 65532 65532 65532 65532, capabilities 0{16}`));
    }
    expect(out).toContain('reconciler ready (/readyz 200)');
    expect(out).toContain('reconciler: writing to / fails: EROFS');
    expect(out).toMatch(/HelmRelease planton-images-\w+\/web Ready after \d+ s: InstallSucceeded: installed plain@1\.0\.0/);
    expect(out).toContain('ConfigMap web-plain: message=from the images');

    const runId = /^ok (planton-images-\w+)$/m.exec(run.stdout)?.[1];
    expect(runId, run.stdout).toBeDefined();
    const containers = await exitOf('runc', ['list', '--format', 'json'], { timeoutMs: 30_000 });
    expect(containers.code).toBe(0);
    const ids = ((JSON.parse(containers.stdout || 'null') ?? []) as { id: string }[]).map((c) => c.id);
    expect(ids.filter((id) => id.startsWith(runId!))).toEqual([]);
    const rbac = await kubectl(['get', 'clusterrole,clusterrolebinding', '-l', `planton-images=${runId}`, '-o', 'name']);
    expect(rbac.stdout.trim()).toBe('');
    const bundles = /helm-runner serves \S+ \S+ (\S+)\/socket\/runner\.sock/.exec(out)?.[1];
    expect(bundles).toBeDefined();
    expect(existsSync(bundles!)).toBe(false);
  }, 6 * 60_000);
});
