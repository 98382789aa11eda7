// The reference watcher against the real API server, in a namespace that holds large Secrets
// like Helm's release Secrets: it lists and watches metadata only, so their data never crosses
// the wire, it keeps the name and resourceVersion of the referenced Secret only, and a change to
// that Secret still wakes the HelmRelease that reads it. Prints the bytes received next to what a
// full list of the same namespace costs.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceWatcher } from '../../src/controller/reference-watcher.js';
import {
  HttpListWatchTransport,
  type ListPage,
  type ListQuery,
  type ListWatchTransport,
  type WatchEvent,
  type WatchQuery,
} from '../../src/kube/list-watch.js';
import { silentLogger } from '../../src/log.js';
import { kubeConfig, tempNamespace, waitFor } from '../support/cluster.js';

/** The real transport, recording the top-level fields of every object it received. */
class RecordingTransport implements ListWatchTransport {
  readonly real: HttpListWatchTransport;
  readonly fields = new Set<string>();
  readonly kinds = new Set<string>();

  constructor(kc: k8s.KubeConfig) {
    this.real = new HttpListWatchTransport(kc);
  }

  async list(query: ListQuery, signal: AbortSignal): Promise<ListPage> {
    const page = await this.real.list(query, signal);
    for (const item of page.items) for (const k of Object.keys(item)) this.fields.add(k);
    return page;
  }

  watch(query: WatchQuery, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    return this.real.watch(
      query,
      (e) => {
        if (e.type !== 'BOOKMARK' && e.type !== 'ERROR') {
          for (const k of Object.keys(e.object)) this.fields.add(k);
          if (typeof e.object['kind'] === 'string') this.kinds.add(e.object['kind']);
        }
        onEvent(e);
      },
      signal,
    );
  }
}

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
/** Raw bytes per large Secret (stored base64, as Helm's release Secrets are). */
const LARGE_BYTES = 512 * 1024;
const LARGE_COUNT = 6;
let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await tempNamespace('refwatch'));
  for (let i = 1; i <= LARGE_COUNT; i++) {
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: `sh.helm.release.v1.big.v${i}`, labels: { owner: 'helm', name: 'big', version: String(i) } },
        type: 'helm.sh/release.v1',
        data: { release: randomBytes(LARGE_BYTES).toString('base64') },
      },
    });
  }
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'app-values' }, stringData: { 'values.yaml': 'message: one\n' } } });
});
afterAll(async () => {
  await cleanup();
});

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

describe('ReferenceWatcher in a namespace of large Secrets', () => {
  it('receives metadata only, caches the referenced Secret only, and still wakes its reader on a change', async () => {
    const transport = new RecordingTransport(kc);
    const woken: string[] = [];
    const watcher = new ReferenceWatcher({ kubeConfig: kc, enqueue: (k) => woken.push(k), log: silentLogger, transport });
    const key = `${ns}/app`;
    try {
      watcher.track(key, new Set([`Secret/${ns}/app-values`]));
      await waitFor('the first list', async () => (woken.length > 0 ? true : undefined), 30_000);
      const listed = transport.real.bytesReceived;

      const values = await core.readNamespacedSecret({ namespace: ns, name: 'app-values' });
      expect(watcher.cached('Secret', ns)).toEqual([{ metadata: { name: 'app-values', namespace: ns, resourceVersion: values.metadata?.resourceVersion } }]);
      expect(woken).toEqual([key]);

      // A change to the referenced Secret wakes the HelmRelease; one to a large unreferenced
      // Secret, delivered on the same watch before the second change, wakes nobody.
      await core.patchNamespacedSecret(
        { namespace: ns, name: 'app-values', body: { stringData: { 'values.yaml': 'message: two\n' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await waitFor('the change to wake the HelmRelease', async () => (woken.length === 2 ? true : undefined), 30_000);
      await core.patchNamespacedSecret(
        { namespace: ns, name: 'sh.helm.release.v1.big.v1', body: { data: { release: randomBytes(LARGE_BYTES).toString('base64') } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await core.patchNamespacedSecret(
        { namespace: ns, name: 'app-values', body: { stringData: { 'values.yaml': 'message: three\n' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await waitFor('the second change to wake the HelmRelease', async () => (woken.length >= 3 ? true : undefined), 30_000);
      expect(woken).toEqual([key, key, key]);
      const after = await core.readNamespacedSecret({ namespace: ns, name: 'app-values' });
      await waitFor('the cache to hold the new resourceVersion', async () =>
        watcher.cached('Secret', ns)[0]?.metadata.resourceVersion === after.metadata?.resourceVersion ? true : undefined, 30_000);
      expect(watcher.cached('Secret', ns)).toHaveLength(1);

      // What arrived over the wire: object metadata, never data, on the list and the watch.
      expect(transport.fields.has('metadata')).toBe(true);
      expect([...transport.fields].filter((f) => !['apiVersion', 'kind', 'metadata'].includes(f))).toEqual([]);
      expect([...transport.kinds]).toEqual(['PartialObjectMetadata']);
      const total = transport.real.bytesReceived;
      // The large Secrets' data never came: less than one of them holds, in all.
      expect(total).toBeLessThan(LARGE_BYTES);

      const full = new HttpListWatchTransport(kc);
      await full.list({ path: `/api/v1/namespaces/${ns}/secrets`, limit: 500 }, AbortSignal.timeout(30_000));
      console.log(
        `reference watch of ${LARGE_COUNT + 1} Secrets (${LARGE_COUNT} × ${LARGE_BYTES / 1024} KiB): ` +
          `metadata list ${listed} bytes, list + watch of 3 changes ${total} bytes; a full list of the same namespace ${full.bytesReceived} bytes (${mib(full.bytesReceived)})`,
      );
    } finally {
      watcher.stop();
    }
  });

  it('watches a namespace that holds no Secret yet (an empty metadata list) and wakes its reader when the Secret appears', async () => {
    const empty = await tempNamespace('refwatch-empty');
    const woken: string[] = [];
    const transport = new HttpListWatchTransport(kc);
    const watcher = new ReferenceWatcher({ kubeConfig: kc, enqueue: (k) => woken.push(k), log: silentLogger, transport });
    try {
      watcher.track(`${empty.name}/app`, new Set([`Secret/${empty.name}/late`]));
      await waitFor('the empty list', async () => (transport.bytesReceived > 0 ? true : undefined), 30_000);
      await core.createNamespacedSecret({ namespace: empty.name, body: { metadata: { name: 'late' }, stringData: { 'values.yaml': 'a: 1\n' } } });
      await waitFor('the new Secret to wake the HelmRelease', async () => (woken.length > 0 ? true : undefined), 30_000);
      expect(woken).toEqual([`${empty.name}/app`]);
      expect(watcher.cached('Secret', empty.name).map((o) => o.metadata.name)).toEqual(['late']);
    } finally {
      watcher.stop();
      await empty.cleanup();
    }
  });
});
