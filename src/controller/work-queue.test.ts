import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { WorkQueue, type QueueMetrics, type ReconcileOutcome, type ReconcileResult } from './work-queue.js';

/** A handler call the test completes by hand. */
interface Call {
  readonly key: string;
  readonly at: number;
  readonly signal: AbortSignal;
  finish(outcome?: ReconcileOutcome): void;
  fail(err: Error): void;
}

class RecordingMetrics implements QueueMetrics {
  adds = 0;
  retries = 0;
  errors = 0;
  lastDepth = -1;
  maxActive = 0;
  maxConcurrent = 0;
  readonly results: ReconcileResult[] = [];
  readonly waits: number[] = [];
  added(): void {
    this.adds++;
  }
  depth(_q: string, depth: number): void {
    this.lastDepth = depth;
  }
  queueWait(_q: string, seconds: number): void {
    this.waits.push(seconds);
  }
  retried(): void {
    this.retries++;
  }
  reconciled(_c: string, result: ReconcileResult): void {
    this.results.push(result);
  }
  reconcileError(): void {
    this.errors++;
  }
  activeWorkers(_c: string, count: number): void {
    this.maxActive = Math.max(this.maxActive, count);
  }
  maxConcurrentReconciles(_c: string, count: number): void {
    this.maxConcurrent = count;
  }
}

/** A queue whose handler parks every call until the test finishes it. */
function manualQueue(concurrency = 4) {
  const clock = new FakeClock(0);
  const metrics = new RecordingMetrics();
  const calls: Call[] = [];
  const queue = new WorkQueue(
    (key, signal) =>
      new Promise<ReconcileOutcome>((resolve, reject) => {
        calls.push({ key, at: clock.now(), signal, finish: (o = {}) => resolve(o), fail: reject });
      }),
    { name: 'helmrelease', concurrency, clock, metrics },
  );
  const open = () => calls.filter((c) => !done.has(c));
  const done = new Set<Call>();
  const finish = async (key: string, outcome?: ReconcileOutcome) => {
    const call = open().find((c) => c.key === key);
    if (call === undefined) throw new Error(`no running call for ${key}`);
    done.add(call);
    call.finish(outcome);
    await clock.flush();
  };
  const fail = async (key: string) => {
    const call = open().find((c) => c.key === key);
    if (call === undefined) throw new Error(`no running call for ${key}`);
    done.add(call);
    call.fail(new Error(`reconcile of ${key} failed`));
    await clock.flush();
  };
  return { clock, metrics, calls, queue, finish, fail, keys: () => calls.map((c) => c.key) };
}

/** A queue whose handler answers at once from a script, recording when each key ran. */
function scriptedQueue(script: (key: string, n: number) => ReconcileOutcome | Error, opts: { maxDelayMs?: number } = {}) {
  const clock = new FakeClock(0);
  const metrics = new RecordingMetrics();
  const runs: { key: string; at: number }[] = [];
  const queue = new WorkQueue(
    async (key) => {
      const n = runs.filter((r) => r.key === key).length;
      runs.push({ key, at: clock.now() });
      const out = script(key, n);
      if (out instanceof Error) throw out;
      return out;
    },
    { name: 'helmrelease', concurrency: 2, clock, metrics, ...opts },
  );
  return { clock, metrics, runs, queue, times: (key: string) => runs.filter((r) => r.key === key).map((r) => r.at) };
}

