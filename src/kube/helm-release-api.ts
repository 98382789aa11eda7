// Writes the reconciler makes to the API server for a HelmRelease: its status (one JSON patch
// replacing the whole status subresource), its finalizers (with the object's resourceVersion, so
// a concurrent change makes the write fail instead of being lost) and its events.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, type HelmReleaseObject, type HelmReleaseStatus, KIND, PLURAL, VERSION } from '../api/helm-release.js';

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
  readonly #objects: k8s.CustomObjectsApi;
  readonly #core: k8s.CoreV1Api;
  readonly #component: string;
  readonly #instance: string;

  constructor(kubeConfig: k8s.KubeConfig, component: string, instance: string) {
    this.#objects = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.#core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.#component = component;
    this.#instance = instance;
  }

  async patchStatus(obj: HelmReleaseObject, status: HelmReleaseStatus): Promise<void> {
    await this.#objects.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: obj.metadata.namespace,
        name: obj.metadata.name,
        body: [{ op: 'add', path: '/status', value: status }],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
  }

  async setFinalizers(obj: HelmReleaseObject, finalizers: readonly string[]): Promise<void> {
    await this.#objects.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: obj.metadata.namespace,
        name: obj.metadata.name,
        body: { metadata: { finalizers: [...finalizers], resourceVersion: obj.metadata.resourceVersion } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  async event(obj: HelmReleaseObject, type: EventType, reason: string, message: string, action: string): Promise<void> {
    const now = new Date();
    await this.#core.createNamespacedEvent({
      namespace: obj.metadata.namespace,
      body: {
        metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: obj.metadata.namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: KIND,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        action,
        message: message.length > MAX_EVENT_MESSAGE ? `${message.slice(0, MAX_EVENT_MESSAGE - 1)}…` : message,
        firstTimestamp: now,
        lastTimestamp: now,
        eventTime: new k8s.V1MicroTime(now.getTime()),
        count: 1,
        source: { component: this.#component },
        reportingComponent: this.#component,
        reportingInstance: this.#instance,
      },
    });
  }
}

/** HTTP status of a client-node error, or undefined. */
export function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
