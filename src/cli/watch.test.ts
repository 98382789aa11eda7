import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { HelmRelease, HelmReleaseApi, ListResponse, WatchResponse } from './client.js';
import { WatchEventType } from './client.js';
import { ApiError } from './errors.js';
import { backoffMs, type RetryPolicy, watchHelmReleases } from './watch.js';

const hr = (name: string, resourceVersion: string): HelmRelease => ({ namespace: 'n', name, labels: {}, generation: 1, resourceVersion, uid: name });
const ev = (type: WatchEventType, name: string, rv: string): WatchResponse => ({ type, helmRelease: hr(name, rv) });

/** One scripted stream: its events, then how it ends (undefined: the server closes it). */
interface Stream {
  readonly events: WatchResponse[];
  readonly end?: number;
}

/** A HelmReleaseApi whose Watch plays `streams` in order and whose List answers `lists` in order. */
function scriptedApi(streams: Stream[], lists: ListResponse[] = []) {
  const watchedFrom: string[] = [];
  const api = {
    watch: async function* (req: { resourceVersion?: string }) {
      watchedFrom.push(req.resourceVersion ?? '');
      const s = streams.shift();
      if (s === undefined) throw new Error('the test scripted no more streams');
      for (const e of s.events) yield e;
      if (s.end !== undefined) throw new ApiError(s.end, `stream ended with ${s.end}`);
    },
    list: async () => {
      const l = lists.shift();
      if (l === undefined) throw new Error('the test scripted no more lists');
      return l;
    },
  } as unknown as HelmReleaseApi;
  return { api, watchedFrom };
}

/** No sleeping: the delays asked for are recorded; the clock stands still. */
function instantRetry(maxRetries = 3) {
  const delays: number[] = [];
  const policy: RetryPolicy = { maxRetries, baseDelayMs: 500, maxDelayMs: 4_000, healthyStreamMs: 30_000, now: () => 0, sleep: async (ms) => void delays.push(ms) };
  return { policy, delays };
}

/** Runs the watch until `count` events were delivered (then aborts it), or until it ends by itself. */
async function collect(api: HelmReleaseApi, count: number, policy: RetryPolicy) {
  const seen: string[] = [];
  const stop = new AbortController();
  const done = watchHelmReleases(api, { namespace: 'n' }, (type, h) => {
    seen.push(`${['UNSPECIFIED', 'ADDED', 'MODIFIED', 'DELETED'][type]} ${h.name}@${h.resourceVersion}`);
    if (seen.length >= count) stop.abort();
  }, stop.signal, policy);
  return { seen, done };
}

describe('watchHelmReleases', () => {
  it('resumes from the last resource version when the stream breaks with UNAVAILABLE, delivering each event once', async () => {
    const { api, watchedFrom } = scriptedApi([
      { events: [ev(WatchEventType.ADDED, 'a', '10'), ev(WatchEventType.MODIFIED, 'a', '11')], end: GrpcStatus.UNAVAILABLE },
      { events: [], end: GrpcStatus.UNAVAILABLE },
      { events: [ev(WatchEventType.MODIFIED, 'a', '12')] },
    ]);
    const { policy, delays } = instantRetry();
    const { seen, done } = await collect(api, 3, policy);
    await done;
    expect(seen).toEqual(['ADDED a@10', 'MODIFIED a@11', 'MODIFIED a@12']);
    expect(watchedFrom).toEqual(['', '11', '11']);
    expect(delays).toEqual([500, 1_000]);
  });

  it('resumes when the server ends the stream cleanly (a restart or a drain)', async () => {
    const { api, watchedFrom } = scriptedApi([{ events: [ev(WatchEventType.ADDED, 'a', '5')] }, { events: [ev(WatchEventType.MODIFIED, 'a', '6')] }]);
    const { seen, done } = await collect(api, 2, instantRetry().policy);
    await done;
    expect(seen).toEqual(['ADDED a@5', 'MODIFIED a@6']);
    expect(watchedFrom).toEqual(['', '5']);
  });

  it('lists again on OUT_OF_RANGE and delivers only what changed meanwhile, then watches from the list', async () => {
    const list: ListResponse = { helmReleases: [hr('a', '10'), hr('b', '30'), hr('c', '31')], nextPageToken: '', resourceVersion: '40' };
    const { api, watchedFrom } = scriptedApi(
      [
        { events: [ev(WatchEventType.ADDED, 'a', '10'), ev(WatchEventType.ADDED, 'b', '11'), ev(WatchEventType.ADDED, 'gone', '12')], end: GrpcStatus.OUT_OF_RANGE },
        { events: [ev(WatchEventType.MODIFIED, 'c', '41')] },
      ],
      [list],
    );
    const { seen, done } = await collect(api, 7, instantRetry().policy);
    await done;
    // a did not change: not delivered again. b changed, c is new, gone was deleted meanwhile.
    expect(seen).toEqual(['ADDED a@10', 'ADDED b@11', 'ADDED gone@12', 'MODIFIED b@30', 'ADDED c@31', 'DELETED gone@12', 'MODIFIED c@41']);
    expect(watchedFrom).toEqual(['', '40']);
  });

  it('gives up with UNAVAILABLE after the retries, backing off each time', async () => {
    const { api } = scriptedApi(Array.from({ length: 4 }, () => ({ events: [], end: GrpcStatus.UNAVAILABLE })));
    const { policy, delays } = instantRetry(3);
    const { done } = await collect(api, 1, policy);
    await expect(done).rejects.toThrow('UNAVAILABLE: watch gave up after 3 retries: stream ended with 14');
    expect(delays).toEqual([500, 1_000, 2_000]);
  });

  it('does not retry an error retrying cannot cure', async () => {
    const { api, watchedFrom } = scriptedApi([{ events: [], end: GrpcStatus.PERMISSION_DENIED }]);
    const { done } = await collect(api, 1, instantRetry().policy);
    await expect(done).rejects.toThrow('PERMISSION_DENIED');
    expect(watchedFrom).toEqual(['']);
  });

  it('starts over the retry count after events arrive', async () => {
    const { api } = scriptedApi([
      { events: [], end: GrpcStatus.UNAVAILABLE },
      { events: [], end: GrpcStatus.UNAVAILABLE },
      { events: [ev(WatchEventType.ADDED, 'a', '1')], end: GrpcStatus.UNAVAILABLE },
      { events: [], end: GrpcStatus.UNAVAILABLE },
      { events: [ev(WatchEventType.MODIFIED, 'a', '2')] },
    ]);
    const { policy, delays } = instantRetry(2);
    const { seen, done } = await collect(api, 2, policy);
    await done;
    expect(seen).toEqual(['ADDED a@1', 'MODIFIED a@2']);
    expect(delays).toEqual([500, 1_000, 500, 1_000]);
  });
});

describe('backoffMs', () => {
  it('doubles from the base up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, { baseDelayMs: 500, maxDelayMs: 10_000 }))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000]);
  });
});
