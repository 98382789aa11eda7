// A list+watch cache of one collection of Kubernetes objects that owns its restarts (what
// client-go's reflector does): paginated LIST, then WATCH from the list's resourceVersion with
// bookmarks; a watch that ends is re-opened from the last resourceVersion; 410 Gone means the
// resourceVersion is too old, so the collection is listed again and the difference with the cache
// delivered as events; any other failure is retried with exponential backoff. The HTTP requests
// themselves are kube/list-watch.ts.
import type { KubeConfig } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../clock.js';
import { HttpListWatchTransport, type KubeObject, type ListWatchTransport, type WatchEvent } from '../kube/list-watch.js';
import { KubeRestError } from '../kube/rest.js';
import { silentLogger, type Logger } from '../log.js';

export type InformerEvent<T> = { type: 'add' | 'update' | 'delete'; object: T; old?: T };

export interface InformerOptions<T> {
  readonly kubeConfig: KubeConfig;
  /** collection path, e.g. /apis/helm.project-planton.org/v1/helmreleases or /api/v1/namespaces/ns/secrets */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** keep only what is needed in the cache, e.g. strip Secret data to metadata */
  readonly transform?: (obj: KubeObject) => T;
  /**
   * Which objects are cached (and delivered as events); the others are treated as absent, so the
   * cache is bounded by what the caller cares about, not by the collection. Evaluated on every
   * list and watch event. Default: all.
   */
  readonly keep?: (obj: KubeObject) => boolean;
  /** List and watch PartialObjectMetadata: the server sends `metadata` only, never data or spec. */
  readonly metadataOnly?: boolean;
  /** LIST page size. Default 500. */
  readonly pageSize?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** First retry delay after a failed list or watch. Default 1000. */
  readonly minBackoffMs?: number;
  /** Longest retry delay. Default 30000. */
  readonly maxBackoffMs?: number;
  /** Called with every list or watch failure (a KubeRestError or a transport error) before the retry. */
  readonly onError?: (err: unknown) => void;
  /** How list and watch requests are made; HttpListWatchTransport over kubeConfig when omitted. */
  readonly transport?: ListWatchTransport;
  /** Server-side watch timeout range in seconds; each watch picks a value in [min, 2×min). Default 300. */
  readonly minWatchTimeoutSeconds?: number;
}

function isGone(err: unknown): boolean {
  return err instanceof KubeRestError && err.code === 410;
}

interface Entry<T> {
  readonly object: T;
  /** From the object as received, since a transform may drop metadata. */
  readonly resourceVersion: string;
}

type WatchResult =
  | { readonly kind: 'closed'; readonly events: number }
  | { readonly kind: 'gone' }
  | { readonly kind: 'error'; readonly error: unknown; readonly events: number }
  | { readonly kind: 'stopped' };

/** start() was pending when stop() was called. */
export class InformerStoppedError extends Error {
  override readonly name = 'InformerStoppedError';
}

function objectKey(obj: KubeObject): string | undefined {
  const name = obj.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  const ns = obj.metadata?.namespace;
  return typeof ns === 'string' && ns !== '' ? `${ns}/${name}` : name;
}

function resourceVersionOf(obj: KubeObject): string {
  const rv = obj.metadata?.resourceVersion;
  return typeof rv === 'string' ? rv : '';
}

/**
 * The cache and event source for one collection. Handlers run synchronously, in event order;
 * the cache already holds the new state when a handler runs. Failures are logged, passed to
 * `onError` and retried forever (the informer never gives up on its own); `stop()` ends it.
 */
export class Informer<T extends KubeObject> {
  readonly #opts: InformerOptions<T>;
  readonly #transport: ListWatchTransport;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #transform: (obj: KubeObject) => T;
  readonly #keep: (obj: KubeObject) => boolean;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #minWatchTimeoutSeconds: number;

