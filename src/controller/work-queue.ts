// A keyed work queue with controller-runtime semantics: the queue carries keys, not events
// (level-based), so however many times a key is added before it runs, it runs once.
import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';

/** What a reconcile asks of the queue for its key. An empty outcome means done until the next add. */
export interface ReconcileOutcome {
  /** run again after this many ms, 0: at once (no backoff; resets the key's failure count). Wins over `backoff`. */
  readonly requeueAfterMs?: number;
  /** run again with exponential backoff (counts as a failure for backoff) */
  readonly backoff?: boolean;
}

/**
 * Reconciles one key. Throwing counts as an error and requeues the key with backoff. The signal
 * aborts only when the queue shuts down with `abortInFlight`; a handler that ignores it delays
 * `shutdown()` until it returns.
 */
export type ReconcileHandler = (key: string, signal: AbortSignal) => Promise<ReconcileOutcome>;

/** The `result` label of controller_runtime_reconcile_total, with controller-runtime's values. */
export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

/**
 * Observations the queue reports; src/metrics/metrics.ts maps them to Prometheus series named as
 * in controller-runtime and client-go's workqueue, so existing dashboards read them.
 */
export interface QueueMetrics {
  /** workqueue_adds_total: a key became pending (not counted when it already was). */
  added(queue: string): void;
  /** workqueue_depth: keys ready to run and not yet running. */
  depth(queue: string, depth: number): void;
  /** workqueue_queue_duration_seconds: from the add to the start of the reconcile. */
  queueWait(queue: string, seconds: number): void;
  /** workqueue_retries_total: a key was requeued with backoff. */
  retried(queue: string): void;
  /** controller_runtime_reconcile_total and controller_runtime_reconcile_time_seconds. */
  reconciled(controller: string, result: ReconcileResult, seconds: number): void;
  /** controller_runtime_reconcile_errors_total: the handler threw. */
  reconcileError(controller: string): void;
  /** controller_runtime_active_workers */
  activeWorkers(controller: string, count: number): void;
  /** controller_runtime_max_concurrent_reconciles */
  maxConcurrentReconciles(controller: string, count: number): void;
}

export interface WorkQueueOptions {
  /** The queue's name, also the `controller` label of its metrics. */
  readonly name: string;
  /** Most handlers running at once (≥ 1). */
  readonly concurrency: number;
  /** First retry delay after a failure; doubled per consecutive failure. Default 1000. */
  readonly baseDelayMs?: number;
  /** Longest retry delay. Default 900000 (15 min). */
  readonly maxDelayMs?: number;
  readonly clock?: Clock;
  readonly metrics?: QueueMetrics;
  /** Where handler errors are logged (key and error). */
  readonly log?: Logger;
}

interface Delayed {
  readonly due: number;
  readonly cancel: () => void;
}

type State = 'new' | 'running' | 'stopping' | 'stopped';

/**
 * Keys are deduplicated; at most one handler runs per key, and a key added while its handler runs
 * is marked dirty and runs once more afterwards; at most `concurrency` handlers run at once.
 * Keys added before `start()` wait for it; keys added during or after `shutdown()` are dropped.
 */
export class WorkQueue {
  readonly #handler: ReconcileHandler;
  readonly #name: string;
  readonly #concurrency: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #clock: Clock;
  readonly #metrics: QueueMetrics | undefined;
  readonly #log: Logger;

  /** Ready keys in FIFO order, and the same keys as a set. */
  readonly #ready: string[] = [];
  readonly #readySet = new Set<string>();
  /** Keys whose handler is running, with the controller that aborts it. */
  readonly #processing = new Map<string, AbortController>();
  /** Running keys added again while running. */
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, Delayed>();
  readonly #failures = new Map<string, number>();
  /** When each pending (ready or dirty) key was added, for the queue-wait metric. */
  readonly #addedAt = new Map<string, number>();

  #state: State = 'new';
  #drained: Promise<void> | undefined;
  #resolveDrained: (() => void) | undefined;

