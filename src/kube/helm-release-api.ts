// Writes the reconciler makes to the API server for a HelmRelease: its status (one JSON patch
// replacing the whole status subresource), its finalizers (with the object's resourceVersion, so
// a concurrent change makes the write fail instead of being lost) and its events. Over KubeRest
// (keep-alive connections, plain JSON bodies).
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type HelmReleaseObject, type HelmReleaseStatus, KIND, PLURAL } from '../api/helm-release.js';
import { KubeRest } from './rest.js';

export type EventType = 'Normal' | 'Warning';

export interface HelmReleaseApi {
  /** Replaces status with `status`. */
  patchStatus(obj: HelmReleaseObject, status: HelmReleaseStatus): Promise<void>;
  /** Sets metadata.finalizers, failing with 409 when the object changed since it was read. */
  setFinalizers(obj: HelmReleaseObject, finalizers: readonly string[]): Promise<void>;
  /** Records an event on the object; failures are logged by the caller, never fatal. */
  event(obj: HelmReleaseObject, type: EventType, reason: string, message: string, action: string): Promise<void>;
}

/** Longest message written to an event (the API server's own limit is 1 KiB for notes). */
const MAX_EVENT_MESSAGE = 1024;

export class KubeHelmReleaseApi implements HelmReleaseApi {
  readonly #rest: KubeRest;
  readonly #component: string;
  readonly #instance: string;

  constructor(kubeConfig: KubeConfig, component: string, instance: string) {
    this.#rest = new KubeRest(kubeConfig);
    this.#component = component;
    this.#instance = instance;
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

  async event(obj: HelmReleaseObject, type: EventType, reason: string, message: string, action: string): Promise<void> {
    const now = new Date().toISOString();
    const { namespace, name } = obj.metadata;
    await this.#rest.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/events`,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
        type,
        reason,
        action,
        message: message.length > MAX_EVENT_MESSAGE ? `${message.slice(0, MAX_EVENT_MESSAGE - 1)}…` : message,
        firstTimestamp: now.replace(/\.\d{3}Z$/, 'Z'),
        lastTimestamp: now.replace(/\.\d{3}Z$/, 'Z'),
        eventTime: now.replace(/Z$/, '000Z'),
        count: 1,
        source: { component: this.#component },
        reportingComponent: this.#component,
        reportingInstance: this.#instance,
      },
    });
  }
}

function objectPath(obj: HelmReleaseObject): string {
  return `/apis/${API_VERSION}/namespaces/${obj.metadata.namespace}/${PLURAL}/${obj.metadata.name}`;
}

/** HTTP status of a KubeRest or client-node error, or undefined. */
export function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
