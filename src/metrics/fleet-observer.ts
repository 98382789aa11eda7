// Connects what the controller's cache holds (FleetObserver) to the per-release metrics: the
// info series of every HelmRelease it knows, and the -4 (unknown) status of those not reconciled
// yet. Both follow the cache: a HelmRelease that is deleted or leaves the controller's scope stops
// being reported.
import { type HelmReleaseObject, parseSpec } from '../api/helm-release.js';
import type { FleetObserver } from '../controller/controller.js';
import { ConditionType, findCondition } from '../reconcile/conditions.js';
import type { Metrics, ReleaseInfo } from './metrics.js';

type SpecLabels = Pick<ReleaseInfo, 'chart' | 'version' | 'suspended' | 'releaseNamespace' | 'releaseName'>;

/**
 * The labels of planton_helm_release_info for `obj`. A spec that does not validate still yields
 * its chart and version as written (strings only), so a Stalled InvalidSpec release is listed too.
 */
export function releaseInfoOf(obj: HelmReleaseObject): ReleaseInfo {
  return { ...specLabelsOf(obj), ...statusLabelsOf(obj) };
}

function specLabelsOf(obj: HelmReleaseObject): SpecLabels {
  const { namespace, name } = obj.metadata;
  const parsed = parseSpec(obj.spec);
  if (parsed.ok) {
    const spec = parsed.spec;
    return {
      chart: spec.name,
      version: spec.version,
      suspended: spec.suspend,
      releaseNamespace: spec.targetNamespace ?? namespace,
      releaseName: spec.releaseName ?? name,
    };
  }
  const raw = typeof obj.spec === 'object' && obj.spec !== null ? (obj.spec as Record<string, unknown>) : {};
  const text = (k: string): string | undefined => (Object.hasOwn(raw, k) && typeof raw[k] === 'string' ? raw[k] : undefined);
  return {
    chart: text('name') ?? '',
    version: text('version') ?? '',
    suspended: Object.hasOwn(raw, 'suspend') && raw['suspend'] === true,
    releaseNamespace: text('targetNamespace') ?? namespace,
    releaseName: text('releaseName') ?? name,
  };
}

function statusLabelsOf(obj: HelmReleaseObject): Pick<ReleaseInfo, 'revision' | 'ready' | 'reason'> {
  const revision = obj.status?.release?.revision;
  const ready = findCondition(obj.status?.conditions, ConditionType.Ready);
  return {
    revision: revision !== undefined && revision > 0 ? String(revision) : '',
    ready: ready?.status === 'True' || ready?.status === 'False' ? ready.status : 'Unknown',
    // Bounded: the controller writes its reason constants only; anything longer is not one.
    reason: ready && /^[A-Za-z]{1,64}$/.test(ready.reason) ? ready.reason : '',
  };
}

export function fleetObserver(metrics: Metrics): FleetObserver {
  // Most versions the cache receives are status writes: the spec is parsed again only when its
  // generation changed (one entry per HelmRelease known, removed with it).
  const specs = new Map<string, { readonly uid: string; readonly generation: number; readonly labels: SpecLabels }>();
  return {
    known(obj) {
      const { namespace, name, uid, generation } = obj.metadata;
      const key = `${namespace}/${name}`;
      let cached = specs.get(key);
      if (cached?.uid !== uid || cached.generation !== generation) {
        cached = { uid, generation, labels: specLabelsOf(obj) };
        specs.set(key, cached);
      }
      metrics.setReleaseKnown(namespace, name, { ...cached.labels, ...statusLabelsOf(obj) });
    },
    forgotten(namespace, name) {
      specs.delete(`${namespace}/${name}`);
      metrics.deleteRelease(namespace, name);
    },
  };
}