  constructor(handler: ReconcileHandler, opts: WorkQueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
      throw new RangeError(`work queue ${opts.name}: concurrency must be a positive integer, got ${opts.concurrency}`);
    }
    this.#handler = handler;
    this.#name = opts.name;
    this.#concurrency = opts.concurrency;
    this.#baseDelayMs = opts.baseDelayMs ?? 1000;
    this.#maxDelayMs = opts.maxDelayMs ?? 900_000;
    this.#clock = opts.clock ?? systemClock;
    this.#metrics = opts.metrics;
    this.#log = opts.log ?? silentLogger;
    this.#metrics?.maxConcurrentReconciles(this.#name, this.#concurrency);
    this.#metrics?.activeWorkers(this.#name, 0);
    this.#metrics?.depth(this.#name, 0);
  }

  /** Keys ready to run (not running, not waiting for a delay). */
  get depth(): number {
    return this.#ready.length;
  }

  /** Handlers running now. */
  get inFlight(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a delay (addAfter, backoff, requeueAfter). */
  get waiting(): number {
    return this.#delayed.size;
  }

  /** Makes `key` due now (cancelling any pending delay for it). */
  add(key: string): void {
    if (this.#closed) return;
    this.#cancelDelayed(key);
    if (this.#readySet.has(key)) return;
    if (this.#processing.has(key)) {
      if (!this.#dirty.has(key)) {
        this.#dirty.add(key);
        this.#addedAt.set(key, this.#clock.now());
        this.#metrics?.added(this.#name);
      }
      return;
    }
    this.#addedAt.set(key, this.#clock.now());
    this.#metrics?.added(this.#name);
    this.#pushReady(key);
    this.#dispatch();
  }

  /** Makes `key` due after `delayMs`, unless it is already due earlier (the earliest due time wins). */
  addAfter(key: string, delayMs: number): void {
    if (this.#closed) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.#readySet.has(key) || this.#dirty.has(key)) return;
    const due = this.#clock.now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing !== undefined && existing.due <= due) return;
    existing?.cancel();
    const cancel = this.#clock.setTimer(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { due, cancel });
  }

  /** Resets the key's failure count, so its next failure waits the base delay again. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Number of consecutive failures recorded for `key` (what its next backoff is based on). */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Starts dispatching (keys added before are kept). */
  start(): void {
    if (this.#state !== 'new') throw new Error(`work queue ${this.#name} already started`);
    this.#state = 'running';
    this.#dispatch();
  }

  /**
   * Stops dispatching, drops pending and delayed keys, and resolves once every running handler
   * has returned. Their outcomes are recorded in metrics but requeue nothing. With
   * `abortInFlight`, the running handlers' signals are aborted.
   */
  shutdown(opts: { abortInFlight?: boolean } = {}): Promise<void> {
    if (this.#drained === undefined) {
      this.#state = 'stopping';
      this.#drained = new Promise<void>((resolve) => (this.#resolveDrained = resolve));
      for (const d of this.#delayed.values()) d.cancel();
      this.#delayed.clear();
      this.#ready.length = 0;
      this.#readySet.clear();
      this.#dirty.clear();
      this.#addedAt.clear();
      this.#metrics?.depth(this.#name, 0);
      this.#finishIfDrained();
    }
    if (opts.abortInFlight === true) {
      for (const ac of this.#processing.values()) ac.abort(new Error(`work queue ${this.#name} is shutting down`));
    }
    return this.#drained;
  }

  get #closed(): boolean {
    return this.#state === 'stopping' || this.#state === 'stopped';
  }

  #pushReady(key: string): void {
    this.#ready.push(key);
    this.#readySet.add(key);
    this.#metrics?.depth(this.#name, this.#ready.length);
  }

  #cancelDelayed(key: string): void {
    const d = this.#delayed.get(key);
    if (d === undefined) return;
    d.cancel();
    this.#delayed.delete(key);
  }

  #dispatch(): void {
    if (this.#state !== 'running') return;
    let key: string | undefined;
    while (this.#processing.size < this.#concurrency && (key = this.#ready.shift()) !== undefined) {
      this.#readySet.delete(key);
      this.#run(key);
    }
    this.#metrics?.depth(this.#name, this.#ready.length);
  }

  #run(key: string): void {
    const ac = new AbortController();
    this.#processing.set(key, ac);
    const now = this.#clock.now();
    const addedAt = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (addedAt !== undefined) this.#metrics?.queueWait(this.#name, (now - addedAt) / 1000);
    this.#metrics?.activeWorkers(this.#name, this.#processing.size);
    void this.#reconcile(key, ac.signal, now);
  }

  /**
   * Runs the handler for one key. Nothing thrown while handling a key (by the handler, a metric
   * or a log line) escapes: the key fails (counted, logged, retried with backoff) and every other
   * key goes on.
   */
  async #reconcile(key: string, signal: AbortSignal, startedAt: number): Promise<void> {
    let result: ReconcileResult = 'error';
    try {
      const outcome = await this.#handler(key, signal);
      result = this.#applyOutcome(key, outcome);
    } catch (err) {
      result = 'error';
      this.#requeueWithBackoff(key);
      this.#contained(() => this.#metrics?.reconcileError(this.#name));
      this.#contained(() => this.#log.error('reconcile failed', { key, err }));
    } finally {
      this.#contained(() => this.#metrics?.reconciled(this.#name, result, (this.#clock.now() - startedAt) / 1000));
      this.#complete(key);
    }
  }

  /** Runs a reporting side effect (metric, log line) whose failure must not end the process. */
  #contained(report: () => void): void {
    try {
      report();
    } catch (err) {
      try {
        this.#log.error('reporting a reconcile failed', { err });
      } catch {
        // The logger itself failed: nothing left to report with.
      }
    }
  }

  #applyOutcome(key: string, outcome: ReconcileOutcome): ReconcileResult {
    const after = outcome.requeueAfterMs;
    if (after !== undefined && after >= 0) {
      this.forget(key);
      this.addAfter(key, after);
      return 'requeue_after';
    }
    if (outcome.backoff === true) {
      this.#requeueWithBackoff(key);
      return 'requeue';
    }
    this.forget(key);
    return 'success';
  }

  /** base × 2^(failures so far), capped; then counts this failure. */
  #requeueWithBackoff(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 52));
    this.#metrics?.retried(this.#name);
    this.addAfter(key, delay);
  }

  #complete(key: string): void {
    this.#processing.delete(key);
    this.#metrics?.activeWorkers(this.#name, this.#processing.size);
    if (this.#closed) {
      this.#finishIfDrained();
      return;
    }
    if (this.#dirty.delete(key)) {
      this.#cancelDelayed(key);
      this.#pushReady(key);
    }
    this.#dispatch();
  }

  #finishIfDrained(): void {
    if (this.#processing.size > 0 || this.#state !== 'stopping') return;
    this.#state = 'stopped';
    this.#resolveDrained?.();
  }
}
