// The informer against the real API server: ConfigMaps in a temporary namespace are seen as
// add/update/delete, and the informer recovers from a dropped watch (resuming from its
// resourceVersion, nothing missed) and from 410 Gone (relisting, the difference delivered).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, type InformerEvent } from '../../src/controller/informer.js';
import {
  HttpListWatchTransport,
  type KubeObject,
  type ListPage,
  type ListQuery,
  type ListWatchTransport,
  type WatchEvent,
  type WatchQuery,
} from '../../src/kube/list-watch.js';
import { KubeRestError } from '../../src/kube/rest.js';
import { kubeConfig, tempNamespace, waitFor } from '../support/cluster.js';

/** The real transport, with a hand on the open watch so the test can break it. */
class BreakableTransport implements ListWatchTransport {
  readonly #real: ListWatchTransport;
  #current: AbortController | undefined;
  #goneOnNextWatch = false;
  /** LIST requests (pages) made. */
  lists = 0;
  watches: WatchQuery[] = [];

  constructor(kc: k8s.KubeConfig) {
    this.#real = new HttpListWatchTransport(kc);
  }

  list(query: ListQuery, signal: AbortSignal): Promise<ListPage> {
    this.lists++;
    return this.#real.list(query, signal);
  }

  watch(query: WatchQuery, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.watches.push(query);
    if (this.#goneOnNextWatch) {
      this.#goneOnNextWatch = false;
      return Promise.reject(new KubeRestError(410, 'Expired', 'too old resource version (injected by the test)'));
    }
    const ac = new AbortController();
    this.#current = ac;
    return this.#real.watch(query, onEvent, AbortSignal.any([signal, ac.signal]));
  }

  get watching(): boolean {
    return this.#current !== undefined && !this.#current.signal.aborted;
  }

  /** Cuts the open watch as a network failure would. */
  dropWatch(): void {
    this.#current?.abort(new Error('connection dropped by the test'));
  }

  /** The next watch fails with 410 Gone, as when the resourceVersion was compacted away. */
  goneOnNextWatch(): void {
    this.#goneOnNextWatch = true;
  }
}

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await tempNamespace('informer'));
});
afterAll(async () => {
  await cleanup();
});

function configMap(name: string, data: Record<string, string>): k8s.V1ConfigMap {
  return { metadata: { name, namespace: ns, labels: { 'test.planton/informer': 'yes' } }, data };
}

async function update(name: string, data: Record<string, string>): Promise<void> {
  const cm = await core.readNamespacedConfigMap({ name, namespace: ns });
  await core.replaceNamespacedConfigMap({ name, namespace: ns, body: { ...cm, data } });
}

describe('Informer on ConfigMaps', () => {
  it('sees add, update and delete, and survives a dropped watch and a 410 Gone', async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap('before-start', { k: '0' }) });

    const transport = new BreakableTransport(kc);
    const errors: unknown[] = [];
    const informer = new Informer<KubeObject>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: 'test.planton/informer=yes',
      pageSize: 2,
      transport,
      onError: (e) => errors.push(e),
    });
    const events: InformerEvent<KubeObject>[] = [];
    informer.on((e) => events.push(e));
    const seen = (type: InformerEvent<KubeObject>['type'], name: string, k?: string) =>
      events.some((e) => e.type === type && e.object.metadata?.name === name && (k === undefined || (e.object['data'] as Record<string, string> | undefined)?.['k'] === k))
        ? true
        : undefined;

    try {
      await informer.start();
      expect(informer.hasSynced).toBe(true);
      expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['add before-start']);

      await core.createNamespacedConfigMap({ namespace: ns, body: configMap('a', { k: '1' }) });
      await waitFor('add of a', async () => seen('add', 'a', '1'), 30_000);
      await update('a', { k: '2' });
      await waitFor('update of a', async () => seen('update', 'a', '2'), 30_000);
      const upd = events.find((e) => e.type === 'update' && e.object.metadata?.name === 'a');
      expect((upd?.old?.['data'] as Record<string, string>)['k']).toBe('1');
      await core.deleteNamespacedConfigMap({ name: 'before-start', namespace: ns });
      await waitFor('delete of before-start', async () => seen('delete', 'before-start'), 30_000);
      expect(informer.get(ns, 'a')?.['data']).toEqual({ k: '2' });
      expect(informer.get(ns, 'before-start')).toBeUndefined();

      // A dropped connection: the informer re-watches from its resourceVersion, so what
      // happened meanwhile arrives as ordinary events.
      transport.dropWatch();
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap('b', { k: '1' }) });
      await update('a', { k: '3' });
      await waitFor('add of b after the drop', async () => seen('add', 'b', '1'), 30_000);
      await waitFor('update of a after the drop', async () => seen('update', 'a', '3'), 30_000);
      expect(errors.map(String)).toEqual(['Error: connection dropped by the test']);
      const listsBefore = transport.lists;
      expect(listsBefore).toBe(1);

      // 410 Gone: the informer lists again and delivers the difference with its cache.
      await waitFor('a new watch', async () => (transport.watching ? true : undefined), 30_000);
      transport.goneOnNextWatch();
      transport.dropWatch();
      await core.deleteNamespacedConfigMap({ name: 'b', namespace: ns });
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap('c', { k: '1' }) });
      await waitFor('relist after 410', async () => (transport.lists > listsBefore ? true : undefined), 30_000);
      await waitFor('delete of b', async () => seen('delete', 'b'), 30_000);
      await waitFor('add of c', async () => seen('add', 'c', '1'), 30_000);
      await waitFor('watching again', async () => (transport.watching ? true : undefined), 30_000);

      // Still live after both restarts.
      await update('c', { k: '2' });
      await waitFor('update of c', async () => seen('update', 'c', '2'), 30_000);
      expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'c']);
      const lastWatch = transport.watches.at(-1);
      expect(Number(lastWatch?.resourceVersion)).toBeGreaterThan(0);
    } finally {
      informer.stop();
    }
  });
});