  readonly #cache = new Map<string, Entry<T>>();
  readonly #handlers = new Set<(e: InformerEvent<T>) => void>();
  readonly #stop = new AbortController();
  #resourceVersion = '';
  #failures = 0;
  #synced = false;
  #started = false;
  #resolveStart: (() => void) | undefined;
  #rejectStart: ((err: unknown) => void) | undefined;

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    this.#transport = opts.transport ?? new HttpListWatchTransport(opts.kubeConfig);
    this.#clock = opts.clock ?? systemClock;
    this.#log = (opts.log ?? silentLogger).child({ informer: opts.path });
    this.#transform = opts.transform ?? ((obj) => obj as T);
    this.#keep = opts.keep ?? (() => true);
    this.#minBackoffMs = opts.minBackoffMs ?? 1000;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.#minWatchTimeoutSeconds = opts.minWatchTimeoutSeconds ?? 300;
  }

  /** Subscribes to events; returns the unsubscribe function. Subscribe before start() to see the initial adds. */
  on(handler: (e: InformerEvent<T>) => void): () => void {
    this.#handlers.add(handler);
    return () => {
      this.#handlers.delete(handler);
    };
  }

  /**
   * Starts listing and watching. Resolves after the first complete list has been delivered (one
   * 'add' per object); until then list failures are retried with backoff. Rejects with
   * InformerStoppedError when stop() comes first.
   */
  start(): Promise<void> {
    if (this.#started) throw new Error(`informer ${this.#opts.path} already started`);
    this.#started = true;
    const synced = new Promise<void>((resolve, reject) => {
      this.#resolveStart = resolve;
      this.#rejectStart = reject;
    });
    void this.#run();
    return synced;
  }

  /** Stops the informer (aborts the request in progress); the cache keeps its last state. */
  stop(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new InformerStoppedError(`informer ${this.#opts.path} stopped`));
    if (!this.#synced) this.#rejectStart?.(this.#stop.signal.reason);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#cache.get(namespace === '' ? name : `${namespace}/${name}`)?.object;
  }

  list(): T[] {
    return Array.from(this.#cache.values(), (e) => e.object);
  }

  /**
   * Drops one object from the cache without an event, for a caller whose `keep` no longer wants
   * it; should it change later and be kept again, it comes back as an 'add'.
   */
  forget(namespace: string, name: string): void {
    this.#cache.delete(namespace === '' ? name : `${namespace}/${name}`);
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    let needList = true;
    while (!this.#stopped) {
      if (needList) {
        try {
          await this.#relist();
          needList = false;
          this.#failures = 0;
        } catch (err) {
          if (this.#stopped) return;
          await this.#retryAfterFailure('list', err);
          continue;
        }
      }
      const result = await this.#watchOnce();
      switch (result.kind) {
        case 'stopped':
          return;
        case 'gone':
          // The resourceVersion fell out of the server's history: only a new list can resync.
          this.#log.info('watch resourceVersion expired; listing again', { resourceVersion: this.#resourceVersion });
          needList = true;
          break;
        case 'error':
          // A watch that delivered events was working: its failure starts the backoff afresh.
          if (result.events > 0) this.#failures = 0;
          await this.#retryAfterFailure('watch', result.error);
          break;
        case 'closed':
          // Normal end (server timeout): re-watch at once. An empty watch is not progress, so a
          // server that keeps closing streams at once is not hammered.
          if (result.events > 0) this.#failures = 0;
          else await this.#sleep(this.#minBackoffMs);
          break;
      }
    }
  }

  async #retryAfterFailure(phase: 'list' | 'watch', err: unknown): Promise<void> {
    const delay = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    this.#log.warn(`${phase} failed; retrying`, { err, retryInMs: delay });
    try {
      this.#opts.onError?.(err);
    } catch (hookErr) {
      this.#log.error('informer onError hook threw', { err: hookErr });
    }
    await this.#sleep(delay);
  }

  async #sleep(ms: number): Promise<void> {
    await this.#clock.sleep(ms, this.#stop.signal).catch(() => undefined);
  }

  /** Lists every page, then replaces the cache, delivering the difference as events. */
  async #relist(): Promise<void> {
    const fresh = new Map<string, { raw: KubeObject; object: T }>();
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.#transport.list(
        {
          path: this.#opts.path,
          limit: this.#opts.pageSize ?? 500,
          ...(cont !== undefined ? { continue: cont } : {}),
          ...this.#queryOptions(),
        },
        this.#stop.signal,
      );
      for (const raw of page.items) {
        const key = objectKey(raw);
        if (key !== undefined && this.#keep(raw)) fresh.set(key, { raw, object: this.#transform(raw) });
      }
      resourceVersion = page.resourceVersion;
      cont = page.continue;
    } while (cont !== undefined && !this.#stopped);
    if (this.#stopped) return;

    for (const [key, { raw, object }] of fresh) this.#upsert(key, object, resourceVersionOf(raw));
    for (const [key, entry] of [...this.#cache]) {
      if (!fresh.has(key)) {
        this.#cache.delete(key);
        this.#emit({ type: 'delete', object: entry.object, old: entry.object });
      }
    }
    this.#resourceVersion = resourceVersion;
    this.#log.debug('listed', { objects: fresh.size, resourceVersion });
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveStart?.();
    }
  }

  /** What every list and watch request carries besides its own fields. */
  #queryOptions(): { labelSelector?: string; fieldSelector?: string; metadataOnly?: boolean } {
    const { labelSelector, fieldSelector, metadataOnly } = this.#opts;
    return {
      ...(labelSelector !== undefined ? { labelSelector } : {}),
      ...(fieldSelector !== undefined ? { fieldSelector } : {}),
      ...(metadataOnly ? { metadataOnly } : {}),
    };
  }

  async #watchOnce(): Promise<WatchResult> {
    const ac = new AbortController();
    const onStop = (): void => ac.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    const min = this.#minWatchTimeoutSeconds;
    const timeoutSeconds = Math.floor(min + Math.random() * min);
    // The server ends the watch after timeoutSeconds; a connection that silently died would
    // never end, so the client gives up a little after the server should have.
    let overdue = false;
    const cancelGuard = this.#clock.setTimer(() => {
      overdue = true;
      ac.abort(new Error('watch outlived its timeout'));
    }, (timeoutSeconds + 30) * 1000);
    let events = 0;
    let ended: WatchResult | undefined;
    const withEvents = (r: WatchResult): WatchResult => (r.kind === 'error' ? { ...r, events } : r);
    try {
      await this.#transport.watch(
        { path: this.#opts.path, resourceVersion: this.#resourceVersion, timeoutSeconds, ...this.#queryOptions() },
        (event) => {
          if (ended !== undefined) return;
          ended = this.#onWatchEvent(event);
          if (ended !== undefined) ac.abort(new Error('watch ended by an ERROR event'));
          else events++;
        },
        ac.signal,
      );
      return ended === undefined ? { kind: 'closed', events } : withEvents(ended);
    } catch (err) {
      if (this.#stopped) return { kind: 'stopped' };
      if (ended !== undefined) return withEvents(ended);
      if (overdue) return { kind: 'closed', events };
      if (isGone(err)) return { kind: 'gone' };
      return { kind: 'error', error: err, events };
    } finally {
      cancelGuard();
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** Applies one watch event; returns how the watch ended when the event ends it (ERROR). */
  #onWatchEvent(event: WatchEvent): WatchResult | undefined {
    const raw = event.object;
    const rv = resourceVersionOf(raw);
    switch (event.type) {
      case 'BOOKMARK':
        if (rv !== '') this.#resourceVersion = rv;
        return undefined;
      case 'ERROR': {
        const err = KubeRestError.fromStatus(raw, 500, `watch ${this.#opts.path}`);
        return isGone(err) ? { kind: 'gone' } : { kind: 'error', error: err, events: 0 };
      }
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        const key = objectKey(raw);
        if (key !== undefined) {
          if (event.type === 'DELETED' || !this.#keep(raw)) this.#remove(key, this.#transform(raw));
          else this.#upsert(key, this.#transform(raw), rv);
        }
        if (rv !== '') this.#resourceVersion = rv;
        return undefined;
      }
      default:
        this.#log.warn('ignoring unknown watch event type', { type: event.type });
        return undefined;
    }
  }

  #upsert(key: string, object: T, resourceVersion: string): void {
    const old = this.#cache.get(key);
    if (old !== undefined && old.resourceVersion === resourceVersion) return;
    this.#cache.set(key, { object, resourceVersion });
    this.#emit(old === undefined ? { type: 'add', object } : { type: 'update', object, old: old.object });
  }

  #remove(key: string, object: T): void {
    const old = this.#cache.get(key);
    if (old === undefined) return;
    this.#cache.delete(key);
    this.#emit({ type: 'delete', object, old: old.object });
  }

  #emit(event: InformerEvent<T>): void {
    for (const handler of this.#handlers) {
      try {
        handler(event);
      } catch (err) {
        this.#log.error('informer event handler threw', { err, type: event.type });
      }
    }
  }
}
