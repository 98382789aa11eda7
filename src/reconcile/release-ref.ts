// Which Helm release a HelmRelease means, and as whom the runner acts on it: the one rule the
// reconciler and the public API's Diff and History share, so that a preview renders with exactly
// the identity the release itself uses.
import type { HelmReleaseSpec } from '../api/helm-release.js';
import type { ReleaseRefInput } from '../runner/client.js';
import type { Redactor } from './redaction.js';
import { releaseIdentity, type TenancyPolicy } from './tenancy.js';

/** The HelmRelease a release belongs to; `uid` is absent for one not created yet (a preview). */
export interface ReleaseOwnerRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export function releaseNameOf(owner: ReleaseOwnerRef, spec: HelmReleaseSpec): string {
  return spec.releaseName ?? owner.name;
}

export function releaseNamespaceOf(owner: ReleaseOwnerRef, spec: HelmReleaseSpec): string {
  return spec.targetNamespace ?? owner.namespace;
}

/**
 * The runner's ReleaseRef: name, namespace, the ServiceAccount to impersonate (none: the
 * runner's own identity), the owner to check and record (when the HelmRelease has a UID), and
 * the secret strings to scrub.
 */
export function releaseRefOf(owner: ReleaseOwnerRef, spec: HelmReleaseSpec, tenancy: TenancyPolicy, redactor: Redactor): ReleaseRefInput {
  const identity = releaseIdentity(spec, owner.namespace, tenancy);
  // A refused identity never gets here for an action (preflight stalls first); on deletion it
  // falls back to the default ServiceAccount, never to the controller's own identity.
  const sa = identity.kind === 'service-account' ? identity.name : identity.kind === 'refused' ? tenancy.defaultServiceAccount || 'default' : '';
  return {
    name: releaseNameOf(owner, spec),
    namespace: releaseNamespaceOf(owner, spec),
    ...(sa ? { serviceAccountName: sa, serviceAccountNamespace: owner.namespace } : {}),
    ...(owner.uid ? { owner: { namespace: owner.namespace, name: owner.name, uid: owner.uid } } : {}),
    redact: [...redactor.secrets],
  };
}
