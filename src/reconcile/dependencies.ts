// Readiness of a HelmRelease's dependencies (spec.dependsOn). The informer's cache answers for a
// dependency inside the controller's watched scope. One outside it (another namespace while the
// controller runs with --watch-namespace, or a HelmRelease another --label-selector shard owns)
// is never in that cache, so it is read from the API server, through a short-lived bounded cache:
// a thousand dependents of one object cost one GET per TTL, not one per reconcile. Such a
// dependency is not watched, so its becoming Ready is seen when the dependent looks again
// (decide.ts's DEPENDENCY_RECHECK_MS) plus at most the TTL. A dependency that cannot be read says
// why, in the list the condition message is built from.
import { type HelmReleaseObject, type HelmReleaseSpec, keyOf } from '../api/helm-release.js';
import type { Clock } from '../clock.js';
import { httpStatusOf } from '../kube/helm-release-api.js';
import { ConditionType, findCondition } from './conditions.js';

/** What the controller's HelmRelease informer lists: objects outside it are never in its cache. */
export interface WatchedScope {
  /** The only namespace watched; empty: all. */
  readonly namespace: string;
  /** The label selector of this shard; empty: every HelmRelease. */
  readonly labelSelector: string;
}

export interface DependencyReadinessOptions {
  /** The informer's cache of HelmReleases. */
  readonly cache: { get(namespace: string, name: string): HelmReleaseObject | undefined };
  /** GETs one HelmRelease: undefined when it does not exist; rejects with the API's error otherwise. */
  readonly read: (namespace: string, name: string) => Promise<HelmReleaseObject | undefined>;
  readonly scope: WatchedScope;
  readonly clock: Clock;
  /** How long a read answers for its object. Default 5000. */
  readonly ttlMs?: number;
  /** Most objects remembered; the oldest read is dropped first. Default 1000. */
  readonly maxEntries?: number;
}

/** What is known of one dependency; only its readiness is kept, so remembered reads stay small. */
type Lookup =
  | { readonly kind: 'found'; readonly ready: boolean }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unreadable'; readonly why: string };

interface Remembered {
  readonly expiresAt: number;
  readonly lookup: Promise<Lookup>;
}

/** Longest error text quoted in a condition message. */
const MAX_WHY = 200;

/** Ready for its current generation: what a dependent waits for. */
export function isReady(obj: HelmReleaseObject): boolean {
  return (
    obj.status?.observedGeneration === obj.metadata.generation &&
    findCondition(obj.status?.conditions, ConditionType.Ready)?.status === 'True'
  );
}

export class DependencyReadiness {
  readonly #opts: DependencyReadinessOptions;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  /** `namespace/name` → the last read of an out-of-scope dependency, in read order. */
  readonly #reads = new Map<string, Remembered>();

  constructor(opts: DependencyReadinessOptions) {
    this.#opts = opts;
    this.#ttlMs = opts.ttlMs ?? 5_000;
    this.#maxEntries = Math.max(1, opts.maxEntries ?? 1_000);
  }

  /**
   * The dependencies of a HelmRelease in `namespace` that are not Ready, in spec order, as
   * `namespace/name`, followed by ` (not found)` or ` (cannot be read: why)` when that is the
   * reason. Never rejects: a failed read is a dependency that is not Ready.
   */
  async notReady(namespace: string, dependsOn: HelmReleaseSpec['dependsOn']): Promise<string[]> {
    const lookups = await Promise.all(
      dependsOn.map(async (d) => {
        const ns = d.namespace ?? namespace;
        return { key: keyOf({ namespace: ns, name: d.name }), lookup: await this.#lookup(ns, d.name) };
      }),
    );
    const out: string[] = [];
    for (const { key, lookup } of lookups) {
      if (lookup.kind === 'absent') out.push(`${key} (not found)`);
      else if (lookup.kind === 'unreadable') out.push(`${key} (cannot be read: ${lookup.why})`);
      else if (!lookup.ready) out.push(key);
    }
    return out;
  }

  async #lookup(namespace: string, name: string): Promise<Lookup> {
    const cached = this.#opts.cache.get(namespace, name);
    if (cached !== undefined) return { kind: 'found', ready: isReady(cached) };
    if (this.#inScope(namespace)) return { kind: 'absent' };
    return this.#remembered(namespace, name);
  }

  /** True when the informer lists every HelmRelease of `namespace`, so its cache is the whole truth. */
  #inScope(namespace: string): boolean {
    const { scope } = this.#opts;
    return scope.labelSelector === '' && (scope.namespace === '' || scope.namespace === namespace);
  }

  /** The read of `namespace/name` younger than the TTL (one in flight is shared), else a new one. */
  #remembered(namespace: string, name: string): Promise<Lookup> {
    const key = keyOf({ namespace, name });
    const now = this.#opts.clock.now();
    const known = this.#reads.get(key);
    if (known !== undefined && known.expiresAt > now) return known.lookup;
    this.#reads.delete(key);
    for (const [k, r] of this.#reads) {
      if (this.#reads.size < this.#maxEntries && r.expiresAt > now) break;
      this.#reads.delete(k);
    }
    const lookup = this.#read(namespace, name);
    this.#reads.set(key, { expiresAt: now + this.#ttlMs, lookup });
    return lookup;
  }

  async #read(namespace: string, name: string): Promise<Lookup> {
    try {
      const object = await this.#opts.read(namespace, name);
      return object === undefined ? { kind: 'absent' } : { kind: 'found', ready: isReady(object) };
    } catch (err) {
      return { kind: 'unreadable', why: whyUnreadable(namespace, err) };
    }
  }
}

function whyUnreadable(namespace: string, err: unknown): string {
  const status = httpStatusOf(err);
  if (status === 403) return `this controller is not allowed to get HelmReleases in namespace ${namespace}`;
  const text = err instanceof Error ? err.message : String(err);
  return text.length > MAX_WHY ? `${text.slice(0, MAX_WHY - 1)}…` : text;
}
