// Wakes HelmReleases up when a Secret or ConfigMap they read (valuesFrom, repository
// credentials, CA) changes. One watch per (kind, namespace) that holds a referenced object,
// started on first reference and stopped when the last reference goes.
//
// What crosses the wire and what is kept are both bounded: the watches list and watch
// PartialObjectMetadata (names, labels, annotations, resourceVersions; never data), since a
// namespace holds Helm's own release Secrets of up to 1 MiB each; and the cache keeps the name and
// resourceVersion of referenced objects only, not of everything in the namespace (whose count
// grows with releases × history and with whatever else lives there). The data of a referenced
// object is read by the reconcile that needs it (kube/object-reader.ts).
import type { KubeConfig } from '@kubernetes/client-node';
import type { HelmReleaseSpec } from '../api/helm-release.js';
import type { Clock } from '../clock.js';
import { HttpListWatchTransport, type KubeObject, type ListWatchTransport } from '../kube/list-watch.js';
import type { Logger } from '../log.js';
import { Informer, InformerStoppedError } from './informer.js';

export type ReferenceKind = 'Secret' | 'ConfigMap';

/** What the watcher keeps of a referenced object. */
export interface ReferencedObject extends KubeObject {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
}

/** The objects a HelmRelease reads, as `Kind/namespace/name`. */
export function referencesOf(namespace: string, spec: HelmReleaseSpec): Set<string> {
  const refs = new Set<string>();
  for (const v of spec.valuesFrom) refs.add(`${v.kind}/${namespace}/${v.name}`);
  if (spec.auth?.secretRef) refs.add(`Secret/${namespace}/${spec.auth.secretRef.name}`);
  if (spec.auth?.caSecretRef) refs.add(`Secret/${namespace}/${spec.auth.caSecretRef.name}`);
  return refs;
}

export interface ReferenceWatcherOptions {
  readonly kubeConfig: KubeConfig;
  /** Called with the key of each HelmRelease whose referenced object was added, changed or deleted. */
  readonly enqueue: (key: string) => void;
  readonly log: Logger;
  readonly clock?: Clock;
  /** How the watches list and watch; one HttpListWatchTransport over kubeConfig when omitted. */
  readonly transport?: ListWatchTransport;
}

export class ReferenceWatcher {
  readonly #kubeConfig: KubeConfig;
  readonly #enqueue: (key: string) => void;
  readonly #log: Logger;
  readonly #clock: Clock | undefined;
  readonly #transport: ListWatchTransport;
  /** HelmRelease key → references. */
  readonly #byRelease = new Map<string, Set<string>>();
  /** reference → HelmRelease keys. */
  readonly #byRef = new Map<string, Set<string>>();
  /** `Kind/namespace` → informer. */
  readonly #informers = new Map<string, Informer<ReferencedObject>>();

  constructor(opts: ReferenceWatcherOptions) {
    this.#kubeConfig = opts.kubeConfig;
    this.#enqueue = opts.enqueue;
    this.#log = opts.log;
    this.#clock = opts.clock;
    this.#transport = opts.transport ?? new HttpListWatchTransport(opts.kubeConfig);
  }

  /** Records what `key` reads now (an empty set when it was deleted). */
  track(key: string, refs: ReadonlySet<string>): void {
    const old = this.#byRelease.get(key) ?? new Set<string>();
    const dropped = [...old].filter((r) => !refs.has(r));
    for (const r of dropped) {
      const keys = this.#byRef.get(r);
      keys?.delete(key);
      if (keys?.size === 0) this.#byRef.delete(r);
    }
    for (const r of refs) {
      let keys = this.#byRef.get(r);
      if (!keys) this.#byRef.set(r, (keys = new Set()));
      keys.add(key);
      this.#ensureInformer(r);
    }
    if (refs.size === 0) this.#byRelease.delete(key);
    else this.#byRelease.set(key, new Set(refs));
    for (const r of dropped) if (!this.#byRef.has(r)) this.#forget(r);
  }

  /** What the watch of (kind, namespace) holds now: referenced objects' names and resourceVersions. */
  cached(kind: ReferenceKind, namespace: string): ReferencedObject[] {
    return this.#informers.get(`${kind}/${namespace}`)?.list() ?? [];
  }

  stop(): void {
    for (const inf of this.#informers.values()) inf.stop();
    this.#informers.clear();
  }

  #ensureInformer(ref: string): void {
    const [kind, namespace] = ref.split('/') as [ReferenceKind, string];
    const id = watchId(ref);
    if (this.#informers.has(id)) return;
    const resource = kind === 'Secret' ? 'secrets' : 'configmaps';
    const refOf = (o: KubeObject): string => `${kind}/${namespace}/${o.metadata?.name ?? ''}`;
    const informer = new Informer<ReferencedObject>({
      kubeConfig: this.#kubeConfig,
      path: `/api/v1/namespaces/${namespace}/${resource}`,
      transport: this.#transport,
      metadataOnly: true,
      keep: (o) => this.#byRef.has(refOf(o)),
      transform: (o) => ({ metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, resourceVersion: o.metadata?.resourceVersion } }),
      log: this.#log.child({ watch: id }),
      ...(this.#clock ? { clock: this.#clock } : {}),
    });
    informer.on((e) => {
      for (const k of this.#byRef.get(refOf(e.object)) ?? []) this.#enqueue(k);
    });
    this.#informers.set(id, informer);
    informer.start().catch((err: unknown) => {
      // Stopped before its first list: the last reference went away, nothing failed.
      if (!(err instanceof InformerStoppedError)) this.#log.warn('reference watch failed to start', { watch: id, error: err });
    });
  }

  /** A reference nobody holds any more: drop its entry, and the watch when it was the last one. */
  #forget(ref: string): void {
    const id = watchId(ref);
    const informer = this.#informers.get(id);
    if (!informer) return;
    for (const r of this.#byRef.keys()) {
      if (watchId(r) === id) {
        const [, namespace = '', name = ''] = ref.split('/');
        informer.forget(namespace, name);
        return;
      }
    }
    informer.stop();
    this.#informers.delete(id);
  }
}

/** `Kind/namespace` of a reference `Kind/namespace/name`: the watch it needs. */
function watchId(ref: string): string {
  return ref.slice(0, ref.lastIndexOf('/'));
}
