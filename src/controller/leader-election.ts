// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: every write is
// conditional on the resourceVersion last read (optimistic concurrency), a lease is taken over
// when its holder is empty or when it has not changed for its lease duration, and a leader that
// cannot renew within renewDeadline steps down before anyone else may take over.
import { ApiException, CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  /** Unique per process (e.g. pod name + random suffix): two processes with one identity both lead. */
  readonly identity: string;
  /** How long a lease stays valid after its last renew. Default 10000. */
  readonly leaseDurationMs?: number;
  /** The leader steps down when it could not renew for this long. Default 7000 (< leaseDurationMs). */
  readonly renewDeadlineMs?: number;
  /** Interval between renew and acquire attempts. Default 2000. */
  readonly retryPeriodMs?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly onLeaderChange?: (isLeader: boolean) => void;
  /** Where the Lease is read and written; the Lease API through kubeConfig when omitted. */
  readonly store?: LeaseStore;
}

/** The fields of a Lease that leader election uses; times in ms since the epoch. */
export interface LeaseRecord {
  /** '' when nobody holds the lease (released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTimeMs?: number;
  readonly renewTimeMs?: number;
  readonly leaseTransitions: number;
  /** The version this record was read or written at; '' for a record not yet stored. */
  readonly resourceVersion: string;
}

/** Storage of one Lease. */
export interface LeaseStore {
  /** The current record, or undefined when the Lease does not exist. */
  get(): Promise<LeaseRecord | undefined>;
  /** Creates the Lease; throws LeaseConflictError when it already exists. */
  create(record: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces the Lease if it is still at `record.resourceVersion`; throws LeaseConflictError otherwise. */
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

/** The Lease changed since it was read (HTTP 409): someone else wrote it first. */
export class LeaseConflictError extends Error {
  override readonly name = 'LeaseConflictError';
}

/** The reason of the leadership signal when leadership ends. */
export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

function millis(t: unknown): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = new Date(t as string | Date).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** The Lease API of the cluster. Fields of the Lease this module does not manage are kept. */
export class KubeLeaseStore implements LeaseStore {
  readonly #api: CoordinationV1Api;
  #last: V1Lease | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.#api = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async get(): Promise<LeaseRecord | undefined> {
    try {
      return this.#remember(await this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace }));
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace },
      spec: this.#spec(record, undefined),
    };
    return this.#write(() => this.#api.createNamespacedLease({ namespace: this.namespace, body }));
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    const base = this.#last;
    const body: V1Lease = {
      ...base,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...base?.metadata, name: this.name, namespace: this.namespace, resourceVersion: record.resourceVersion },
      spec: this.#spec(record, base),
    };
    return this.#write(() => this.#api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body }));
  }

  async #write(call: () => Promise<V1Lease>): Promise<LeaseRecord> {
    try {
      return this.#remember(await call());
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) throw new LeaseConflictError(`lease ${this.namespace}/${this.name} changed concurrently`);
      throw err;
    }
  }

  #spec(r: LeaseRecord, base: V1Lease | undefined): V1Lease['spec'] {
    return {
      ...base?.spec,
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      leaseTransitions: r.leaseTransitions,
      ...(r.acquireTimeMs !== undefined ? { acquireTime: new V1MicroTime(r.acquireTimeMs) } : {}),
      ...(r.renewTimeMs !== undefined ? { renewTime: new V1MicroTime(r.renewTimeMs) } : {}),
    };
  }

  #remember(lease: V1Lease): LeaseRecord {
    this.#last = lease;
    const spec = lease.spec ?? {};
    const acquireTimeMs = millis(spec.acquireTime);
    const renewTimeMs = millis(spec.renewTime);
    return {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      leaseTransitions: spec.leaseTransitions ?? 0,
      resourceVersion: lease.metadata?.resourceVersion ?? '',
      ...(acquireTimeMs !== undefined ? { acquireTimeMs } : {}),
      ...(renewTimeMs !== undefined ? { renewTimeMs } : {}),
    };
  }
}

type Attempt = 'held' | 'other' | 'conflict';

/**
 * One candidate for one Lease. `acquire()` waits until this process leads and returns a signal
 * that aborts (with a LeadershipLostError) when leadership ends: renew failed past the deadline,
 * another holder was found, or release() was called. After that the caller decides: stop the
 * process (what controller-runtime does) or call acquire() again.
 *
 * Expiry is judged with the local clock from when this candidate last saw the Lease change, not
 * from the renewTime written by the holder, so clock skew between machines cannot make two
 * leaders (client-go's rule). A crashed leader is therefore replaced between leaseDuration and
 * leaseDuration + retryPeriod after its last renew.
 */
