// HelmRelease objects as the API returns them (proto messages), and requests checked before
// anything is written: names with the API server's own rules, the spec with the CRD's rules
// (HelmReleaseSpecSchema, the same zod schema the reconciler re-validates with), each refusal
// an INVALID_ARGUMENT that names the field.
import { DNS1123_LABEL_PATTERN, DNS1123_SUBDOMAIN_PATTERN, MAX_DNS1123_LABEL, MAX_DNS1123_SUBDOMAIN } from '../api/names.js';
import { HelmReleaseSpecSchema } from '../api/helm-release.js';
import { HelmReleaseStatus, type HelmReleaseSpec } from '../gen/planton/helm/v1/helm_release.js';
import type { HelmRelease } from '../gen/planton/helm/v1/helm_release_service.js';
import { ApiError, Code } from './errors.js';
import { SpecConversionError, specFromCrd, specToCrd } from './spec-convert.js';
import type { HelmReleaseJson } from './store.js';

/** Largest spec accepted, as JSON (the whole object, status included, must fit etcd's 1.5 MiB). */
export const MAX_SPEC_BYTES = 512 * 1024;

export function helmReleaseMessage(obj: HelmReleaseJson): HelmRelease {
  const m = obj.metadata;
  let spec: HelmReleaseSpec | undefined;
  try {
    spec = obj.spec === undefined ? undefined : specFromCrd(obj.spec);
  } catch {
    // Stored before a schema change: served without its spec rather than not at all.
    spec = undefined;
  }
  return {
    namespace: m.namespace,
    name: m.name,
    labels: { ...(m.labels ?? {}) },
    ...(spec ? { spec } : {}),
    status: HelmReleaseStatus.fromJSON(obj.status ?? {}),
    generation: m.generation ?? 0,
    resourceVersion: m.resourceVersion,
    uid: m.uid,
    ...(m.creationTimestamp ? { creationTime: new Date(m.creationTimestamp) } : {}),
    ...(m.deletionTimestamp ? { deletionTime: new Date(m.deletionTimestamp) } : {}),
  };
}

export function requireNamespace(namespace: string, field = 'namespace'): string {
  if (namespace === '') throw new ApiError(Code.INVALID_ARGUMENT, `${field}: required`);
  if (namespace.length > MAX_DNS1123_LABEL || !new RegExp(DNS1123_LABEL_PATTERN).test(namespace)) {
    throw new ApiError(Code.INVALID_ARGUMENT, `${field}: must be a namespace name (lowercase letters, digits and -, at most ${MAX_DNS1123_LABEL})`);
  }
  return namespace;
}

export function requireName(name: string, field = 'name'): string {
  if (name === '') throw new ApiError(Code.INVALID_ARGUMENT, `${field}: required`);
  if (name.length > MAX_DNS1123_SUBDOMAIN || !new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(name)) {
    throw new ApiError(Code.INVALID_ARGUMENT, `${field}: must be a lowercase DNS-1123 name (letters, digits, - and .)`);
  }
  return name;
}

/** The CRD JSON of a request's spec, validated with the CRD's rules. */
export function validSpec(spec: HelmReleaseSpec | undefined, field = 'spec'): Record<string, unknown> {
  if (spec === undefined) throw new ApiError(Code.INVALID_ARGUMENT, `${field}: required`);
  let json: Record<string, unknown>;
  try {
    json = specToCrd(spec, field);
  } catch (err) {
    if (err instanceof SpecConversionError) throw new ApiError(Code.INVALID_ARGUMENT, err.message);
    throw err;
  }
  const bytes = Buffer.byteLength(JSON.stringify(json));
  if (bytes > MAX_SPEC_BYTES) throw new ApiError(Code.INVALID_ARGUMENT, `${field}: ${bytes} bytes as JSON, at most ${MAX_SPEC_BYTES}`);
  const parsed = HelmReleaseSpecSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new ApiError(Code.INVALID_ARGUMENT, `${field}${path}: ${issue?.message ?? 'invalid'}`);
  }
  return json;
}

/** Labels with the API server's rules for keys and values (checked again there). */
export function validLabels(labels: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(labels)) {
    if (!/^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k)) {
      throw new ApiError(Code.INVALID_ARGUMENT, `labels: key ${JSON.stringify(k.slice(0, 80))} is not a valid label key`);
    }
    if (v !== '' && !/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(v)) {
      throw new ApiError(Code.INVALID_ARGUMENT, `labels.${k}: ${JSON.stringify(v.slice(0, 80))} is not a valid label value`);
    }
  }
  return labels;
}
