// Writes the reconciler makes to the API server for a HelmRelease: its status (one JSON patch
// replacing the whole status subresource), its finalizers (with the object's resourceVersion, so
// a concurrent change makes the write fail instead of being lost) and its events (core/v1,
// aggregated: a repeat updates the count of the Event already written, see event-correlator.ts).
// Over KubeRest (keep-alive connections, plain JSON bodies).
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type HelmReleaseObject, type HelmReleaseStatus, KIND, PLURAL } from '../api/helm-release.js';
import { systemClock, type Clock } from '../clock.js';
import { EventCorrelator } from './event-correlator.js';
import { KubeRest } from './rest.js';

export type EventType = 'Normal' | 'Warning';

/** What recording an event wrote: a new Event, a higher count on one, or nothing (spam filter). */
export type EventWrite = 'created' | 'updated' | 'dropped';

export interface HelmReleaseApi {
  /** Replaces status with `status`. */
  patchStatus(obj: HelmReleaseObject, status: HelmReleaseStatus): Promise<void>;
  /** Sets metadata.finalizers, failing with 409 when the object changed since it was read. */
  setFinalizers(obj: HelmReleaseObject, finalizers: readonly string[]): Promise<void>;
  /**
   * Records an event on the object; a repeat of a recent one increments its count. Failures are
   * logged by the caller, never fatal.
   */
  event(obj: HelmReleaseObject, type: EventType, reason: string, message: string, action: string): Promise<EventWrite>;
}

export interface KubeHelmReleaseApiOptions {
  readonly clock?: Clock;
  /** Which events repeat earlier ones; one per process by default. */
  readonly correlator?: EventCorrelator;
}

/** Longest message written to an event (the API server's own limit is 1 KiB for notes). */
const MAX_EVENT_MESSAGE = 1024;

export class KubeHelmReleaseApi implements HelmReleaseApi {
  readonly #rest: KubeRest;
  readonly #component: string;
  readonly #instance: string;
  readonly #clock: Clock;
  readonly #correlator: EventCorrelator;

  constructor(kubeConfig: KubeConfig, component: string, instance: string, opts: KubeHelmReleaseApiOptions = {}) {
    this.#rest = new KubeRest(kubeConfig);
    this.#component = component;
    this.#instance = instance;
    this.#clock = opts.clock ?? systemClock;
    this.#correlator = opts.correlator ?? new EventCorrelator({ clock: this.#clock });
  }

  async patchStatus(obj: HelmReleaseObject, status: HelmReleaseStatus): Promise<void> {
    await this.#rest.json({
      method: 'PATCH',
      path: `${objectPath(obj)}/status`,
      contentType: 'application/json-patch+json',
      body: [{ op: 'add', path: '/status', value: status }],
    });
  }

  async setFinalizers(obj: HelmReleaseObject, finalizers: readonly string[]): Promise<void> {
    await this.#rest.json({
      method: 'PATCH',
      path: objectPath(obj),
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: [...finalizers], resourceVersion: obj.metadata.resourceVersion } },
    });
  }

  async event(obj: HelmReleaseObject, type: EventType, reason: string, message: string, action: string): Promise<EventWrite> {
    const note = message.length > MAX_EVENT_MESSAGE ? `${message.slice(0, MAX_EVENT_MESSAGE - 1)}…` : message;
    const identity = { objectUid: obj.metadata.uid, type, reason, message: note, action, component: this.#component };
    const c = this.#correlator.correlate(identity, obj.metadata.name);
    if (c.kind === 'drop') return 'dropped';
    const now = this.#clock.now();
    if (c.kind === 'update') {
      try {
        await this.#rest.json({
          method: 'PATCH',
          path: `/api/v1/namespaces/${obj.metadata.namespace}/events/${c.name}`,
          contentType: 'application/merge-patch+json',
          // series (count, lastObservedTime to the microsecond) as the events.k8s.io API keeps a
          // repeat; count and lastTimestamp (seconds) for kubectl and older readers.
          body: { count: c.count, lastTimestamp: seconds(now), series: { count: c.count, lastObservedTime: micro(now) } },
        });
        return 'updated';
      } catch (err) {
        // Gone: the API server deleted it (--event-ttl after its last write). Write it anew.
        if (httpStatusOf(err) !== 404) throw err;
        await this.#create(obj, this.#correlator.expired(identity, obj.metadata.name).name, identity, now);
        return 'created';
      }
    }
    await this.#create(obj, c.name, identity, now);
    return 'created';
  }

  async #create(obj: HelmReleaseObject, name: string, e: { type: EventType; reason: string; message: string; action: string }, now: number): Promise<void> {
    const { namespace } = obj.metadata;
    await this.#rest.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/events`,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name: obj.metadata.name, namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
        type: e.type,
        reason: e.reason,
        action: e.action,
        message: e.message,
        firstTimestamp: seconds(now),
        lastTimestamp: seconds(now),
        eventTime: micro(now),
        count: 1,
        source: { component: this.#component },
        reportingComponent: this.#component,
        reportingInstance: this.#instance,
      },
    });
  }
}

/** RFC 3339 to the microsecond, as eventTime and series.lastObservedTime are. */
function micro(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** RFC 3339 to the second, as core/v1 Event timestamps are. */
function seconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function objectPath(obj: HelmReleaseObject): string {
  return `/apis/${API_VERSION}/namespaces/${obj.metadata.namespace}/${PLURAL}/${obj.metadata.name}`;
}

/** HTTP status of a KubeRest or client-node error, or undefined. */
export function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
