import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { EventCorrelator, type EventIdentity } from './event-correlator.js';

const MIN = 60_000;

const drift: EventIdentity = {
  objectUid: 'uid-web',
  type: 'Warning',
  reason: 'DriftDetected',
  message: '1 object(s) differ from the release manifest',
  action: 'DetectDrift',
  component: 'planton-helm-controller',
};

/** A correlator over a fake clock whose Event names are web.1, web.2, ... */
function correlator(opts: { windowMs?: number; maxEntries?: number; burst?: number; refillMs?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  let n = 0;
  return { clock, c: new EventCorrelator({ clock, suffix: () => String(++n), ...opts }) };
}

describe('EventCorrelator', () => {
  it('turns repeats within the window into updates of one Event, counting them', async () => {
    const { clock, c } = correlator({ windowMs: 60 * MIN });
    const first = clock.now();
    expect(c.correlate(drift, 'web')).toEqual({ kind: 'create', name: 'web.1' });
    await clock.advance(10 * MIN);
    expect(c.correlate(drift, 'web')).toEqual({ kind: 'update', name: 'web.1', count: 2, firstTimestampMs: first });
    // The window runs from the last occurrence: a release drifting every 50 minutes keeps one Event.
    await clock.advance(50 * MIN);
    expect(c.correlate(drift, 'web')).toEqual({ kind: 'update', name: 'web.1', count: 3, firstTimestampMs: first });
    await clock.advance(60 * MIN);
    expect(c.correlate(drift, 'web')).toEqual({ kind: 'create', name: 'web.2' });
  });

  it.each([
    ['object', { objectUid: 'uid-db' }],
    ['type', { type: 'Normal' }],
    ['reason', { reason: 'DriftCorrected' }],
    ['message', { message: '2 object(s) differ from the release manifest' }],
    ['action', { action: 'Reconcile' }],
    ['reporting component', { component: 'another-controller' }],
  ] as const)('an event with another %s is a new Event', (_what, change) => {
    const { c } = correlator();
    c.correlate(drift, 'web');
    expect(c.correlate({ ...drift, ...change }, 'web')).toEqual({ kind: 'create', name: 'web.2' });
    expect(c.correlate(drift, 'web')).toMatchObject({ kind: 'update', name: 'web.1', count: 2 });
  });

  it('writes an expired Event anew, and later repeats update the new one', () => {
    const { c } = correlator();
    c.correlate(drift, 'web');
    expect(c.correlate(drift, 'web')).toMatchObject({ kind: 'update', name: 'web.1' });
    expect(c.expired(drift, 'web')).toEqual({ name: 'web.2' });
    expect(c.correlate(drift, 'web')).toMatchObject({ kind: 'update', name: 'web.2', count: 2 });
  });

  it('drops new Events of an object past its burst, one more allowed per refill, repeats still counted', async () => {
    const { clock, c } = correlator({ burst: 3, refillMs: 5 * MIN });
    const distinct = (i: number): EventIdentity => ({ ...drift, message: `${i} object(s) differ from the release manifest` });
    expect([1, 2, 3, 4].map((i) => c.correlate(distinct(i), 'web').kind)).toEqual(['create', 'create', 'create', 'drop']);
    // Another object has a bucket of its own.
    expect(c.correlate({ ...drift, objectUid: 'uid-db' }, 'db').kind).toBe('create');
    // A repeat of an Event already written is an update, not a new Event: never dropped.
    expect(c.correlate(distinct(1), 'web')).toMatchObject({ kind: 'update', count: 2 });
    await clock.advance(5 * MIN);
    expect([5, 6].map((i) => c.correlate(distinct(i), 'web').kind)).toEqual(['create', 'drop']);
    await clock.advance(60 * MIN);
    expect([7, 8, 9, 10].map((i) => c.correlate(distinct(i), 'web').kind)).toEqual(['create', 'create', 'create', 'drop']);
  });

  it('remembers at most maxEntries events, least recently used forgotten first', () => {
    const { c } = correlator({ maxEntries: 2, burst: 100 });
    const a = { ...drift, message: 'a' };
    const b = { ...drift, message: 'b' };
    const third = { ...drift, message: 'c' };
    c.correlate(a, 'web');
    c.correlate(b, 'web');
    c.correlate(a, 'web');
    c.correlate(third, 'web');
    // b was the least recently used: forgotten, so its repeat is a new Event; a is still known.
    expect(c.correlate(b, 'web')).toMatchObject({ kind: 'create' });
    expect(c.correlate(third, 'web')).toMatchObject({ kind: 'update', count: 2 });
  });

  it('names new Events after the object with 16 random hex characters by default', () => {
    const c = new EventCorrelator();
    const made = c.correlate(drift, 'web');
    expect(made.kind === 'create' && made.name).toMatch(/^web\.[0-9a-f]{16}$/);
  });
});
