import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { LeaderElector, LeadershipLostError, LeaseConflictError, type LeaseRecord, type LeaseStore } from './leader-election.js';

/** One Lease in memory, with the API server's optimistic concurrency on resourceVersion. */
class MemoryLease {
  record: LeaseRecord | undefined;
  #rv = 0;
  writes = 0;
  /** Identities whose requests fail (a partitioned candidate). */
  readonly unreachable = new Set<string>();

  storeFor(identity: string): LeaseStore {
    const check = () => {
      if (this.unreachable.has(identity)) return Promise.reject(new Error(`${identity}: connection refused`));
      return Promise.resolve();
    };
    return {
      get: async () => {
        await check();
        return this.record && { ...this.record };
      },
      create: async (r) => {
        await check();
        if (this.record !== undefined) throw new LeaseConflictError('exists');
        return this.#store(r);
      },
      update: async (r) => {
        await check();
        if (this.record === undefined || this.record.resourceVersion !== r.resourceVersion) throw new LeaseConflictError('conflict');
        return this.#store(r);
      },
    };
  }

  #store(r: LeaseRecord): LeaseRecord {
    this.writes++;
    this.record = { ...r, resourceVersion: String(++this.#rv) };
    return { ...this.record };
  }
}

function candidate(lease: MemoryLease, clock: FakeClock, identity: string) {
  const changes: boolean[] = [];
  const elector = new LeaderElector({
    kubeConfig: new KubeConfig(),
    namespace: 'planton-system',
    name: 'helm-release-controller',
    identity,
    clock,
    store: lease.storeFor(identity),
    onLeaderChange: (l) => changes.push(l),
  });
  return { elector, changes };
}

describe('LeaderElector', () => {
  it('creates the lease when absent and keeps renewing it while leading', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    const signal = await a.elector.acquire();
    expect(a.elector.isLeader).toBe(true);
    expect(signal.aborted).toBe(false);
    expect(a.changes).toEqual([true]);
    expect(lease.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 10, leaseTransitions: 0, acquireTimeMs: 0, renewTimeMs: 0 });

    await clock.advance(60_000);
    expect(lease.record?.renewTimeMs).toBe(60_000);
    expect(lease.record?.acquireTimeMs).toBe(0);
    expect(signal.aborted).toBe(false);
    expect(await a.elector.acquire()).toBe(signal);
  });

  it('lets only one of two candidates lead while the leader renews', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    const b = candidate(lease, clock, 'b');
    const [pa, pb] = [a.elector.acquire(), b.elector.acquire()];
    let bLeads = false;
    void pb.then(() => (bLeads = true));
    await pa;
    await clock.advance(120_000);
    expect(a.elector.isLeader).toBe(true);
    expect(b.elector.isLeader).toBe(false);
    expect(bLeads).toBe(false);
    expect(lease.record?.holderIdentity).toBe('a');
    await a.elector.release();
    await clock.advance(2_500);
    await pb;
    expect(b.elector.isLeader).toBe(true);
  });

  it('hands over at once on release: the holder is cleared and the waiting candidate takes it', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    const b = candidate(lease, clock, 'b');
    const aSignal = await a.elector.acquire();
    const pb = b.elector.acquire();
    await clock.advance(30_000);

    await a.elector.release();
    expect(aSignal.aborted).toBe(true);
    expect(aSignal.reason).toBeInstanceOf(LeadershipLostError);
    expect(a.changes).toEqual([true, false]);
    expect(lease.record).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });

    const released = clock.now();
    await clock.advance(2_200);
    await pb;
    expect(lease.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(lease.record?.acquireTimeMs).toBeGreaterThan(released);
    expect(lease.record?.acquireTimeMs).toBeLessThanOrEqual(released + 2_200);
  });

  it('a leader that cannot renew steps down after renewDeadline; the other takes over after the lease duration', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    const b = candidate(lease, clock, 'b');
    const aSignal = await a.elector.acquire();
    const pb = b.elector.acquire();
    await clock.advance(10_000);
    const lastRenew = lease.record?.renewTimeMs ?? 0;

    lease.unreachable.add('a');
    await clock.advance(6_000);
    expect(a.elector.isLeader).toBe(true);
    await clock.advance(lastRenew + 7_000 - clock.now());
    expect(aSignal.aborted).toBe(true);
    expect(a.changes).toEqual([true, false]);
    expect(b.elector.isLeader).toBe(false);

    // b saw the last renew within one retry period of it, and waits a full lease duration from there.
    await clock.advance(lastRenew + 10_000 + 2_200 - clock.now());
    await pb;
    expect(b.elector.isLeader).toBe(true);
    expect(lease.record?.holderIdentity).toBe('b');
    expect(lease.record?.acquireTimeMs).toBeGreaterThanOrEqual(lastRenew + 10_000);
  });

  it('a leader that finds another holder steps down at its next renew', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    const aSignal = await a.elector.acquire();
    const rec = lease.record as LeaseRecord;
    await lease.storeFor('intruder').update({ ...rec, holderIdentity: 'intruder', renewTimeMs: clock.now() });
    await clock.advance(2_000);
    expect(aSignal.aborted).toBe(true);
    expect(a.elector.isLeader).toBe(false);
  });

  it('rejects a pending acquire when its signal aborts, and when release is called', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    await a.elector.acquire();
    const b = candidate(lease, clock, 'b');
    const ac = new AbortController();
    const pb = b.elector.acquire(ac.signal);
    await clock.advance(5_000);
    ac.abort(new Error('shutting down'));
    await expect(pb).rejects.toThrow('shutting down');

    const pb2 = b.elector.acquire();
    await clock.advance(1_000);
    await b.elector.release();
    await expect(pb2).rejects.toBeInstanceOf(LeadershipLostError);
    expect(lease.record?.holderIdentity).toBe('a');
  });

  it('keeps trying through API errors until it can acquire', async () => {
    const clock = new FakeClock(0);
    const lease = new MemoryLease();
    const a = candidate(lease, clock, 'a');
    lease.unreachable.add('a');
    const pa = a.elector.acquire();
    await clock.advance(10_000);
    expect(a.elector.isLeader).toBe(false);
    lease.unreachable.delete('a');
    await clock.advance(2_200);
    await pa;
    expect(lease.record?.holderIdentity).toBe('a');
  });

  it('refuses inconsistent timings', () => {
    expect(
      () =>
        new LeaderElector({ kubeConfig: new KubeConfig(), namespace: 'n', name: 'l', identity: 'a', leaseDurationMs: 5_000, renewDeadlineMs: 7_000 }),
    ).toThrow(RangeError);
  });
});
