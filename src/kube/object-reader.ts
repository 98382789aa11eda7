// Reads single keys of Secrets and ConfigMaps at reconcile time, straight from the API server:
// nothing is cached, so the controller never holds every Secret of the cluster, and a value read
// is never logged.
import * as k8s from '@kubernetes/client-node';
import type { ValuesSourceReader } from '../reconcile/values.js';
import { httpStatusOf } from './helm-release-api.js';

export interface ObjectData {
  /** Decoded data of the object (Secret data is base64-decoded), undefined when it does not exist. */
  readonly data: Readonly<Record<string, string>> | undefined;
  readonly type?: string;
}

export class ObjectReader {
  readonly #core: k8s.CoreV1Api;

  constructor(kubeConfig: k8s.KubeConfig) {
    this.#core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  }

  async read(kind: 'Secret' | 'ConfigMap', namespace: string, name: string): Promise<ObjectData> {
    try {
      if (kind === 'Secret') {
        const s = await this.#core.readNamespacedSecret({ name, namespace });
        const data: Record<string, string> = {};
        for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
        return { data, ...(s.type ? { type: s.type } : {}) };
      }
      const c = await this.#core.readNamespacedConfigMap({ name, namespace });
      return { data: { ...(c.data ?? {}) } };
    } catch (err) {
      if (httpStatusOf(err) === 404) return { data: undefined };
      throw err;
    }
  }

  /** The reader resolveValues() uses for one namespace. */
  valuesSource(namespace: string): ValuesSourceReader {
    return {
      read: async (kind, name, key) => {
        const obj = await this.read(kind, namespace, name);
        if (obj.data === undefined) return undefined;
        return { data: obj.data[key] };
      },
    };
  }
}