export class LeaderElector {
  readonly #identity: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #store: LeaseStore;
  readonly #onLeaderChange: ((isLeader: boolean) => void) | undefined;

  /** The last record seen or written, and the local time it was first seen at that version. */
  #observed: LeaseRecord | undefined;
  #observedAt = 0;
  #leadership: AbortController | undefined;
  #acquiring: { promise: Promise<AbortSignal>; abort: AbortController } | undefined;
  #cancelRenew: (() => void) | undefined;
  #cancelDeadline: (() => void) | undefined;
  /** The store call in progress, so release() never races a renew. */
  #inflight: Promise<unknown> = Promise.resolve();

  constructor(opts: LeaderElectionOptions) {
    this.#identity = opts.identity;
    this.#leaseDurationMs = opts.leaseDurationMs ?? 10_000;
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 7_000;
    this.#retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.#retryPeriodMs < this.#renewDeadlineMs && this.#renewDeadlineMs < this.#leaseDurationMs)) {
      throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration');
    }
    if (opts.identity === '') throw new RangeError('leader election needs a non-empty identity');
    this.#clock = opts.clock ?? systemClock;
    this.#log = (opts.log ?? silentLogger).child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    this.#store = opts.store ?? new KubeLeaseStore(opts.kubeConfig, opts.namespace, opts.name);
    this.#onLeaderChange = opts.onLeaderChange;
  }

  get isLeader(): boolean {
    return this.#leadership !== undefined;
  }

  /**
   * Resolves once this process holds the lease; the returned signal aborts when leadership is
   * lost. Rejects with `signal.reason` when `signal` aborts first, or when release() is called
   * while waiting. Concurrent calls share one attempt.
   */
  acquire(signal?: AbortSignal): Promise<AbortSignal> {
    if (this.#leadership !== undefined) return Promise.resolve(this.#leadership.signal);
    if (this.#acquiring !== undefined) return this.#acquiring.promise;
    const abort = new AbortController();
    const stop = signal === undefined ? abort.signal : AbortSignal.any([signal, abort.signal]);
    const promise = this.#acquireLoop(stop).finally(() => {
      this.#acquiring = undefined;
    });
    this.#acquiring = { promise, abort };
    return promise;
  }

  /**
   * Stops renewing and, if this process holds the lease, writes it back with no holder (and a
   * 1 s duration, as client-go does) so another candidate takes over at once. The leadership
   * signal aborts first, so work under it stops before anyone else can start.
   */
  async release(): Promise<void> {
    this.#acquiring?.abort.abort(new LeadershipLostError('leader election released'));
    this.#stepDown('released');
    await this.#inflight.catch(() => undefined);
    const rec = this.#observed;
    if (rec === undefined || rec.holderIdentity !== this.#identity) return;
    const now = this.#clock.now();
    const released: LeaseRecord = { ...rec, holderIdentity: '', leaseDurationSeconds: 1, acquireTimeMs: now, renewTimeMs: now };
    try {
      this.#observe(await this.#track(this.#store.update(released)));
      this.#log.info('released the lease');
    } catch (err) {
      // Not fatal: the lease then expires after its duration instead of at once.
      this.#log.warn('could not release the lease', { err });
    }
  }

  async #acquireLoop(stop: AbortSignal): Promise<AbortSignal> {
    for (;;) {
      stop.throwIfAborted();
      let attempt: Attempt | undefined;
      try {
        attempt = await this.#track(this.#tryAcquireOrRenew());
      } catch (err) {
        this.#log.warn('could not read or write the lease', { err });
      }
      if (stop.aborted) {
        // Leadership won in the same instant the caller gave up: hand it back.
        if (attempt === 'held') await this.release();
        stop.throwIfAborted();
      }
      if (attempt === 'held') return this.#becomeLeader();
      await this.#clock.sleep(this.#nextAttemptInMs(), stop);
    }
  }

  /** The retry period (with up to 10% jitter), or less when the observed lease expires sooner. */
  #nextAttemptInMs(): number {
    const retry = this.#retryPeriodMs * (1 + 0.1 * Math.random());
    const rec = this.#observed;
    if (rec === undefined || rec.holderIdentity === '' || rec.holderIdentity === this.#identity) return retry;
    const expiresIn = this.#observedAt + this.#durationMs(rec) - this.#clock.now();
    return Math.max(0, Math.min(retry, expiresIn));
  }

  #becomeLeader(): AbortSignal {
    const leadership = new AbortController();
    this.#leadership = leadership;
    this.#scheduleRenew();
    this.#resetDeadline();
    this.#log.info('became leader', { leaseTransitions: this.#observed?.leaseTransitions });
    this.#notify(true);
    return leadership.signal;
  }

  #stepDown(why: string): void {
    this.#cancelRenew?.();
    this.#cancelDeadline?.();
    this.#cancelRenew = undefined;
    this.#cancelDeadline = undefined;
    const leadership = this.#leadership;
    if (leadership === undefined) return;
    this.#leadership = undefined;
    leadership.abort(new LeadershipLostError(`leadership of the lease ended: ${why}`));
    this.#log.info('stopped leading', { reason: why });
    this.#notify(false);
  }

  #notify(isLeader: boolean): void {
    try {
      this.#onLeaderChange?.(isLeader);
    } catch (err) {
      this.#log.error('onLeaderChange threw', { err });
    }
  }

  #scheduleRenew(): void {
    this.#cancelRenew = this.#clock.setTimer(() => void this.#renew(), this.#retryPeriodMs);
  }

  /** The leader steps down when no renew succeeded for renewDeadline, even if a request hangs. */
  #resetDeadline(): void {
    this.#cancelDeadline?.();
    this.#cancelDeadline = this.#clock.setTimer(
      () => this.#stepDown(`not renewed within ${this.#renewDeadlineMs} ms`),
      this.#renewDeadlineMs,
    );
  }

  async #renew(): Promise<void> {
    const leadership = this.#leadership;
    if (leadership === undefined) return;
    let attempt: Attempt | undefined;
    try {
      attempt = await this.#track(this.#tryAcquireOrRenew());
    } catch (err) {
      this.#log.warn('could not renew the lease', { err });
    }
    if (this.#leadership !== leadership) return; // released or lost meanwhile
    if (attempt === 'other') {
      this.#stepDown(`lease held by ${this.#observed?.holderIdentity ?? 'another candidate'}`);
      return;
    }
    if (attempt === 'held') this.#resetDeadline();
    this.#scheduleRenew();
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight = p.catch(() => undefined);
    return p;
  }

  #durationMs(rec: LeaseRecord): number {
    return (rec.leaseDurationSeconds > 0 ? rec.leaseDurationSeconds * 1000 : this.#leaseDurationMs);
  }

  #observe(rec: LeaseRecord): void {
    if (this.#observed?.resourceVersion !== rec.resourceVersion) this.#observedAt = this.#clock.now();
    this.#observed = rec;
  }

  #expired(rec: LeaseRecord): boolean {
    return this.#observedAt + this.#durationMs(rec) <= this.#clock.now();
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    const leaseDurationSeconds = Math.ceil(this.#leaseDurationMs / 1000);
    // A leader renews from the record it wrote last; only a conflict costs a read.
    const mine = this.#observed;
    if (this.#leadership !== undefined && mine?.holderIdentity === this.#identity) {
      try {
        this.#observe(await this.#store.update({ ...mine, leaseDurationSeconds, renewTimeMs: this.#clock.now() }));
        return 'held';
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
      }
    }

    const current = await this.#store.get();
    const now = this.#clock.now();
    if (current === undefined) {
      try {
        this.#observe(
          await this.#store.create({
            holderIdentity: this.#identity,
            leaseDurationSeconds,
            acquireTimeMs: now,
            renewTimeMs: now,
            leaseTransitions: 0,
            resourceVersion: '',
          }),
        );
        return 'held';
      } catch (err) {
        if (err instanceof LeaseConflictError) return 'conflict';
        throw err;
      }
    }

    this.#observe(current);
    const holder = current.holderIdentity;
    if (holder !== '' && holder !== this.#identity && !this.#expired(current)) return 'other';
    const next: LeaseRecord =
      holder === this.#identity
        ? { ...current, leaseDurationSeconds, renewTimeMs: now }
        : {
            ...current,
            holderIdentity: this.#identity,
            leaseDurationSeconds,
            acquireTimeMs: now,
            renewTimeMs: now,
            leaseTransitions: current.leaseTransitions + 1,
          };
    try {
      this.#observe(await this.#store.update(next));
      if (holder !== this.#identity) this.#log.info('took over the lease', { previousHolder: holder === '' ? undefined : holder });
      return 'held';
    } catch (err) {
      if (err instanceof LeaseConflictError) return 'conflict';
      throw err;
    }
  }
}
