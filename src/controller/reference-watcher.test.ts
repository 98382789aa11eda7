import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import type { KubeObject, ListPage, ListQuery, ListWatchTransport, WatchEvent, WatchQuery } from '../kube/list-watch.js';
import { silentLogger } from '../log.js';
import { ReferenceWatcher } from './reference-watcher.js';

/** Collections by path; a change goes to the watches open on its path. Sends full objects (data included). */
class FakeCollections implements ListWatchTransport {
  #rv = 10;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly lists: ListQuery[] = [];
  readonly watches: WatchQuery[] = [];
  readonly #open = new Map<string, Set<(e: WatchEvent) => void>>();

  async list(query: ListQuery): Promise<ListPage> {
    this.lists.push(query);
    return { items: [...(this.#objects.get(query.path)?.values() ?? [])].map((o) => structuredClone(o)), resourceVersion: String(this.#rv) };
  }

  watch(query: WatchQuery, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.watches.push(query);
    let set = this.#open.get(query.path);
    if (!set) this.#open.set(query.path, (set = new Set()));
    set.add(onEvent);
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        set.delete(onEvent);
        reject(signal.reason);
      });
    });
  }

  openWatches(path: string): number {
    return this.#open.get(path)?.size ?? 0;
  }

  put(path: string, name: string, data: Record<string, string>): void {
    let objects = this.#objects.get(path);
    if (!objects) this.#objects.set(path, (objects = new Map()));
    const type = objects.has(name) ? 'MODIFIED' : 'ADDED';
    const obj: KubeObject = { metadata: { name, namespace: 'ns', resourceVersion: String(++this.#rv), labels: { l: 'x' } }, data };
    objects.set(name, obj);
    for (const send of this.#open.get(path) ?? []) send({ type, object: structuredClone(obj) });
  }
}

const SECRETS = '/api/v1/namespaces/ns/secrets';

function setup() {
  const clock = new FakeClock(0);
  const transport = new FakeCollections();
  const woken: string[] = [];
  const watcher = new ReferenceWatcher({ kubeConfig: new KubeConfig(), enqueue: (k) => woken.push(k), log: silentLogger, clock, transport });
  return { clock, transport, woken, watcher };
}

describe('ReferenceWatcher', () => {
  it('watches metadata only and caches the name and resourceVersion of referenced objects only', async () => {
    const t = setup();
    t.transport.put(SECRETS, 'values', { 'values.yaml': 'a: 1' });
    t.transport.put(SECRETS, 'sh.helm.release.v1.app.v1', { release: 'x'.repeat(1000) });
    t.watcher.track('ns/app', new Set(['Secret/ns/values']));
    await t.clock.flush();
    expect(t.transport.lists.map((l) => [l.path, l.metadataOnly])).toEqual([[SECRETS, true]]);
    expect(t.transport.watches.map((w) => [w.path, w.metadataOnly])).toEqual([[SECRETS, true]]);
    expect(t.watcher.cached('Secret', 'ns')).toEqual([{ metadata: { name: 'values', namespace: 'ns', resourceVersion: '11' } }]);
    expect(t.watcher.cached('ConfigMap', 'ns')).toEqual([]);
    t.watcher.stop();
  });

  it('wakes the HelmReleases that read a changed object, and no one for an unreferenced change', async () => {
    const t = setup();
    t.transport.put(SECRETS, 'values', { k: 'v1' });
    t.watcher.track('ns/app', new Set(['Secret/ns/values']));
    t.watcher.track('ns/other', new Set(['Secret/ns/values', 'Secret/ns/creds']));
    await t.clock.flush();
    t.woken.length = 0;
    t.transport.put(SECRETS, 'values', { k: 'v2' });
    t.transport.put(SECRETS, 'sh.helm.release.v1.app.v2', { release: 'y' });
    expect(t.woken.sort()).toEqual(['ns/app', 'ns/other']);
    t.transport.put(SECRETS, 'creds', { password: 'p' });
    expect(t.woken.slice(2)).toEqual(['ns/other']);
    expect(t.watcher.cached('Secret', 'ns').map((o) => o.metadata.name).sort()).toEqual(['creds', 'values']);
    expect(t.transport.lists).toHaveLength(1);
    t.watcher.stop();
  });

  it('forgets a dropped reference, and stops the watch when the last reference into it goes', async () => {
    const t = setup();
    t.transport.put(SECRETS, 'values', { k: 'v1' });
    t.transport.put(SECRETS, 'creds', { k: 'v1' });
    t.watcher.track('ns/app', new Set(['Secret/ns/values']));
    t.watcher.track('ns/other', new Set(['Secret/ns/creds']));
    await t.clock.flush();
    expect(t.watcher.cached('Secret', 'ns')).toHaveLength(2);

    t.watcher.track('ns/other', new Set());
    expect(t.watcher.cached('Secret', 'ns').map((o) => o.metadata.name)).toEqual(['values']);
    t.woken.length = 0;
    t.transport.put(SECRETS, 'creds', { k: 'v2' });
    expect(t.woken).toEqual([]);
    expect(t.transport.openWatches(SECRETS)).toBe(1);

    t.watcher.track('ns/app', new Set());
    await t.clock.flush();
    expect(t.transport.openWatches(SECRETS)).toBe(0);
    expect(t.watcher.cached('Secret', 'ns')).toEqual([]);
  });
});
