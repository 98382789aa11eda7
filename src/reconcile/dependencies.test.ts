import { describe, expect, it } from 'vitest';
import type { HelmReleaseObject } from '../api/helm-release.js';
import { FakeClock } from '../clock.js';
import { KubeRestError } from '../kube/rest.js';
import { DependencyReadiness, type WatchedScope } from './dependencies.js';

function helmRelease(namespace: string, name: string, ready: 'True' | 'False' | 'stale'): HelmReleaseObject {
  return {
    apiVersion: 'helm.project-planton.org/v1',
    kind: 'HelmRelease',
    metadata: { namespace, name, uid: `${namespace}-${name}`, generation: 2, resourceVersion: '1' },
    spec: {},
    status: {
      observedGeneration: ready === 'stale' ? 1 : 2,
      conditions: [{ type: 'Ready', status: ready === 'False' ? 'False' : 'True', reason: 'X', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    },
  } as unknown as HelmReleaseObject;
}

/** A cluster of HelmReleases (or read failures) by `namespace/name`, counting reads. */
function setup(scope: WatchedScope, opts: { cached?: HelmReleaseObject[]; ttlMs?: number; maxEntries?: number } = {}) {
  const clock = new FakeClock(0);
  const cluster = new Map<string, HelmReleaseObject | Error>();
  const reads: string[] = [];
  const cache = new Map((opts.cached ?? []).map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
  const deps = new DependencyReadiness({
    cache: { get: (ns, name) => cache.get(`${ns}/${name}`) },
    read: async (ns, name) => {
      reads.push(`${ns}/${name}`);
      const got = cluster.get(`${ns}/${name}`);
      if (got instanceof Error) throw got;
      return got;
    },
    scope,
    clock,
    ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
    ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
  });
  return { clock, cluster, reads, deps };
}

const forbidden = new KubeRestError(403, 'Forbidden', 'GET /apis/...: 403 helmreleases "db" is forbidden');

describe('DependencyReadiness', () => {
  it.each([
    ['Ready for its generation', 'True', []],
    ['Ready=False', 'False', ['a/db']],
    ['Ready=True for an older generation', 'stale', ['a/db']],
  ] as const)('a dependency in the informer cache that is %s', async (_name, ready, expected) => {
    const t = setup({ namespace: 'a', labelSelector: '' }, { cached: [helmRelease('a', 'db', ready)] });
    expect(await t.deps.notReady('a', [{ name: 'db' }])).toEqual(expected);
    expect(t.reads).toEqual([]);
  });

  it.each([
    ['the one namespace watched', { namespace: 'a', labelSelector: '' }],
    ['every namespace watched', { namespace: '', labelSelector: '' }],
  ])('a dependency missing from the cache of %s is not found, without a read', async (_name, scope) => {
    const t = setup(scope);
    expect(await t.deps.notReady('a', [{ name: 'db' }])).toEqual(['a/db (not found)']);
    expect(t.reads).toEqual([]);
  });

  it.each([
    ['in another namespace than the one watched', { namespace: 'a', labelSelector: '' }, 'b'],
    ['outside the label-selector shard, same namespace', { namespace: '', labelSelector: 'shard=1' }, 'a'],
    ['outside the label-selector shard, another namespace', { namespace: 'a', labelSelector: 'shard=1' }, 'b'],
  ])('a dependency %s is read from the API server', async (_name, scope, depNs) => {
    const t = setup(scope);
    t.cluster.set(`${depNs}/db`, helmRelease(depNs, 'db', 'True'));
    expect(await t.deps.notReady('a', [{ name: 'db', namespace: depNs }])).toEqual([]);
    expect(t.reads).toEqual([`${depNs}/db`]);
  });

  it.each([
    ['not Ready', helmRelease('b', 'db', 'False'), 'b/db'],
    ['Ready for an older generation', helmRelease('b', 'db', 'stale'), 'b/db'],
    ['absent', undefined, 'b/db (not found)'],
    ['forbidden to this controller', forbidden, 'b/db (cannot be read: this controller is not allowed to get HelmReleases in namespace b)'],
    ['unreachable', new Error('connect ECONNREFUSED 127.0.0.1:6443'), 'b/db (cannot be read: connect ECONNREFUSED 127.0.0.1:6443)'],
  ])('an out-of-scope dependency that is %s is reported as such', async (_name, inCluster, expected) => {
    const t = setup({ namespace: 'a', labelSelector: '' });
    if (inCluster !== undefined) t.cluster.set('b/db', inCluster);
    expect(await t.deps.notReady('a', [{ name: 'db', namespace: 'b' }])).toEqual([expected]);
  });

  it('lists every unready dependency in spec order, in scope and out of it', async () => {
    const t = setup({ namespace: 'a', labelSelector: '' }, { cached: [helmRelease('a', 'cache', 'True'), helmRelease('a', 'slow', 'False')] });
    t.cluster.set('b/ok', helmRelease('b', 'ok', 'True'));
    t.cluster.set('c/locked', forbidden);
    const got = await t.deps.notReady('a', [
      { name: 'slow' },
      { name: 'ok', namespace: 'b' },
      { name: 'locked', namespace: 'c' },
      { name: 'cache' },
      { name: 'gone' },
    ]);
    expect(got).toEqual(['a/slow', 'c/locked (cannot be read: this controller is not allowed to get HelmReleases in namespace c)', 'a/gone (not found)']);
  });

  it('reads an out-of-scope dependency once per TTL, however many dependents ask, at once or one after another', async () => {
    const t = setup({ namespace: 'a', labelSelector: '' }, { ttlMs: 5_000 });
    t.cluster.set('b/db', helmRelease('b', 'db', 'False'));
    const dep = [{ name: 'db', namespace: 'b' }];
    const together = await Promise.all(Array.from({ length: 100 }, () => t.deps.notReady('a', dep)));
    expect(new Set(together.map((r) => r.join()))).toEqual(new Set(['b/db']));
    for (let i = 0; i < 100; i++) await t.deps.notReady('a', dep);
    expect(t.reads).toEqual(['b/db']);

    // Its change is seen once the TTL has passed.
    t.cluster.set('b/db', helmRelease('b', 'db', 'True'));
    await t.clock.advance(4_999);
    expect(await t.deps.notReady('a', dep)).toEqual(['b/db']);
    await t.clock.advance(1);
    expect(await t.deps.notReady('a', dep)).toEqual([]);
    expect(t.reads).toEqual(['b/db', 'b/db']);
  });

  it('remembers failed reads for the TTL too, so a forbidden namespace is not asked every reconcile', async () => {
    const t = setup({ namespace: 'a', labelSelector: '' }, { ttlMs: 5_000 });
    t.cluster.set('b/db', forbidden);
    for (let i = 0; i < 10; i++) await t.deps.notReady('a', [{ name: 'db', namespace: 'b' }]);
    expect(t.reads).toEqual(['b/db']);
  });

  it('remembers at most maxEntries objects, dropping the oldest read first', async () => {
    const t = setup({ namespace: 'a', labelSelector: '' }, { ttlMs: 60_000, maxEntries: 2 });
    for (const n of ['x', 'y', 'z']) t.cluster.set(`b/${n}`, helmRelease('b', n, 'True'));
    for (const n of ['x', 'y', 'z']) await t.deps.notReady('a', [{ name: n, namespace: 'b' }]);
    await t.deps.notReady('a', [{ name: 'z', namespace: 'b' }]);
    await t.deps.notReady('a', [{ name: 'y', namespace: 'b' }]);
    expect(t.reads).toEqual(['b/x', 'b/y', 'b/z']);
    await t.deps.notReady('a', [{ name: 'x', namespace: 'b' }]);
    expect(t.reads).toEqual(['b/x', 'b/y', 'b/z', 'b/x']);
  });
});
