// Reads at reconcile time, straight from the API server: single keys of Secrets and ConfigMaps
// (nothing is cached, so the controller never holds every Secret of the cluster, and a value read
// is never logged), and HelmReleases outside the controller's watched scope (dependsOn).
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type HelmReleaseObject, PLURAL } from '../api/helm-release.js';
import type { ValuesSourceReader } from '../reconcile/values.js';
import { httpStatusOf } from './helm-release-api.js';
import { KubeRest } from './rest.js';

export interface ObjectData {
  /** Decoded data of the object (Secret data is base64-decoded), undefined when it does not exist. */
  readonly data: Readonly<Record<string, string>> | undefined;
  readonly type?: string;
}

export class ObjectReader {
  readonly #rest: KubeRest;

  constructor(kubeConfig: KubeConfig) {
    this.#rest = new KubeRest(kubeConfig);
  }

  async read(kind: 'Secret' | 'ConfigMap', namespace: string, name: string): Promise<ObjectData> {
    const resource = kind === 'Secret' ? 'secrets' : 'configmaps';
    let obj: { data?: Record<string, string>; type?: string };
    try {
      obj = await this.#rest.json({ method: 'GET', path: `/api/v1/namespaces/${namespace}/${resource}/${encodeURIComponent(name)}` });
    } catch (err) {
      if (httpStatusOf(err) === 404) return { data: undefined };
      throw err;
    }
    // Keys are the object owner's: kept in an object without a prototype, so that a key such as
    // `__proto__` is a key like any other.
    const data: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(obj.data ?? {})) data[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    if (kind === 'ConfigMap') return { data };
    return { data, ...(obj.type ? { type: obj.type } : {}) };
  }

  /** One HelmRelease, undefined when it does not exist; rejects with KubeRestError otherwise (403 included). */
  async helmRelease(namespace: string, name: string): Promise<HelmReleaseObject | undefined> {
    try {
      return await this.#rest.json<HelmReleaseObject>({ method: 'GET', path: `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}/${encodeURIComponent(name)}` });
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** The reader resolveValues() uses for one namespace. */
  valuesSource(namespace: string): ValuesSourceReader {
    return {
      read: async (kind, name, key) => {
        const obj = await this.read(kind, namespace, name);
        if (obj.data === undefined) return undefined;
        // `key` is the HelmRelease author's: only the object's own keys answer (never `constructor`).
        return { data: Object.hasOwn(obj.data, key) ? obj.data[key] : undefined };
      },
    };
  }
}
