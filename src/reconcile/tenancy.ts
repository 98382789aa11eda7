// The tenancy policy: which identity a release's Helm operations run as, and which references a
// HelmRelease may make outside its own namespace. Pure; the flags that set it are in config.ts
// and docs/security.md says what each mode guarantees.
import type { HelmReleaseSpec } from '../api/helm-release.js';

export interface TenancyPolicy {
  /** ServiceAccount (of the HelmRelease's own namespace) for releases that name none; '' none. */
  readonly defaultServiceAccount: string;
  /**
   * Namespaces whose HelmReleases that name no ServiceAccount act as the controller itself
   * (`*`: every namespace). Everywhere else such a release uses the default ServiceAccount, or is
   * refused when there is none.
   */
  readonly controllerIdentityNamespaces: readonly string[];
  /** Refuse targetNamespace and dependsOn outside the HelmRelease's namespace. */
  readonly noCrossNamespaceRefs: boolean;
}

/** The identity a release's Helm operations run as. */
export type ReleaseIdentity =
  | { readonly kind: 'controller' }
  | { readonly kind: 'service-account'; readonly name: string }
  | { readonly kind: 'refused'; readonly message: string };

export function releaseIdentity(spec: HelmReleaseSpec, namespace: string, policy: TenancyPolicy): ReleaseIdentity {
  if (spec.serviceAccountName) return { kind: 'service-account', name: spec.serviceAccountName };
  const privileged = policy.controllerIdentityNamespaces;
  if (privileged.includes('*') || privileged.includes(namespace)) return { kind: 'controller' };
  if (policy.defaultServiceAccount) return { kind: 'service-account', name: policy.defaultServiceAccount };
  return {
    kind: 'refused',
    message: `this controller acts as itself only for HelmReleases in ${privileged.length > 0 ? privileged.join(', ') : 'no namespace'}: set spec.serviceAccountName to a ServiceAccount of namespace ${namespace}`,
  };
}

/** Why the spec is refused under the policy's cross-namespace rule; undefined when it is not. */
export function crossNamespaceRefusal(spec: HelmReleaseSpec, namespace: string, policy: TenancyPolicy): string | undefined {
  if (!policy.noCrossNamespaceRefs) return undefined;
  if (spec.targetNamespace !== undefined && spec.targetNamespace !== namespace) {
    return `targetNamespace ${spec.targetNamespace} is another namespace, which this controller refuses (--no-cross-namespace-refs): a HelmRelease installs into its own namespace ${namespace}`;
  }
  const foreign = spec.dependsOn.find((d) => d.namespace !== undefined && d.namespace !== namespace);
  if (foreign) {
    return `dependsOn ${foreign.namespace}/${foreign.name} is in another namespace, which this controller refuses (--no-cross-namespace-refs)`;
  }
  return undefined;
}
