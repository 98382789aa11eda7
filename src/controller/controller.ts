// The HelmRelease controller: an informer on HelmReleases feeding a keyed work queue whose
// handler is the Reconciler. Which changes enqueue a key is decided here: spec changes
// (generation), deletion, a reconcile request, and a dependency becoming Ready or not; status
// writes of our own do not wake the object up again.
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type HelmReleaseObject, keyOf, parseSpec, PLURAL } from '../api/helm-release.js';
import type { Clock } from '../clock.js';
import type { KubeObject } from '../kube/list-watch.js';
import type { Logger } from '../log.js';
import { ConditionType, findCondition } from '../reconcile/conditions.js';
import { RECONCILE_REQUEST_ANNOTATION, type Reconciler } from '../reconcile/reconciler.js';
import { Informer, type InformerEvent } from './informer.js';
import { ReferenceWatcher, referencesOf } from './reference-watcher.js';
import { type QueueMetrics, WorkQueue } from './work-queue.js';

/**
 * What the controller tells about the HelmReleases in its cache (for per-release metrics, see
 * src/metrics/fleet-observer.ts): every version it receives, and when one leaves the cache
 * (deleted, or no longer in the controller's scope: namespace, label selector).
 */
export interface FleetObserver {
  known(obj: HelmReleaseObject): void;
  forgotten(namespace: string, name: string): void;
}

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly reconciler: Reconciler;
  readonly concurrency: number;
  /** Only HelmReleases with these labels (sharding); empty: all. */
  readonly labelSelector: string;
  /** Only this namespace; empty: all namespaces. */
  readonly namespace: string;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly queueMetrics?: QueueMetrics;
  readonly fleet?: FleetObserver;
}

type HelmReleaseCacheObject = HelmReleaseObject & KubeObject;

export class Controller {
  readonly #informer: Informer<HelmReleaseCacheObject>;
  readonly #queue: WorkQueue;
  readonly #refs: ReferenceWatcher;
  readonly #log: Logger;
  readonly #fleet: FleetObserver | undefined;
  /** dependency key → keys of HelmReleases that depend on it. */
  readonly #dependents = new Map<string, Set<string>>();

  constructor(opts: ControllerOptions) {
    this.#log = opts.log;
    this.#fleet = opts.fleet;
    const path = opts.namespace
      ? `/apis/${API_VERSION}/namespaces/${opts.namespace}/${PLURAL}`
      : `/apis/${API_VERSION}/${PLURAL}`;
    this.#informer = new Informer<HelmReleaseCacheObject>({
      kubeConfig: opts.kubeConfig,
      path,
      ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
      log: opts.log.child({ informer: PLURAL }),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    this.#queue = new WorkQueue((key, signal) => opts.reconciler.reconcile(key, signal), {
      name: 'helmrelease',
      concurrency: opts.concurrency,
      // A reconcile that throws (a status write refused, say) is logged with its key, not only counted.
      log: opts.log.child({ component: 'work-queue' }),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.queueMetrics ? { metrics: opts.queueMetrics } : {}),
    });
    this.#refs = new ReferenceWatcher({
      kubeConfig: opts.kubeConfig,
      enqueue: (k) => this.#queue.add(k),
      log: opts.log,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    this.#informer.on((e) => this.#onEvent(e));
  }

  /** The informer's cache, which the reconciler reads. */
  get cache(): { get(namespace: string, name: string): HelmReleaseObject | undefined } {
    return this.#informer;
  }

  get synced(): boolean {
    return this.#informer.hasSynced;
  }

  /** Starts watching (resolves once the first list is in) and reconciling. */
  async start(): Promise<void> {
    await this.#informer.start();
    this.#queue.start();
    this.#log.info('controller started', { helmreleases: this.#informer.list().length });
  }

  /** Stops taking work; waits for in-flight reconciles (aborting them when asked). */
  async stop(opts: { abortInFlight?: boolean } = {}): Promise<void> {
    this.#informer.stop();
    this.#refs.stop();
    await this.#queue.shutdown(opts);
  }

  /** Requests a reconcile of `namespace/name` now. */
  enqueue(key: string): void {
    this.#queue.add(key);
  }

  #onEvent(e: InformerEvent<HelmReleaseCacheObject>): void {
    const obj = e.object;
    const key = keyOf(obj.metadata);
    if (e.type === 'delete') {
      this.#fleet?.forgotten(obj.metadata.namespace, obj.metadata.name);
      this.#refs.track(key, new Set());
      this.#indexDependencies(key, undefined);
      this.#queue.add(key);
      this.#wakeDependents(key);
      return;
    }
    this.#fleet?.known(obj);
    // References and dependencies come from the spec: re-read them only when it changed (most
    // updates are status writes).
    if (e.type === 'add' || e.old?.metadata.generation !== obj.metadata.generation) {
      const parsed = parseSpec(obj.spec);
      this.#refs.track(key, parsed.ok ? referencesOf(obj.metadata.namespace, parsed.spec) : new Set());
      this.#indexDependencies(key, parsed.ok ? parsed.spec.dependsOn.map((d) => keyOf({ namespace: d.namespace ?? obj.metadata.namespace, name: d.name })) : undefined);
    }
    if (e.type === 'add' || !e.old || wantsReconcile(e.old, obj)) this.#queue.add(key);
    if (e.type === 'add' || !e.old || readiness(e.old) !== readiness(obj)) this.#wakeDependents(key);
  }

  #indexDependencies(key: string, deps: readonly string[] | undefined): void {
    for (const set of this.#dependents.values()) set.delete(key);
    for (const d of deps ?? []) {
      let set = this.#dependents.get(d);
      if (!set) this.#dependents.set(d, (set = new Set()));
      set.add(key);
    }
  }

  #wakeDependents(key: string): void {
    for (const k of this.#dependents.get(key) ?? []) this.#queue.add(k);
  }
}

/** A change worth a reconcile: the spec, deletion, finalizers removed by someone, or a request. */
function wantsReconcile(old: HelmReleaseObject, cur: HelmReleaseObject): boolean {
  return (
    old.metadata.generation !== cur.metadata.generation ||
    old.metadata.deletionTimestamp !== cur.metadata.deletionTimestamp ||
    old.metadata.annotations?.[RECONCILE_REQUEST_ANNOTATION] !== cur.metadata.annotations?.[RECONCILE_REQUEST_ANNOTATION] ||
    (cur.metadata.deletionTimestamp !== undefined && (old.metadata.finalizers ?? []).length !== (cur.metadata.finalizers ?? []).length)
  );
}

function readiness(o: HelmReleaseObject): string {
  const ready = findCondition(o.status?.conditions, ConditionType.Ready);
  return `${ready?.status ?? ''}/${o.status?.observedGeneration ?? ''}/${o.metadata.generation}`;
}
