// Wakes HelmReleases up when a Secret or ConfigMap they read (valuesFrom, repository
// credentials, CA) changes. One watch per (kind, namespace) that holds a referenced object,
// started on first reference and stopped when the last reference goes; the cache keeps object
// names and resourceVersions only, never data.
import type { KubeConfig } from '@kubernetes/client-node';
import type { HelmReleaseSpec } from '../api/helm-release.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { Informer, InformerStoppedError, type KubeObject } from './informer.js';

type Kind = 'Secret' | 'ConfigMap';

interface MetadataOnly extends KubeObject {
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

export class ReferenceWatcher {
  readonly #kubeConfig: KubeConfig;
  readonly #enqueue: (key: string) => void;
  readonly #log: Logger;
  readonly #clock: Clock | undefined;
  /** HelmRelease key → references. */
  readonly #byRelease = new Map<string, Set<string>>();
  /** reference → HelmRelease keys. */
  readonly #byRef = new Map<string, Set<string>>();
  /** `Kind/namespace` → informer. */
  readonly #informers = new Map<string, Informer<MetadataOnly>>();

  constructor(opts: { kubeConfig: KubeConfig; enqueue: (key: string) => void; log: Logger; clock?: Clock }) {
    this.#kubeConfig = opts.kubeConfig;
    this.#enqueue = opts.enqueue;
    this.#log = opts.log;
    this.#clock = opts.clock;
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
    for (const r of dropped) this.#stopIfUnused(watchId(r));
  }

  stop(): void {
    for (const inf of this.#informers.values()) inf.stop();
    this.#informers.clear();
  }

  #ensureInformer(ref: string): void {
    const [kind, namespace] = ref.split('/') as [Kind, string];
    const id = watchId(ref);
    if (this.#informers.has(id)) return;
    const resource = kind === 'Secret' ? 'secrets' : 'configmaps';
    const informer = new Informer<MetadataOnly>({
      kubeConfig: this.#kubeConfig,
      path: `/api/v1/namespaces/${namespace}/${resource}`,
      transform: (o) => ({ metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, resourceVersion: o.metadata?.resourceVersion } }),
      log: this.#log.child({ watch: id }),
      ...(this.#clock ? { clock: this.#clock } : {}),
    });
    informer.on((e) => {
      const keys = this.#byRef.get(`${kind}/${namespace}/${e.object.metadata.name ?? ''}`);
      for (const k of keys ?? []) this.#enqueue(k);
    });
    this.#informers.set(id, informer);
    informer.start().catch((err: unknown) => {
      // Stopped before its first list: the last reference went away, nothing failed.
      if (!(err instanceof InformerStoppedError)) this.#log.warn('reference watch failed to start', { watch: id, error: err });
    });
  }

  /** Stops the watch `Kind/namespace` when no reference into it is left. */
  #stopIfUnused(id: string): void {
    const informer = this.#informers.get(id);
    if (!informer) return;
    for (const r of this.#byRef.keys()) if (watchId(r) === id) return;
    informer.stop();
    this.#informers.delete(id);
  }
}

/** `Kind/namespace` of a reference `Kind/namespace/name`: the watch it needs. */
function watchId(ref: string): string {
  return ref.slice(0, ref.lastIndexOf('/'));
}
