// Leader election on a real Lease: two candidates, one leader that the other keeps looking at
// and leaves alone; a release hands the lease over as released (no holder), not expired; a leader
// that stops renewing (a crash) is replaced once its last renew is no longer renewed. How long a
// hand-over takes is the unit tests' business (src/controller/leader-election.test.ts, fake clock).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.js';
import { KubeLeaseStore, LeaderElector, type LeaseRecord, type LeaseStore } from '../../src/controller/leader-election.js';
import { kubeConfig, tempNamespace, waitFor } from '../support/cluster.js';

/** The real clock, until crash(): then no timer of this process fires again and no sleep ends. */
class CrashableClock implements Clock {
  #crashed = false;
  readonly #cancels = new Set<() => void>();

  now(): number {
    return systemClock.now();
  }

  setTimer(fn: () => void, ms: number): () => void {
    if (this.#crashed) return () => undefined;
    const cancel = systemClock.setTimer(() => {
      this.#cancels.delete(cancel);
      if (!this.#crashed) fn();
    }, ms);
    this.#cancels.add(cancel);
    return () => {
      this.#cancels.delete(cancel);
      cancel();
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const cancel = this.setTimer(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          cancel();
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  crash(): void {
    this.#crashed = true;
    for (const cancel of this.#cancels) cancel();
    this.#cancels.clear();
  }
}

const kc = kubeConfig();
const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await tempNamespace('leader'));
});
afterAll(async () => {
  await cleanup();
});

/** The Lease API (KubeLeaseStore), keeping what one candidate read and stored. */
class ObservedLeaseStore implements LeaseStore {
  readonly #real: KubeLeaseStore;
  /** What each get() returned, oldest first: a candidate that does not lead reads once per attempt. */
  readonly reads: LeaseRecord[] = [];
  /** What each successful create() or update() stored, oldest first. */
  readonly writes: LeaseRecord[] = [];

  constructor(name: string) {
    this.#real = new KubeLeaseStore(kc, ns, name);
  }

  async get(): Promise<LeaseRecord | undefined> {
    const rec = await this.#real.get();
    if (rec !== undefined) this.reads.push(rec);
    return rec;
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    const stored = await this.#real.create(record);
    this.writes.push(stored);
    return stored;
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    const stored = await this.#real.update(record);
    this.writes.push(stored);
    return stored;
  }
}

function elector(name: string, identity: string, clock: Clock = systemClock) {
  const changes: boolean[] = [];
  const store = new ObservedLeaseStore(name);
  const e = new LeaderElector({ kubeConfig: kc, namespace: ns, name, identity, clock, store, onLeaderChange: (l) => changes.push(l) });
  return { e, changes, store, identity };
}

/**
 * Waits until `candidate` has read the Lease `times` more times, or leads (a leader renews
 * without reading), and returns the reads made meanwhile.
 */
async function looksAgain(candidate: { e: LeaderElector; store: ObservedLeaseStore }, times: number): Promise<LeaseRecord[]> {
  const from = candidate.store.reads.length;
  return waitFor(`${times} more reads of the Lease`, async () =>
    candidate.e.isLeader || candidate.store.reads.length >= from + times ? candidate.store.reads.slice(from, from + times) : undefined, 60_000, 100);
}

async function holder(name: string): Promise<string> {
  const lease = await coordination.readNamespacedLease({ name, namespace: ns });
  return lease.spec?.holderIdentity ?? '';
}

/** Waits until exactly one of the two acquires resolves; returns [leader, follower]. */
async function firstLeader<T extends { e: LeaderElector }>(a: T, b: T, pa: Promise<AbortSignal>, pb: Promise<AbortSignal>): Promise<[T, T, Promise<AbortSignal>]> {
  const winner = await Promise.race([pa.then(() => 'a' as const), pb.then(() => 'b' as const)]);
  return winner === 'a' ? [a, b, pb] : [b, a, pa];
}

describe('LeaderElector on a real Lease', () => {
  it('elects one of two candidates, which the other leaves alone; after a release the other takes the released lease', async () => {
    const a = elector('release', 'candidate-a');
    const b = elector('release', 'candidate-b');
    const [leader, follower, followerAcquire] = await firstLeader(a, b, a.e.acquire(), b.e.acquire());
    try {
      expect(await holder('release')).toBe(leader.identity);

      // Both running: the follower looks at the lease twice more (a retry period each), finds it
      // held by the leader each time, and does not take it.
      const looks = await looksAgain(follower, 2);
      expect([a.e.isLeader, b.e.isLeader].filter(Boolean)).toHaveLength(1);
      expect(leader.e.isLeader).toBe(true);
      expect(looks.map((r) => r.holderIdentity)).toEqual([leader.identity, leader.identity]);
      expect(leader.changes).toEqual([true]);
      expect(follower.changes).toEqual([]);
      expect(await holder('release')).toBe(leader.identity);
      expect((await coordination.readNamespacedLease({ name: 'release', namespace: ns })).spec?.leaseTransitions).toBe(0);

      await leader.e.release();
      expect(leader.changes).toEqual([true, false]);
      expect(leader.store.writes.at(-1)).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
      await waitFor('the other candidate to lead after the release', async () => (follower.e.isLeader ? true : undefined), 60_000, 100);
      await followerAcquire;
      // Taken because it was released: the follower's last look before leading found no holder
      // (an expired lease would still name the old leader).
      expect(follower.store.reads.at(-1)?.holderIdentity).toBe('');
      expect(follower.changes).toEqual([true]);
      expect(await holder('release')).toBe(follower.identity);
      expect(leader.e.isLeader).toBe(false);
    } finally {
      await a.e.release();
      await b.e.release();
    }
  });

  it('replaces a leader that stops renewing (crash, no release): the other takes over its last renew', async () => {
    const clockA = new CrashableClock();
    const clockB = new CrashableClock();
    const a = elector('crash', 'crashing-a', clockA);
    const b = elector('crash', 'surviving-b', clockB);
    const [leader, follower, followerAcquire] = await firstLeader(a, b, a.e.acquire(), b.e.acquire());
    try {
      // While the leader renews, the follower looks twice more and leaves the lease alone.
      const looks = await looksAgain(follower, 2);
      expect(follower.e.isLeader).toBe(false);
      expect(looks.map((r) => r.holderIdentity)).toEqual([leader.identity, leader.identity]);

      (leader === a ? clockA : clockB).crash();
      await waitFor('the other candidate to take over from the crashed leader', async () => (follower.e.isLeader ? true : undefined), 60_000, 100);
      await followerAcquire;
      expect(await holder('crash')).toBe(follower.identity);
      // What it took over is the record the crashed leader stored last, still naming it: a lease
      // that stopped being renewed, not a released one.
      const taken = follower.store.reads.at(-1);
      expect(taken?.holderIdentity).toBe(leader.identity);
      expect(taken?.resourceVersion).toBe(leader.store.writes.at(-1)?.resourceVersion);
      const lease = await coordination.readNamespacedLease({ name: 'crash', namespace: ns });
      expect(lease.spec?.leaseTransitions).toBe(1);
    } finally {
      await follower.e.release();
    }
  });
});
