// A watch of HelmReleases that survives a broken stream: it resumes from the last resource
// version it delivered when the stream fails with UNAVAILABLE or the server ends it (a restart
// or a drain), with bounded retries and exponential backoff, and lists again when that version
// is too old for the server (OUT_OF_RANGE), delivering only what changed meanwhile. So each
// change is delivered once, in order, across controller restarts.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { type HelmRelease, type HelmReleaseApi, WatchEventType } from './client.js';
import { ApiError } from './errors.js';

/** What to watch: one namespace (or every one, `''`), optionally one name or a label selector. */
export interface WatchTarget {
  readonly namespace: string;
  readonly name?: string | undefined;
  readonly labelSelector?: string | undefined;
}

/** How a broken stream is retried. Injectable so that tests never sleep. */
export interface RetryPolicy {
  /** Consecutive failed attempts allowed before giving up. */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A stream open at least this long counts as a success (the failure count restarts). */
  readonly healthyStreamMs: number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now: () => number;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal.aborted) return done();
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      done();
    }
    signal.addEventListener('abort', finish, { once: true });
  });
}

/**
 * 10 attempts, 0.5 s doubling to 10 s: a controller restart (a few seconds) is ridden out, a
 * server that stays down is reported after about a minute.
 */
export const DEFAULT_RETRY: RetryPolicy = {
  maxRetries: 10,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  healthyStreamMs: 30_000,
  sleep: abortableSleep,
  now: () => Date.now(),
};

/** Delay before retry number `attempt` (1-based). */
export function backoffMs(attempt: number, p: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>): number {
  return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

export type WatchListener = (type: WatchEventType, hr: HelmRelease) => void;

const key = (hr: HelmRelease) => `${hr.namespace}/${hr.name}`;

/** Upper bound on list pages read for one re-list. */
const MAX_LIST_PAGES = 10_000;

/**
 * Delivers every event to `listener` until `signal` aborts (then it resolves), starting with
 * every matching HelmRelease (ADDED) or, when `from` is a resource version, with the changes
 * after it. Throws ApiError
 * for an error that retrying cannot cure (PERMISSION_DENIED, NOT_FOUND...), or UNAVAILABLE once
 * the retries are used up.
 */
export async function watchHelmReleases(
  api: HelmReleaseApi,
  target: WatchTarget,
  listener: WatchListener,
  signal: AbortSignal,
  policy: RetryPolicy = DEFAULT_RETRY,
  from = '',
): Promise<void> {
  const known = new Map<string, HelmRelease>();
  let resourceVersion = from;
  let failures = 0;
  let lastError: ApiError | undefined;
  const deliver = (type: WatchEventType, hr: HelmRelease) => {
    if (type === WatchEventType.DELETED) known.delete(key(hr));
    else known.set(key(hr), hr);
    if (hr.resourceVersion) resourceVersion = hr.resourceVersion;
    listener(type, hr);
  };
  while (!signal.aborted) {
    const opened = policy.now();
    try {
      for await (const event of api.watch({ ...target, resourceVersion }, signal)) {
        failures = 0;
        if (event.helmRelease) deliver(event.type, event.helmRelease);
      }
      if (signal.aborted) return;
      lastError = new ApiError(GrpcStatus.UNAVAILABLE, 'the server ended the watch');
    } catch (err) {
      if (signal.aborted) return;
      const e = ApiError.from(err);
      if (e.code === GrpcStatus.OUT_OF_RANGE) {
        try {
          resourceVersion = await relist(api, target, known, deliver);
          failures = 0;
          continue;
        } catch (relistErr) {
          const r = ApiError.from(relistErr);
          if (r.code !== GrpcStatus.UNAVAILABLE) throw r;
          lastError = r;
        }
      } else if (e.code === GrpcStatus.UNAVAILABLE) {
        lastError = e;
      } else {
        throw e;
      }
    }
    if (policy.now() - opened >= policy.healthyStreamMs) failures = 0;
    failures++;
    if (failures > policy.maxRetries) {
      throw new ApiError(GrpcStatus.UNAVAILABLE, `watch gave up after ${policy.maxRetries} retries: ${lastError?.details ?? 'the stream kept breaking'}`);
    }
    await policy.sleep(backoffMs(failures, policy), signal);
  }
}

/**
 * Lists the target again and delivers what differs from what was delivered before: ADDED for
 * a new HelmRelease, MODIFIED for one whose resource version changed, DELETED (with its last
 * known state) for one that is gone. Returns the list's resource version to watch from.
 */
async function relist(api: HelmReleaseApi, target: WatchTarget, known: Map<string, HelmRelease>, deliver: WatchListener): Promise<string> {
  const listed = new Map<string, HelmRelease>();
  let pageToken = '';
  let resourceVersion = '';
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const res = await api.list({ namespace: target.namespace, labelSelector: target.labelSelector ?? '', pageToken });
    if (page === 0) resourceVersion = res.resourceVersion;
    for (const hr of res.helmReleases) if (!target.name || hr.name === target.name) listed.set(key(hr), hr);
    pageToken = res.nextPageToken;
    if (!pageToken) break;
  }
  for (const [k, hr] of listed) {
    const before = known.get(k);
    if (before === undefined) deliver(WatchEventType.ADDED, hr);
    else if (before.resourceVersion !== hr.resourceVersion) deliver(WatchEventType.MODIFIED, hr);
  }
  for (const [k, hr] of [...known]) if (!listed.has(k)) deliver(WatchEventType.DELETED, hr);
  return resourceVersion;
}
