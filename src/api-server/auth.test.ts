import { Metadata, status as Code } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { KubeRest, RestRequest } from '../kube/rest.js';
import { Authenticator, Authorizer, type Caller } from './auth.js';
import { ApiError } from './errors.js';

/** A fake API server answering TokenReviews from a table of tokens and SubjectAccessReviews from a set. */
function fakeApi(opts: { tokens?: Record<string, string>; allowed?: Set<string> } = {}) {
  const requests: RestRequest[] = [];
  const rest = {
    json: async (req: RestRequest) => {
      requests.push(req);
      const body = req.body as { spec: { token?: string; user?: string; resourceAttributes?: { verb: string; namespace?: string } } };
      if (req.path.endsWith('/tokenreviews')) {
        const user = opts.tokens?.[body.spec.token ?? ''];
        return { status: user ? { authenticated: true, user: { username: user, uid: 'u1', groups: ['g'] } } : { authenticated: false } };
      }
      const a = body.spec.resourceAttributes;
      return { status: { allowed: opts.allowed?.has(`${body.spec.user} ${a?.verb} ${a?.namespace ?? '*'}`) ?? false } };
    },
  } as unknown as KubeRest;
  return { rest, requests };
}

const md = (auth?: string) => {
  const m = new Metadata();
  if (auth !== undefined) m.set('authorization', auth);
  return m;
};

async function codeOf(p: Promise<unknown>): Promise<number> {
  return p.then(() => Code.OK, (e: unknown) => (e instanceof ApiError ? e.code : -1));
}

describe('Authenticator', () => {
  it('accepts a bearer token the TokenReview accepts, and refuses the rest as UNAUTHENTICATED', async () => {
    const { rest } = fakeApi({ tokens: { good: 'system:serviceaccount:a:b' } });
    const authn = new Authenticator(rest, { audiences: [], cacheTtlMs: 10_000, cacheEntries: 10 });
    expect((await authn.authenticate(md('Bearer good'))).username).toBe('system:serviceaccount:a:b');
    expect(await codeOf(authn.authenticate(md()))).toBe(Code.UNAUTHENTICATED);
    expect(await codeOf(authn.authenticate(md('Basic abc')))).toBe(Code.UNAUTHENTICATED);
    expect(await codeOf(authn.authenticate(md('Bearer bad')))).toBe(Code.UNAUTHENTICATED);
    expect(await codeOf(authn.authenticate(md(`Bearer ${'x'.repeat(20_000)}`)))).toBe(Code.UNAUTHENTICATED);
  });

  it('reuses an answer within its lifetime, keys it by a hash and keeps a bounded number', async () => {
    let now = 0;
    const { rest, requests } = fakeApi({ tokens: { t1: 'one', t2: 'two', t3: 'three' } });
    const authn = new Authenticator(rest, { audiences: ['planton'], cacheTtlMs: 1_000, cacheEntries: 2, now: () => now });
    await authn.authenticate(md('Bearer t1'));
    await authn.authenticate(md('Bearer t1'));
    expect(requests).toHaveLength(1);
    expect((requests[0]?.body as { spec: { audiences: string[] } }).spec.audiences).toEqual(['planton']);
    now = 1_001;
    await authn.authenticate(md('Bearer t1'));
    expect(requests).toHaveLength(2);
    await authn.authenticate(md('Bearer t2'));
    await authn.authenticate(md('Bearer t3')); // evicts t1, the oldest
    await authn.authenticate(md('Bearer t1'));
    expect(requests).toHaveLength(5);
  });

  it('remembers a refusal for a shorter time than an acceptance', async () => {
    let now = 0;
    const { rest, requests } = fakeApi({ tokens: {} });
    const authn = new Authenticator(rest, { audiences: [], cacheTtlMs: 60_000, cacheEntries: 10, now: () => now });
    await codeOf(authn.authenticate(md('Bearer soon-valid')));
    now = 2_001;
    await codeOf(authn.authenticate(md('Bearer soon-valid')));
    expect(requests).toHaveLength(2);
  });
});

describe('Authorizer', () => {
  const caller: Caller = { username: 'alice', uid: 'u', groups: [], extra: {} };

  it('asks a SubjectAccessReview per verb and names what is denied', async () => {
    const { rest, requests } = fakeApi({ allowed: new Set(['alice get ns1', 'alice patch ns1']) });
    const authz = new Authorizer(rest);
    await authz.require(caller, ['get', 'patch'], 'ns1', 'web');
    expect(requests).toHaveLength(2);
    expect((requests[0]?.body as { spec: { resourceAttributes: unknown } }).spec.resourceAttributes).toEqual({
      group: 'helm.project-planton.org', resource: 'helmreleases', verb: 'get', namespace: 'ns1', name: 'web',
    });
    await expect(authz.require(caller, ['get', 'delete'], 'ns1')).rejects.toThrow('alice may not delete helmreleases.helm.project-planton.org in namespace ns1');
    await expect(authz.require(caller, ['list'], '')).rejects.toThrow('at cluster scope');
  });
});
