import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import type { KubeObject, ListPage, ListQuery, ListWatchTransport, WatchEvent, WatchQuery } from '../kube/list-watch.js';
import { KubeRestError } from '../kube/rest.js';
import { Informer, InformerStoppedError, type InformerEvent } from './informer.js';

interface OpenWatch {
  readonly query: WatchQuery;
  readonly onEvent: (e: WatchEvent) => void;
  readonly end: (err?: unknown) => void;
}

/**
 * An in-memory API server for one collection: a store with a resourceVersion counter and an
 * event history. A watch replays history after its resourceVersion, or fails with 410 when that
 * resourceVersion was compacted away, as the real server does.
 */
class FakeApiServer implements ListWatchTransport {
  #rv = 100;
  #compactedBefore = 0;
  readonly #objects = new Map<string, KubeObject>();
  readonly #history: { rv: number; event: WatchEvent }[] = [];
  readonly lists: ListQuery[] = [];
  readonly watches: WatchQuery[] = [];
  /** Failures for the next list calls, in order. */
  readonly listFailures: Error[] = [];
  /** Failures for the next watch calls, in order (before the stream opens). */
  readonly watchFailures: Error[] = [];
  /** How 410 is reported for a compacted resourceVersion. */
  goneAs: 'status' | 'event' = 'event';
  open: OpenWatch | undefined;

