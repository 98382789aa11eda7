// Which write an event becomes, the way client-go's EventCorrelator decides it: an event repeated
// (same involved object, type, reason, message, action and reporting component) within the window
// since its last occurrence updates the count and lastTimestamp of the Event already written; any
// other event is a new Event, unless its object has written too many new Events lately (the spam
// filter: a token bucket per object). Pure state over an injected clock; the writes are the
// caller's (KubeHelmReleaseApi.event).
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';

/** What identifies a repeated event; the involved object by its UID. */
export interface EventIdentity {
  readonly objectUid: string;
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly action: string;
  readonly component: string;
}

export type Correlation =
  /** Write a new Event named `name` (count 1, first and last timestamps now). */
  | { readonly kind: 'create'; readonly name: string }
  /** Update Event `name`: this is occurrence `count`, the first was at `firstTimestampMs`. */
  | { readonly kind: 'update'; readonly name: string; readonly count: number; readonly firstTimestampMs: number }
  /** Write nothing: the object exceeded its budget of new Events. */
  | { readonly kind: 'drop' };

export interface EventCorrelatorOptions {
  readonly clock?: Clock;
  /** A repeat this long after the previous occurrence is a new Event. Default 1 h. */
  readonly windowMs?: number;
  /** Events remembered for repeats, and objects for the spam filter (least recently used go first). Default 4096 each. */
  readonly maxEntries?: number;
  /** New Events an object may write at once. Default 25 (client-go's). */
  readonly burst?: number;
  /** One more new Event allowed per this many ms. Default 5 min (client-go's 1/300 per s). */
  readonly refillMs?: number;
  /** Names the new Events (`<prefix>.<suffix>`); random 16 hex characters unless a test fixes them. */
  readonly suffix?: () => string;
}

interface Seen {
  name: string;
  count: number;
  firstMs: number;
  lastMs: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** The API server deletes an Event an hour after its last write (kube-apiserver's --event-ttl default). */
export const DEFAULT_EVENT_WINDOW_MS = 60 * 60 * 1000;

/**
 * Remembers the Events this process wrote, so a repeat becomes an update. Not shared between
 * processes: after a restart a repeat writes a new Event, as with client-go.
 */
export class EventCorrelator {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #max: number;
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #suffix: () => string;
  readonly #seen = new Map<string, Seen>();
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: EventCorrelatorOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#windowMs = opts.windowMs ?? DEFAULT_EVENT_WINDOW_MS;
    this.#max = opts.maxEntries ?? 4096;
    this.#burst = opts.burst ?? 25;
    this.#refillMs = opts.refillMs ?? 5 * 60 * 1000;
    this.#suffix = opts.suffix ?? (() => randomBytes(8).toString('hex'));
  }

  /**
   * Records one occurrence of `e` on the object named `objectName` and says which write it is.
   * The caller writes it, and calls `expired` when an update finds the Event gone.
   */
  correlate(e: EventIdentity, objectName: string): Correlation {
    const now = this.#clock.now();
    const key = identityKey(e);
    const seen = this.#seen.get(key);
    if (seen && now - seen.lastMs < this.#windowMs) {
      seen.count++;
      seen.lastMs = now;
      touch(this.#seen, key, seen);
      return { kind: 'update', name: seen.name, count: seen.count, firstTimestampMs: seen.firstMs };
    }
    if (!this.#take(e.objectUid, now)) return { kind: 'drop' };
    const name = `${objectName}.${this.#suffix()}`;
    touch(this.#seen, key, { name, count: 1, firstMs: now, lastMs: now });
    this.#bound(this.#seen);
    return { kind: 'create', name };
  }

  /**
   * The Event an update was for no longer exists (it expired): the occurrence is written as a new
   * Event, which later repeats update. Not charged to the spam filter: it replaces one that was.
   */
  expired(e: EventIdentity, objectName: string): { readonly name: string } {
    const now = this.#clock.now();
    const name = `${objectName}.${this.#suffix()}`;
    touch(this.#seen, identityKey(e), { name, count: 1, firstMs: now, lastMs: now });
    this.#bound(this.#seen);
    return { name };
  }

  /** Takes one token of the object's bucket, refilled one per refillMs up to burst. */
  #take(uid: string, now: number): boolean {
    const b = this.#buckets.get(uid) ?? { tokens: this.#burst, atMs: now };
    const refilled = Math.floor((now - b.atMs) / this.#refillMs);
    if (refilled > 0) {
      b.tokens = Math.min(this.#burst, b.tokens + refilled);
      b.atMs = b.tokens === this.#burst ? now : b.atMs + refilled * this.#refillMs;
    }
    touch(this.#buckets, uid, b);
    this.#bound(this.#buckets);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  #bound<V>(m: Map<string, V>): void {
    while (m.size > this.#max) {
      const oldest = m.keys().next();
      if (oldest.done === true) return;
      m.delete(oldest.value);
    }
  }
}

/** Moves `key` to the most recently used end of `m`. */
function touch<V>(m: Map<string, V>, key: string, value: V): void {
  m.delete(key);
  m.set(key, value);
}

function identityKey(e: EventIdentity): string {
  // JSON of an array: no separator a message could contain makes two identities one.
  return JSON.stringify([e.objectUid, e.type, e.reason, e.message, e.action, e.component]);
}
