import { describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from './clock.js';

describe('FakeClock', () => {
  it('fires due timers in due-time order, ties in creation order, and not before they are due', async () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    clock.setTimer(() => fired.push('b@20'), 20);
    clock.setTimer(() => fired.push('a@10'), 10);
    clock.setTimer(() => fired.push('c@20'), 20);
    clock.setTimer(() => fired.push('d@30'), 30);

    await clock.advance(19);
    expect(fired).toEqual(['a@10']);
    await clock.advance(1);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(1_020);
    expect(clock.pendingTimers).toBe(1);
  });

  it('reports the time of each timer while it fires', async () => {
    const clock = new FakeClock(0);
    const seen: number[] = [];
    clock.setTimer(() => seen.push(clock.now()), 5);
    clock.setTimer(() => seen.push(clock.now()), 7);
    await clock.advance(100);
    expect(seen).toEqual([5, 7]);
    expect(clock.now()).toBe(100);
  });

  it('runs awaited continuations between timers, so a chain of sleeps completes in one advance', async () => {
    const clock = new FakeClock(0);
    const steps: number[] = [];
    const chain = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        await Promise.resolve();
        steps.push(clock.now());
      }
    })();
    await clock.advance(30);
    await chain;
    expect(steps).toEqual([10, 20, 30]);
  });

  it('does not fire a cancelled timer', async () => {
    const clock = new FakeClock(0);
    let fired = false;
    const cancel = clock.setTimer(() => (fired = true), 10);
    cancel();
    cancel();
    await clock.advance(20);
    expect(fired).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects a sleep with the abort reason and drops its timer', async () => {
    const clock = new FakeClock(0);
    const ac = new AbortController();
    const slept = clock.sleep(1_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(slept).rejects.toThrow('stop');
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(5, ac.signal)).rejects.toThrow('stop');
  });

  it('tells how long until the next timer', () => {
    const clock = new FakeClock(0);
    expect(clock.nextTimerInMs).toBeUndefined();
    clock.setTimer(() => undefined, 250);
    expect(clock.nextTimerInMs).toBe(250);
  });
});

describe('systemClock', () => {
  it('sleeps and can be aborted', async () => {
    await systemClock.sleep(1);
    const ac = new AbortController();
    const slept = systemClock.sleep(60_000, ac.signal);
    ac.abort();
    await expect(slept).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('cancels a timer', async () => {
    const fired: string[] = [];
    const cancel = systemClock.setTimer(() => fired.push('cancelled'), 1);
    cancel();
    // Timers of one delay run in the order they were set: once this later one has run, the
    // cancelled one would have run too.
    await new Promise<void>((resolve) =>
      systemClock.setTimer(() => {
        fired.push('later');
        resolve();
      }, 1),
    );
    expect(fired).toEqual(['later']);
  });
});
