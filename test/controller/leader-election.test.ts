// Leader election on a real Lease: two candidates, one leader; a release hands over at once; a
// leader that stops renewing (a crash) is replaced after the lease duration.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.js';
import { LeaderElector } from '../../src/controller/leader-election.js';
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

function elector(name: string, identity: string, clock: Clock = systemClock) {
  const changes: boolean[] = [];
  const e = new LeaderElector({ kubeConfig: kc, namespace: ns, name, identity, clock, onLeaderChange: (l) => changes.push(l) });
  return { e, changes };
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
  it('elects one of two candidates; after a release the other leads within 15 s', async () => {
    const a = elector('release', 'candidate-a');
    const b = elector('release', 'candidate-b');
    const [leader, follower, followerAcquire] = await firstLeader(a, b, a.e.acquire(), b.e.acquire());
    try {
      const leaderIdentity = leader === a ? 'candidate-a' : 'candidate-b';
      const followerIdentity = leader === a ? 'candidate-b' : 'candidate-a';
      expect(await holder('release')).toBe(leaderIdentity);

      // A few retry periods with both running: still one leader, the same one.
      await new Promise((r) => setTimeout(r, 5_000));
      expect([a.e.isLeader, b.e.isLeader].filter(Boolean)).toHaveLength(1);
      expect(leader.e.isLeader).toBe(true);
      expect(await holder('release')).toBe(leaderIdentity);

      await leader.e.release();
      expect(leader.changes).toEqual([true, false]);
      await waitFor('the other candidate to lead after the release', async () => (follower.e.isLeader ? true : undefined), 15_000, 100);
      await followerAcquire;
      expect(await holder('release')).toBe(followerIdentity);
      expect(leader.e.isLeader).toBe(false);
    } finally {
      await a.e.release();
      await b.e.release();
    }
  });

  it('replaces a leader that stops renewing (crash, no release) after the lease duration, within 15 s', async () => {
    const clockA = new CrashableClock();
    const clockB = new CrashableClock();
    const a = elector('crash', 'crashing-a', clockA);
    const b = elector('crash', 'surviving-b', clockB);
    const [leader, follower, followerAcquire] = await firstLeader(a, b, a.e.acquire(), b.e.acquire());
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      expect(follower.e.isLeader).toBe(false);

      (leader === a ? clockA : clockB).crash();
      await waitFor('the other candidate to take over from the crashed leader', async () => (follower.e.isLeader ? true : undefined), 15_000, 100);
      await followerAcquire;
      expect(await holder('crash')).toBe(leader === a ? 'surviving-b' : 'crashing-a');
      const lease = await coordination.readNamespacedLease({ name: 'crash', namespace: ns });
      expect(lease.spec?.leaseTransitions).toBe(1);
    } finally {
      await follower.e.release();
    }
  });
});