describe('WorkQueue', () => {
  it('deduplicates keys added before they run', async () => {
    const q = manualQueue();
    q.queue.add('apps/web');
    q.queue.add('apps/web');
    q.queue.add('apps/db');
    q.queue.add('apps/web');
    expect(q.queue.depth).toBe(2);
    q.queue.start();
    await q.clock.flush();
    expect(q.keys()).toEqual(['apps/web', 'apps/db']);
    expect(q.metrics.adds).toBe(2);
  });

  it('runs one handler per key; a key added while running runs exactly once more afterwards', async () => {
    const q = manualQueue();
    q.queue.start();
    q.queue.add('apps/web');
    await q.clock.flush();
    q.queue.add('apps/web');
    q.queue.add('apps/web');
    await q.clock.flush();
    expect(q.keys()).toEqual(['apps/web']);
    expect(q.queue.inFlight).toBe(1);

    await q.finish('apps/web');
    expect(q.keys()).toEqual(['apps/web', 'apps/web']);
    await q.finish('apps/web');
    await q.clock.advance(60_000);
    expect(q.keys()).toEqual(['apps/web', 'apps/web']);
    expect(q.queue.inFlight).toBe(0);
  });

  it('never runs more than `concurrency` handlers, and starts the next key as one finishes', async () => {
    const q = manualQueue(2);
    q.queue.start();
    for (const k of ['a/1', 'a/2', 'a/3', 'a/4', 'a/5']) q.queue.add(k);
    await q.clock.flush();
    expect(q.keys()).toEqual(['a/1', 'a/2']);
    expect(q.queue.inFlight).toBe(2);
    expect(q.queue.depth).toBe(3);

    await q.finish('a/2');
    expect(q.keys()).toEqual(['a/1', 'a/2', 'a/3']);
    await q.finish('a/1');
    await q.finish('a/3');
    await q.finish('a/4');
    await q.finish('a/5');
    expect(q.keys()).toEqual(['a/1', 'a/2', 'a/3', 'a/4', 'a/5']);
    expect(q.metrics.maxActive).toBe(2);
    expect(q.metrics.maxConcurrent).toBe(2);
    expect(q.metrics.lastDepth).toBe(0);
  });

  it('backs off a failing key 1s, 2s, 4s … capped at 15 min, then success resets it', async () => {
    const failuresBeforeSuccess = 12;
    const q = scriptedQueue((key, n) => (n < failuresBeforeSuccess ? new Error(`boom ${key}`) : {}));
    q.queue.start();
    q.queue.add('apps/web');
    await q.clock.advance(2 * 3_600_000);
    const times = q.times('apps/web');
    expect(times).toHaveLength(failuresBeforeSuccess + 1);
    const gaps = times.slice(1).map((t, i) => (t - (times[i] ?? 0)) / 1000);
    expect(gaps).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
    expect(q.metrics.results.filter((r) => r === 'error')).toHaveLength(failuresBeforeSuccess);
    expect(q.metrics.errors).toBe(failuresBeforeSuccess);
    expect(q.metrics.retries).toBe(failuresBeforeSuccess);
    expect(q.metrics.results.at(-1)).toBe('success');
    expect(q.queue.failures('apps/web')).toBe(0);
    expect(q.queue.waiting).toBe(0);
  });

  it('a metric or log line that throws while handling one key fails that key only; the others go on', async () => {
    const clock = new FakeClock(0);
    const metrics = new RecordingMetrics();
    // A metric that throws for one key's results, as prom-client does on a bad label set.
    let poisoned = true;
    metrics.reconciled = () => {
      if (poisoned) throw new Error('Added label "x" is not included in initial labelset');
    };
    metrics.reconcileError = () => {
      throw new Error('metric broken too');
    };
    const ran: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const queue = new WorkQueue(
        async (key) => {
          ran.push(key);
          if (key === 'evil/one') throw new Error('handler failed');
          return {};
        },
        { name: 'helmrelease', concurrency: 1, clock, metrics },
      );
      queue.start();
      queue.add('evil/one');
      queue.add('good/two');
      await clock.flush();
      await new Promise((r) => setImmediate(r));
      poisoned = false;
      queue.add('good/three');
      await clock.flush();
      expect(ran).toEqual(['evil/one', 'good/two', 'good/three']);
      expect(queue.failures('evil/one')).toBe(1);
      expect(queue.failures('good/two')).toBe(0);
      expect(unhandled).toEqual([]);
      await queue.shutdown();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('treats `backoff: true` as a failure for backoff, with result "requeue"', async () => {
    const q = scriptedQueue((_key, n) => (n < 3 ? { backoff: true } : {}));
    q.queue.start();
    q.queue.add('apps/web');
    await q.clock.advance(60_000);
    expect(q.times('apps/web')).toEqual([0, 1_000, 3_000, 7_000]);
    expect(q.metrics.results).toEqual(['requeue', 'requeue', 'requeue', 'success']);
    expect(q.metrics.errors).toBe(0);
  });

  it('requeueAfterMs runs the key again after that delay and resets its failures', async () => {
    const q = scriptedQueue((_key, n) => (n < 2 ? new Error('flaky') : n < 4 ? { requeueAfterMs: 600_000 } : {}));
    q.queue.start();
    q.queue.add('apps/web');
    await q.clock.advance(2_999);
    expect(q.queue.failures('apps/web')).toBe(2);
    await q.clock.advance(1 + 2 * 600_000);
    expect(q.times('apps/web')).toEqual([0, 1_000, 3_000, 603_000, 1_203_000]);
    expect(q.metrics.results).toEqual(['error', 'error', 'requeue_after', 'requeue_after', 'success']);
    expect(q.queue.failures('apps/web')).toBe(0);
  });

  it('requeueAfterMs 0 runs the key again at once', async () => {
    const q = scriptedQueue((_key, n) => (n < 2 ? { requeueAfterMs: 0 } : {}));
    q.queue.start();
    q.queue.add('apps/web');
    await q.clock.advance(0);
    expect(q.times('apps/web')).toEqual([0, 0, 0]);
    expect(q.metrics.results).toEqual(['requeue_after', 'requeue_after', 'success']);
  });

  it('addAfter keeps the earliest due time, and add makes a delayed key due now', async () => {
    const q = manualQueue();
    q.queue.start();
    q.queue.addAfter('apps/web', 10_000);
    q.queue.addAfter('apps/web', 30_000);
    q.queue.addAfter('apps/web', 5_000);
    expect(q.queue.waiting).toBe(1);
    await q.clock.advance(4_999);
    expect(q.keys()).toEqual([]);
    await q.clock.advance(1);
    expect(q.calls.map((c) => [c.key, c.at])).toEqual([['apps/web', 5_000]]);
    await q.finish('apps/web');

    q.queue.addAfter('apps/db', 60_000);
    await q.clock.advance(1_000);
    q.queue.add('apps/db');
    await q.clock.flush();
    expect(q.calls.map((c) => [c.key, c.at])).toEqual([['apps/web', 5_000], ['apps/db', 1_000 + 5_000]]);
    await q.finish('apps/db');
    await q.clock.advance(120_000);
    expect(q.calls).toHaveLength(2);
  });

  it('a key that finishes with success and is not added again just stops', async () => {
    const q = scriptedQueue(() => ({}));
    q.queue.start();
    q.queue.add('apps/gone');
    await q.clock.advance(3_600_000);
    expect(q.times('apps/gone')).toEqual([0]);
    expect(q.queue.depth + q.queue.inFlight + q.queue.waiting).toBe(0);
  });

  it('measures the queue wait from the add to the start', async () => {
    const q = manualQueue(1);
    q.queue.start();
    q.queue.add('a/1');
    q.queue.add('a/2');
    await q.clock.advance(2_500);
    await q.finish('a/1');
    expect(q.metrics.waits).toEqual([0, 2.5]);
  });

  it('shutdown waits for running handlers, drops pending keys, and ignores later adds', async () => {
    const q = manualQueue(1);
    q.queue.start();
    q.queue.add('a/1');
    q.queue.add('a/2');
    q.queue.addAfter('a/3', 1_000);
    await q.clock.flush();

    let drained = false;
    const shutdown = q.queue.shutdown().then(() => (drained = true));
    q.queue.add('a/4');
    q.queue.add('a/1');
    await q.clock.advance(5_000);
    expect(drained).toBe(false);
    expect(q.calls[0]?.signal.aborted).toBe(false);

    await q.finish('a/1', { requeueAfterMs: 1 });
    await shutdown;
    expect(drained).toBe(true);
    await q.clock.advance(60_000);
    expect(q.keys()).toEqual(['a/1']);
    expect(q.queue.depth + q.queue.inFlight + q.queue.waiting).toBe(0);
  });

  it('shutdown with abortInFlight aborts the running handlers’ signals', async () => {
    const q = manualQueue(2);
    q.queue.start();
    q.queue.add('a/1');
    q.queue.add('a/2');
    await q.clock.flush();
    const shutdown = q.queue.shutdown({ abortInFlight: true });
    expect(q.calls.map((c) => c.signal.aborted)).toEqual([true, true]);
    await q.fail('a/1');
    await q.finish('a/2');
    await shutdown;
    expect(q.metrics.results.sort()).toEqual(['error', 'success']);
  });

  it('resolves shutdown at once when nothing is running, and rejects a bad concurrency', async () => {
    const q = manualQueue();
    await q.queue.shutdown();
    expect(() => new WorkQueue(async () => ({}), { name: 'x', concurrency: 0 })).toThrow(/concurrency/);
  });
});
