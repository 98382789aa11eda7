// The API's reads and writes of HelmRelease objects, made with the controller's own identity
// once the caller is authorized: get, list (paged), server-side apply, delete with
// preconditions, merge patches of spec.suspend and of the reconcile-request annotations, and
// watch. Every Kubernetes error leaves as an ApiError with the code the proto promises.
import { API_VERSION, KIND, PLURAL } from '../api/helm-release.js';
import { type KubeObject, HttpListWatchTransport, type WatchEvent } from '../kube/list-watch.js';
import type { KubeRest } from '../kube/rest.js';
import { fromKube } from './errors.js';

export interface HelmReleaseJson extends KubeObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  spec?: unknown;
  status?: unknown;
}

export interface ListResult {
  readonly items: HelmReleaseJson[];
  readonly resourceVersion: string;
  readonly continue?: string;
}

function collection(namespace: string): string {
  return namespace ? `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}` : `/apis/${API_VERSION}/${PLURAL}`;
}

function objectPath(namespace: string, name: string): string {
  return `${collection(namespace)}/${encodeURIComponent(name)}`;
}

export class HelmReleaseStore {
  readonly #rest: KubeRest;
  readonly #watch: HttpListWatchTransport;

  constructor(rest: KubeRest, watch: HttpListWatchTransport) {
    this.#rest = rest;
    this.#watch = watch;
  }

  async get(namespace: string, name: string): Promise<HelmReleaseJson> {
    try {
      return await this.#rest.json<HelmReleaseJson>({ method: 'GET', path: objectPath(namespace, name) });
    } catch (err) {
      throw fromKube(err, `helmrelease ${namespace}/${name}`);
    }
  }

  /** The HelmRelease, or undefined when it does not exist. */
  async find(namespace: string, name: string): Promise<HelmReleaseJson | undefined> {
    try {
      return await this.#rest.json<HelmReleaseJson>({ method: 'GET', path: objectPath(namespace, name) });
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw fromKube(err, `helmrelease ${namespace}/${name}`);
    }
  }

  async list(namespace: string, labelSelector: string, limit: number, cont: string | undefined, signal?: AbortSignal): Promise<ListResult> {
    try {
      const page = await this.#watch.list(
        { path: collection(namespace), limit, ...(cont ? { continue: cont } : {}), ...(labelSelector ? { labelSelector } : {}) },
        signal ?? new AbortController().signal,
      );
      return { items: page.items as HelmReleaseJson[], resourceVersion: page.resourceVersion, ...(page.continue ? { continue: page.continue } : {}) };
    } catch (err) {
      throw fromKube(err, 'list helmreleases');
    }
  }

  /** Server-side apply; `created` is true when the object did not exist before. */
  async apply(
    obj: { metadata: { namespace: string; name: string; labels?: Record<string, string> }; spec: unknown },
    opts: { fieldManager: string; force: boolean; dryRun: boolean },
  ): Promise<{ object: HelmReleaseJson; created: boolean }> {
    const { namespace, name } = obj.metadata;
    try {
      const res = await this.#rest.request<HelmReleaseJson>({
        method: 'PATCH',
        path: objectPath(namespace, name),
        query: { fieldManager: opts.fieldManager, ...(opts.force ? { force: 'true' } : {}), ...(opts.dryRun ? { dryRun: 'All' } : {}) },
        contentType: 'application/apply-patch+yaml',
        body: { apiVersion: API_VERSION, kind: KIND, ...obj },
      });
      return { object: res.body, created: res.status === 201 };
    } catch (err) {
      throw fromKube(err, `apply helmrelease ${namespace}/${name}`);
    }
  }

  /** Deletes; resolves with the object while finalizers hold it, undefined once it is gone. */
  async delete(namespace: string, name: string, pre: { uid?: string; resourceVersion?: string }, dryRun: boolean): Promise<HelmReleaseJson | undefined> {
    try {
      const body = await this.#rest.json<HelmReleaseJson | { kind?: string }>({
        method: 'DELETE',
        path: objectPath(namespace, name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          ...(pre.uid || pre.resourceVersion
            ? { preconditions: { ...(pre.uid ? { uid: pre.uid } : {}), ...(pre.resourceVersion ? { resourceVersion: pre.resourceVersion } : {}) } }
            : {}),
          ...(dryRun ? { dryRun: ['All'] } : {}),
        },
      });
      const obj = body as HelmReleaseJson;
      return obj.kind === KIND && (obj.metadata?.deletionTimestamp || dryRun) ? obj : undefined;
    } catch (err) {
      throw fromKube(err, `delete helmrelease ${namespace}/${name}`);
    }
  }

  /** A JSON merge patch of the object (metadata and spec), as `fieldManager`. */
  async mergePatch(namespace: string, name: string, patch: Record<string, unknown>, fieldManager: string): Promise<HelmReleaseJson> {
    try {
      return await this.#rest.json<HelmReleaseJson>({
        method: 'PATCH',
        path: objectPath(namespace, name),
        query: { fieldManager },
        contentType: 'application/merge-patch+json',
        body: patch,
      });
    } catch (err) {
      throw fromKube(err, `patch helmrelease ${namespace}/${name}`);
    }
  }

  /**
   * Watches from `resourceVersion` until the server ends the stream (resolves) or it fails
   * (rejects with an ApiError: OUT_OF_RANGE when the version is too old).
   */
  async watch(
    q: { namespace: string; name?: string; labelSelector?: string; resourceVersion: string; timeoutSeconds: number },
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.#watch.watch(
        {
          path: collection(q.namespace),
          resourceVersion: q.resourceVersion,
          timeoutSeconds: q.timeoutSeconds,
          ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}),
          ...(q.name ? { fieldSelector: `metadata.name=${q.name}` } : {}),
        },
        onEvent,
        signal,
      );
    } catch (err) {
      if (signal.aborted) return;
      throw fromKube(err, 'watch helmreleases');
    }
  }
}
