import { Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ListRequest, ListResponse } from '../gen/planton/helm/v1/helm_release_service.js';
import { silentLogger } from '../log.js';
import type { Authenticator, Authorizer, Caller } from './auth.js';
import type { Preview } from './preview.js';
import { HelmReleaseService } from './service.js';
import type { HelmReleaseJson, HelmReleaseStore } from './store.js';

/** A store over a sorted list of objects, paging as the API server does (limit, continue = next index). */
function fakeStore(objects: HelmReleaseJson[]) {
  const reads: { limit: number; continue?: string }[] = [];
  const store = {
    list: async (namespace: string, _sel: string, limit: number, cont: string | undefined) => {
      reads.push({ limit, ...(cont ? { continue: cont } : {}) });
      const all = objects.filter((o) => namespace === '' || o.metadata.namespace === namespace);
      const from = cont ? Number(cont) : 0;
      const items = all.slice(from, from + limit);
      return { items, resourceVersion: '42', ...(from + limit < all.length ? { continue: String(from + limit) } : {}) };
    },
  } as unknown as HelmReleaseStore;
  return { store, reads };
}

function object(namespace: string, name: string): HelmReleaseJson {
  return { metadata: { namespace, name, uid: `${namespace}-${name}`, resourceVersion: '1' }, spec: { repo: 'https://c.example.com', name: 'x', version: '1.0.0' } };
}

function service(store: HelmReleaseStore, allowed: (verb: string, ns: string) => boolean) {
  const caller: Caller = { username: 'alice', uid: '', groups: [], extra: {} };
  const authn = { authenticate: async () => caller } as unknown as Authenticator;
  const authz = {
    allowed: async (_c: Caller, verb: string, ns: string) => allowed(verb, ns),
    require: async (_c: Caller, verbs: string[], ns: string) => {
      if (!verbs.every((v) => allowed(v, ns))) throw new Error('denied');
    },
  } as unknown as Authorizer;
  const impl = new HelmReleaseService({
    store, authn, authz, preview: {} as Preview, log: silentLogger,
    options: { callTimeoutMs: 10_000, maxWatches: 10, maxWatchBacklogBytes: 1 << 20 },
  }).implementation();
  return (req: Partial<ListRequest>): Promise<ListResponse> =>
    new Promise((ok, fail) => {
      const call = { request: { namespace: '', labelSelector: '', pageSize: 0, pageToken: '', ...req }, metadata: new Metadata(), on: () => undefined } as unknown as ServerUnaryCall<ListRequest, ListResponse>;
      const cb: sendUnaryData<ListResponse> = (err, res) => (err ? fail(err) : ok(res as ListResponse));
      impl.list(call, cb);
    });
}

async function allPages(list: ReturnType<typeof service>, pageSize: number): Promise<{ names: string[]; pages: number[] }> {
  const names: string[] = [];
  const pages: number[] = [];
  let token = '';
  for (let i = 0; i < 100; i++) {
    const res = await list({ pageSize, pageToken: token });
    names.push(...res.helmReleases.map((h) => `${h.namespace}/${h.name}`));
    pages.push(res.helmReleases.length);
    token = res.nextPageToken;
    if (token === '') break;
  }
  return { names, pages };
}

describe('List across namespaces', () => {
  // 3 namespaces × 40 HelmReleases, in the API server's order (namespace, then name).
  const objects = ['a', 'b', 'c'].flatMap((ns) => Array.from({ length: 40 }, (_, i) => object(ns, `r${String(i).padStart(2, '0')}`)));

  it('with permission everywhere, pages straight through the API server’s pages', async () => {
    const { store, reads } = fakeStore(objects);
    const { names, pages } = await allPages(service(store, () => true), 25);
    expect(names).toEqual(objects.map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
    expect(pages).toEqual([25, 25, 25, 25, 20]);
    expect(reads.every((r) => r.limit === 25)).toBe(true);
  });

  it('with permission in one namespace, fills each page with what the caller may see, missing and repeating nothing', async () => {
    const { store } = fakeStore(objects);
    const { names, pages } = await allPages(service(store, (_v, ns) => ns === 'b'), 15);
    expect(names).toEqual(objects.filter((o) => o.metadata.namespace === 'b').map((o) => `b/${o.metadata.name}`));
    expect(pages).toEqual([15, 15, 10]);
  });

  it('refuses a page token it did not make', async () => {
    const { store } = fakeStore(objects);
    await expect(service(store, () => true)({ pageToken: 'not-ours' })).rejects.toMatchObject({ details: 'page_token: not a token from a previous ListResponse' });
  });
});