  get resourceVersion(): string {
    return String(this.#rv);
  }

  async list(query: ListQuery, signal: AbortSignal): Promise<ListPage> {
    this.lists.push(query);
    signal.throwIfAborted();
    const failure = this.listFailures.shift();
    if (failure) throw failure;
    const keys = [...this.#objects.keys()].sort();
    const start = query.continue === undefined ? 0 : Number(query.continue);
    const slice = keys.slice(start, start + query.limit);
    const more = start + query.limit < keys.length;
    return {
      items: slice.map((k) => structuredClone(this.#objects.get(k) as KubeObject)),
      resourceVersion: this.resourceVersion,
      ...(more ? { continue: String(start + query.limit) } : {}),
    };
  }

  watch(query: WatchQuery, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.watches.push(query);
    const failure = this.watchFailures.shift();
    if (failure) return Promise.reject(failure);
    const from = Number(query.resourceVersion);
    if (from < this.#compactedBefore) {
      if (this.goneAs === 'status') return Promise.reject(new KubeRestError(410, 'Expired', 'too old resource version'));
      return new Promise((_resolve, reject) => {
        // The informer aborts after an ERROR event; the transport then rejects with the reason.
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        onEvent({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } });
      });
    }
    return new Promise<void>((resolve, reject) => {
      const end = (err?: unknown) => {
        if (this.open?.onEvent === onEvent) this.open = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      signal.addEventListener('abort', () => end(signal.reason), { once: true });
      this.open = { query, onEvent, end };
      for (const h of this.#history) if (h.rv > from) onEvent(structuredClone(h.event));
    });
  }

  put(name: string, data: Record<string, string> = {}): void {
    const existed = this.#objects.has(name);
    const obj: KubeObject = { metadata: { name, namespace: 'ns', resourceVersion: String(++this.#rv) }, data };
    this.#objects.set(name, obj);
    this.#record({ type: existed ? 'MODIFIED' : 'ADDED', object: obj });
  }

  remove(name: string): void {
    const obj = this.#objects.get(name);
    if (obj === undefined) return;
    this.#objects.delete(name);
    const gone = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } };
    this.#record({ type: 'DELETED', object: gone });
  }

  /** Forgets history up to now: watches from an older resourceVersion get 410. */
  compact(): void {
    this.#compactedBefore = this.#rv;
    this.#history.length = 0;
  }

  /** Sends an event as is on the open watch (no history). */
  send(event: WatchEvent): void {
    this.open?.onEvent(structuredClone(event));
  }

  bookmark(): void {
    this.#rv++;
    this.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: this.resourceVersion } } });
  }

  #record(event: WatchEvent): void {
    const rv = Number(event.object.metadata?.resourceVersion);
    this.#history.push({ rv, event: structuredClone(event) });
    this.open?.onEvent(structuredClone(event));
  }
}

function setup(
  opts: { pageSize?: number; transform?: (o: KubeObject) => KubeObject; keep?: (o: KubeObject) => boolean; metadataOnly?: boolean } = {},
) {
  const clock = new FakeClock(0);
  const server = new FakeApiServer();
  const errors: unknown[] = [];
  const informer = new Informer<KubeObject>({
    kubeConfig: new KubeConfig(),
    path: '/api/v1/namespaces/ns/configmaps',
    labelSelector: 'app=web',
    transport: server,
    clock,
    onError: (e) => errors.push(e),
    ...opts,
  });
  const events: string[] = [];
  informer.on((e: InformerEvent<KubeObject>) => {
    const rv = e.object.metadata?.resourceVersion ?? '';
    events.push(`${e.type} ${e.object.metadata?.name ?? '?'}@${rv}`);
  });
  return { clock, server, informer, events, errors };
}

describe('Informer', () => {
  it('lists every page, delivers one add per object, resolves start, then watches from the list resourceVersion', async () => {
    const t = setup({ pageSize: 2 });
    for (const n of ['a', 'b', 'c', 'd', 'e']) t.server.put(n);
    await t.informer.start();
    expect(t.informer.hasSynced).toBe(true);
    expect(t.events).toEqual(['add a@101', 'add b@102', 'add c@103', 'add d@104', 'add e@105']);
    expect(t.server.lists.map((l) => [l.continue, l.limit, l.labelSelector])).toEqual([
      [undefined, 2, 'app=web'],
      ['2', 2, 'app=web'],
      ['4', 2, 'app=web'],
    ]);
    await t.clock.flush();
    expect(t.server.watches[0]).toMatchObject({ resourceVersion: '105', labelSelector: 'app=web' });
    expect(t.informer.get('ns', 'c')?.metadata?.name).toBe('c');
    expect(t.informer.get('other', 'c')).toBeUndefined();
    expect(t.informer.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    t.informer.stop();
  });

  it('delivers watch adds, updates and deletes; an update only when the resourceVersion changed', async () => {
    const t = setup();
    t.server.put('a');
    await t.informer.start();
    await t.clock.flush();
    t.server.put('b');
    t.server.put('a', { k: 'v2' });
    t.server.send({ type: 'MODIFIED', object: { metadata: { name: 'a', namespace: 'ns', resourceVersion: '103' }, data: { k: 'v2' } } });
    t.server.remove('b');
    expect(t.events).toEqual(['add a@101', 'add b@102', 'update a@103', 'delete b@104']);
    expect(t.informer.get('ns', 'a')?.['data']).toEqual({ k: 'v2' });
    expect(t.informer.get('ns', 'b')).toBeUndefined();
    expect(t.informer.resourceVersion).toBe('104');
    t.informer.stop();
  });

  it('passes the old object with an update', async () => {
    const t = setup();
    t.server.put('a', { k: 'v1' });
    const seen: InformerEvent<KubeObject>[] = [];
    t.informer.on((e) => seen.push(e));
    await t.informer.start();
    await t.clock.flush();
    t.server.put('a', { k: 'v2' });
    expect(seen.at(-1)).toMatchObject({ type: 'update', object: { data: { k: 'v2' } }, old: { data: { k: 'v1' } } });
    t.informer.stop();
  });

  it('moves the resourceVersion on bookmarks without delivering events, and re-watches from it when the watch ends', async () => {
    const t = setup();
    t.server.put('a');
    await t.informer.start();
    await t.clock.flush();
    t.server.bookmark();
    expect(t.events).toEqual(['add a@101']);
    expect(t.informer.resourceVersion).toBe('102');

    t.server.open?.end();
    t.server.put('b');
    await t.clock.flush();
    expect(t.server.watches.map((w) => w.resourceVersion)).toEqual(['101', '102']);
    expect(t.events).toEqual(['add a@101', 'add b@103']);
    expect(t.server.lists).toHaveLength(1);
    t.informer.stop();
  });

  it.each(['event', 'status'] as const)(
    'relists on 410 Gone (as a watch %s) and delivers the difference with the cache',
    async (goneAs) => {
      const t = setup();
      t.server.goneAs = goneAs;
      for (const n of ['keep', 'change', 'vanish']) t.server.put(n);
      await t.informer.start();
      await t.clock.flush();

      // The watch drops; while it is down the history it would resume from is compacted away.
      t.server.open?.end(new Error('connection reset'));
      t.server.put('change', { k: 'v2' });
      t.server.remove('vanish');
      t.server.put('new');
      t.server.compact();
      await t.clock.advance(1_000);

      expect(t.events.slice(3)).toEqual(['update change@104', 'add new@106', 'delete vanish@103']);
      expect(t.server.lists).toHaveLength(2);
      expect(t.informer.list().map((o) => o.metadata?.name).sort()).toEqual(['change', 'keep', 'new']);
      expect(t.server.watches.at(-1)?.resourceVersion).toBe('106');
      expect(t.errors.map((e) => String(e))).toEqual(['Error: connection reset']);
      t.informer.stop();
    },
  );

  it('retries failures with exponential backoff from 1s up to 30s, reporting each, and resets after success', async () => {
    const t = setup();
    t.server.put('a');
    for (let i = 0; i < 7; i++) t.server.listFailures.push(new KubeRestError(503, 'ServiceUnavailable', 'etcd down'));
    const listTimes: number[] = [];
    const list = t.server.list.bind(t.server);
    t.server.list = (q, s) => {
      listTimes.push(t.clock.now());
      return list(q, s);
    };
    const started = t.informer.start();
    await t.clock.advance(300_000);
    await started;
    expect(listTimes).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000]);
    expect(t.errors).toHaveLength(7);
    expect(t.errors[0]).toBeInstanceOf(KubeRestError);

    // After a success the next failure waits the minimum again.
    const before = t.server.watches.length;
    t.server.watchFailures.push(new Error('refused'));
    t.server.open?.end(new Error('reset'));
    await t.clock.advance(999);
    expect(t.server.watches.length).toBe(before);
    await t.clock.advance(1);
    expect(t.server.watches.length).toBe(before + 1);
    expect(t.server.open).toBeUndefined();
    await t.clock.advance(1_999);
    expect(t.server.open).toBeUndefined();
    await t.clock.advance(1);
    expect(t.server.open).toBeDefined();
    expect(t.server.watches.length).toBe(before + 2);
    t.informer.stop();
  });

  it('starts the backoff afresh when a watch that delivered events fails', async () => {
    const t = setup();
    await t.informer.start();
    t.server.watchFailures.push(new Error('refused'), new Error('refused'));
    await t.clock.advance(3_000);
    expect(t.server.watches).toHaveLength(3);
    expect(t.server.open).toBeDefined();
    t.server.put('a');
    t.server.open?.end(new Error('reset'));
    await t.clock.advance(999);
    expect(t.server.watches).toHaveLength(3);
    await t.clock.advance(1);
    expect(t.server.watches).toHaveLength(4);
    t.informer.stop();
  });

  it('re-watches after a watch ERROR event that is not 410, with backoff', async () => {
    const t = setup();
    await t.informer.start();
    await t.clock.flush();
    t.server.send({ type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'boom' } });
    await t.clock.flush();
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(t.server.watches).toHaveLength(1);
    await t.clock.advance(1_000);
    expect(t.server.watches).toHaveLength(2);
    expect(t.server.lists).toHaveLength(1);
    t.informer.stop();
  });

