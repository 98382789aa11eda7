// Who is calling, and may they: the caller's bearer token is checked with a TokenReview (results
// cached briefly, in a bounded map keyed by the token's hash, never by the token), and each call
// is authorized with a SubjectAccessReview on `helmreleases` for the verb and namespace the
// proto names, so RBAC for the API is exactly RBAC for kubectl.
import { createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { GROUP, PLURAL } from '../api/helm-release.js';
import type { KubeRest } from '../kube/rest.js';
import { ApiError, Code, fromKube } from './errors.js';

/** The authenticated caller, as the TokenReview named them. */
export interface Caller {
  readonly username: string;
  readonly uid: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'patch' | 'delete';

export interface AuthOptions {
  /** Audiences the token must carry; empty: the API server's own. */
  readonly audiences: readonly string[];
  /** How long a TokenReview answer is reused. */
  readonly cacheTtlMs: number;
  /** Most answers kept; the oldest go first. */
  readonly cacheEntries: number;
  readonly now?: () => number;
}

/** Longest bearer token accepted (a ServiceAccount JWT is about 1 KiB). */
const MAX_TOKEN_BYTES = 16 * 1024;

type Review = { readonly caller: Caller | undefined; readonly until: number };

export class Authenticator {
  readonly #rest: KubeRest;
  readonly #o: AuthOptions;
  readonly #cache = new Map<string, Review>();
  readonly #now: () => number;

  constructor(rest: KubeRest, opts: AuthOptions) {
    this.#rest = rest;
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The caller of a call's metadata; throws UNAUTHENTICATED without a valid bearer token. */
  async authenticate(md: Metadata): Promise<Caller> {
    const header = md.get('authorization');
    if (header.length !== 1 || typeof header[0] !== 'string') {
      throw new ApiError(Code.UNAUTHENTICATED, 'missing credentials: send "authorization: Bearer <ServiceAccount token>"');
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header[0]);
    if (!m?.[1] || m[1].length > MAX_TOKEN_BYTES) throw new ApiError(Code.UNAUTHENTICATED, 'malformed authorization header: expected "Bearer <token>"');
    const caller = await this.#review(m[1]);
    if (!caller) throw new ApiError(Code.UNAUTHENTICATED, 'the token was not accepted (invalid, expired or for another audience)');
    return caller;
  }

  async #review(token: string): Promise<Caller | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.caller;
    let res: { status?: { authenticated?: boolean; user?: Partial<Caller> & { extra?: Record<string, string[]> }; audiences?: string[] } };
    try {
      res = await this.#rest.json({
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/tokenreviews',
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(this.#o.audiences.length > 0 ? { audiences: [...this.#o.audiences] } : {}) },
        },
      });
    } catch (err) {
      throw fromKube(err, 'authentication');
    }
    const s = res.status;
    const caller: Caller | undefined =
      s?.authenticated === true && typeof s.user?.username === 'string'
        ? { username: s.user.username, uid: s.user.uid ?? '', groups: [...(s.user.groups ?? [])], extra: s.user.extra ?? {} }
        : undefined;
    this.#cache.delete(key);
    if (this.#cache.size >= this.#o.cacheEntries) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    // A refusal is kept for a shorter time, so that a token created a moment ago is accepted soon.
    this.#cache.set(key, { caller, until: now + (caller ? this.#o.cacheTtlMs : Math.min(this.#o.cacheTtlMs, 2_000)) });
    return caller;
  }
}

export class Authorizer {
  readonly #rest: KubeRest;

  constructor(rest: KubeRest) {
    this.#rest = rest;
  }

  /** True when RBAC lets the caller do `verb` on helmreleases in `namespace` ('' every namespace). */
  async allowed(caller: Caller, verb: Verb, namespace: string, name?: string): Promise<boolean> {
    let res: { status?: { allowed?: boolean } };
    try {
      res = await this.#rest.json({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: caller.username,
            uid: caller.uid,
            groups: [...caller.groups],
            extra: caller.extra,
            resourceAttributes: { group: GROUP, resource: PLURAL, verb, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) },
          },
        },
      });
    } catch (err) {
      throw fromKube(err, 'authorization');
    }
    return res.status?.allowed === true;
  }

  /** Throws PERMISSION_DENIED unless every verb is allowed. */
  async require(caller: Caller, verbs: readonly Verb[], namespace: string, name?: string): Promise<void> {
    const answers = await Promise.all(verbs.map((v) => this.allowed(caller, v, namespace, name)));
    const denied = verbs.filter((_, i) => !answers[i]);
    if (denied.length > 0) {
      const where = namespace ? `in namespace ${namespace}` : 'at cluster scope';
      throw new ApiError(Code.PERMISSION_DENIED, `${caller.username} may not ${denied.join(', ')} helmreleases.${GROUP} ${where}`);
    }
  }
}