  it('gives up on a watch that outlives its server-side timeout (a silently dead connection) and re-watches', async () => {
    const clock = new FakeClock(0);
    const server = new FakeApiServer();
    const errors: unknown[] = [];
    const informer = new Informer<KubeObject>({
      kubeConfig: new KubeConfig(),
      path: '/api/v1/namespaces/ns/configmaps',
      transport: server,
      clock,
      minWatchTimeoutSeconds: 10,
      onError: (e) => errors.push(e),
    });
    server.put('a');
    await informer.start();
    await clock.flush();
    const timeout = server.watches[0]?.timeoutSeconds ?? 0;
    expect(timeout).toBeGreaterThanOrEqual(10);
    expect(timeout).toBeLessThan(20);
    // An empty watch is not progress: the re-watch waits the minimum backoff.
    await clock.advance((timeout + 30) * 1000 + 1000);
    expect(server.watches.map((w) => w.resourceVersion)).toEqual(['101', '101']);
    expect(server.open).toBeDefined();
    expect(errors).toEqual([]);
    informer.stop();
  });

  it('caches the transformed object but detects changes from the received resourceVersion', async () => {
    const t = setup({ transform: (o) => ({ metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace } }) });
    t.server.put('a', { secret: 'x' });
    await t.informer.start();
    await t.clock.flush();
    t.server.put('a', { secret: 'y' });
    t.server.send({ type: 'MODIFIED', object: { metadata: { name: 'a', namespace: 'ns', resourceVersion: '102' } } });
    expect(t.informer.get('ns', 'a')).toEqual({ metadata: { name: 'a', namespace: 'ns' } });
    expect(t.events).toEqual(['add a@', 'update a@']);
    t.informer.stop();
  });

  it('asks the transport for metadata only on every list and watch when metadataOnly is set', async () => {
    const t = setup({ metadataOnly: true, pageSize: 1 });
    t.server.put('a');
    t.server.put('b');
    await t.informer.start();
    await t.clock.flush();
    expect(t.server.lists.map((l) => l.metadataOnly)).toEqual([true, true]);
    expect(t.server.watches.map((w) => w.metadataOnly)).toEqual([true]);
    t.informer.stop();

    const u = setup();
    u.server.put('a');
    await u.informer.start();
    await u.clock.flush();
    expect([u.server.lists[0]?.metadataOnly, u.server.watches[0]?.metadataOnly]).toEqual([undefined, undefined]);
    u.informer.stop();
  });

  it('caches and delivers only the objects keep accepts, on lists and watch events alike', async () => {
    const wanted = new Set(['a', 'c']);
    const t = setup({ keep: (o) => wanted.has(o.metadata?.name ?? '') });
    for (const n of ['a', 'b', 'c']) t.server.put(n);
    await t.informer.start();
    await t.clock.flush();
    expect(t.events).toEqual(['add a@101', 'add c@103']);
    t.server.put('b', { k: 'v2' });
    t.server.put('d');
    expect(t.events).toEqual(['add a@101', 'add c@103']);
    expect(t.informer.resourceVersion).toBe('105');

    // No longer wanted: an event for it removes it; newly wanted: its next change adds it.
    wanted.delete('c');
    wanted.add('b');
    t.server.put('c', { k: 'v2' });
    t.server.put('b', { k: 'v3' });
    expect(t.events.slice(2)).toEqual(['delete c@106', 'add b@107']);
    expect(t.informer.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'b']);
    t.informer.stop();
  });

  it('forget drops an entry without an event; a later change brings it back as an add', async () => {
    const t = setup();
    t.server.put('a');
    t.server.put('b');
    await t.informer.start();
    await t.clock.flush();
    t.informer.forget('ns', 'a');
    expect(t.informer.list().map((o) => o.metadata?.name)).toEqual(['b']);
    expect(t.events).toEqual(['add a@101', 'add b@102']);
    t.server.put('a', { k: 'v2' });
    expect(t.events.at(-1)).toBe('add a@103');
    t.informer.stop();
  });

  it('keeps delivering events to other handlers when one throws', async () => {
    const t = setup();
    t.informer.on(() => {
      throw new Error('handler bug');
    });
    t.server.put('a');
    await t.informer.start();
    expect(t.events).toEqual(['add a@101']);
    t.informer.stop();
  });

  it('stop before the first list rejects start; stop ends the watch and makes no further requests', async () => {
    const t = setup();
    t.server.listFailures.push(new Error('refused'));
    const started = t.informer.start();
    await t.clock.flush();
    t.informer.stop();
    await expect(started).rejects.toBeInstanceOf(InformerStoppedError);
    await t.clock.advance(120_000);
    expect(t.server.lists).toHaveLength(1);

    const u = setup();
    await u.informer.start();
    await u.clock.flush();
    expect(u.server.open).toBeDefined();
    u.informer.stop();
    await u.clock.advance(120_000);
    expect(u.server.open).toBeUndefined();
    expect(u.server.watches).toHaveLength(1);
  });
});
