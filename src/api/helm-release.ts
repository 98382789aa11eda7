// The HelmRelease API (helm.project-planton.org/v1) as the reconciler reads it: a zod schema that
// re-validates every object the informer delivers (the CRD schema rejects bad specs at admission;
// this catches objects stored before a schema change) and applies the documented defaults.
// Field names and rules mirror proto/planton/helm/v1/helm_release.proto and the generated CRD;
// src/api/agreement.test.ts proves the three agree.
import { z } from 'zod';
import {
  DNS1123_LABEL_PATTERN,
  DNS1123_SUBDOMAIN_PATTERN,
  MAX_DNS1123_LABEL,
  MAX_DNS1123_SUBDOMAIN,
  MAX_RELEASE_NAME,
  RELEASE_NAME_PATTERN,
} from './names.js';
import { MAX_TARGET_PATH_LENGTH, parseTargetPath } from './target-path.js';

export const GROUP = 'helm.project-planton.org';
export const VERSION = 'v1';
export const PLURAL = 'helmreleases';
export const KIND = 'HelmRelease';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** SemVer 2.0 exact version (semver.org's recommended expression), without a leading `v`. */
export const SEMVER_PATTERN =
  '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$';
/** Go-style duration as written in Kubernetes APIs: `90s`, `10m`, `1h30m`, `500ms`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
export const CHART_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
export const REPO_PATTERN = '^(https|oci|http)://[^\\s/]+';
export const MIN_TIMEOUT_MS = 1_000;
export const MAX_TIMEOUT_MS = 3_600_000;
// Length limits of the fields the CRD's CEL rules read: the API server refuses a rule whose
// estimated cost is unbounded, and estimates it from these. Generous for real values.
export const MAX_REPO_LENGTH = 2_048;
export const MAX_CHART_NAME_LENGTH = 253;
export const MAX_VERSION_LENGTH = 256;
export const MAX_DURATION_LENGTH = 64;
export const MAX_IGNORE_RULES = 64;
export const MAX_IGNORE_PATHS = 64;
export const MAX_JSON_POINTER_LENGTH = 1_024;
export const MAX_VALUES_FROM = 64;
export const MAX_DEPENDS_ON = 64;

/** Milliseconds of a Go-style duration string; NaN when it is malformed. */
export function durationMs(text: string): number {
  if (!new RegExp(DURATION_PATTERN).test(text)) return Number.NaN;
  const unit: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (unit[m[2] ?? ''] ?? Number.NaN);
  }
  return total;
}

const Duration = z.string().max(MAX_DURATION_LENGTH).regex(new RegExp(DURATION_PATTERN), 'must be a duration such as 90s, 10m or 1h');

/** The name of a Secret, ConfigMap, ServiceAccount or HelmRelease. */
const ObjectName = z
  .string()
  .min(1)
  .max(MAX_DNS1123_SUBDOMAIN)
  .regex(new RegExp(DNS1123_SUBDOMAIN_PATTERN), 'must be a lowercase DNS-1123 name (letters, digits, - and .)');
const NamespaceName = z
  .string()
  .min(1)
  .max(MAX_DNS1123_LABEL)
  .regex(new RegExp(DNS1123_LABEL_PATTERN), 'must be a namespace name (lowercase letters, digits and -)');

const LocalObjectReference = z.strictObject({ name: ObjectName });

const TargetPath = z
  .string()
  .max(MAX_TARGET_PATH_LENGTH)
  .superRefine((path, ctx) => {
    try {
      parseTargetPath(path);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `targetPath ${err instanceof Error ? err.message : String(err)}` });
    }
  });

const ValuesReference = z.strictObject({
  kind: z.enum(['Secret', 'ConfigMap']),
  name: ObjectName,
  key: z.string().min(1).default('values.yaml'),
  targetPath: TargetPath.optional(),
  optional: z.boolean().default(false),
});

const ObjectSelector = z.strictObject({
  group: z.string().optional(),
  version: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
});

const DriftIgnoreRule = z.strictObject({
  paths: z
    .array(z.string().max(MAX_JSON_POINTER_LENGTH).regex(/^\//, 'must be a JSON pointer starting with /'))
    .min(1)
    .max(MAX_IGNORE_PATHS),
  target: ObjectSelector.optional(),
});

const DriftDetection = z.strictObject({
  mode: z.enum(['enabled', 'warn', 'disabled']).default('enabled'),
  ignore: z.array(DriftIgnoreRule).max(MAX_IGNORE_RULES).default([]),
});

const Remediation = z.strictObject({
  retries: z.number().int().min(0).default(3),
  strategy: z.enum(['rollback', 'uninstall']).default('rollback'),
});

const TestPolicy = z.strictObject({
  enable: z.boolean().default(false),
  ignoreFailures: z.boolean().default(false),
});

const DependencyReference = z.strictObject({
  name: ObjectName,
  // Empty is refused rather than read as "this namespace": callers default with `??`.
  namespace: NamespaceName.optional(),
});

const RepositoryAuth = z.strictObject({
  secretRef: LocalObjectReference.optional(),
  caSecretRef: LocalObjectReference.optional(),
});

export const HelmReleaseSpecSchema = z
  .strictObject({
    repo: z.string().min(1).max(MAX_REPO_LENGTH).regex(new RegExp(REPO_PATTERN), 'must be an https://, oci:// or http:// URL'),
    name: z
      .string()
      .min(1)
      .max(MAX_CHART_NAME_LENGTH)
      .regex(new RegExp(CHART_NAME_PATTERN), 'must be a chart name (letters, digits, -, _ and .)')
      .refine((n) => n !== '.' && n !== '..', 'must not be . or ..'),
    version: z
      .string()
      .min(1)
      .max(MAX_VERSION_LENGTH)
      .regex(new RegExp(SEMVER_PATTERN), 'must be an exact SemVer version such as 1.4.2 (ranges and latest are not allowed)'),
    values: z
      .record(z.string(), z.unknown())
      .default({})
      .superRefine((values, ctx) => {
        const at = protoKeyPath(values);
        if (at !== undefined) ctx.addIssue({ code: 'custom', message: `the key ${at} is not allowed` });
      }),
    valuesFrom: z.array(ValuesReference).max(MAX_VALUES_FROM).default([]),
    atomic: z.boolean().default(true),
    wait: z.boolean().default(true),
    timeout: Duration.default('5m').refine((d) => {
      const ms = durationMs(d);
      return ms >= MIN_TIMEOUT_MS && ms <= MAX_TIMEOUT_MS;
    }, 'must be between 1s and 1h'),
    interval: Duration.default('10m').refine((d) => durationMs(d) > 0, 'must be positive'),
    releaseName: z
      .string()
      .max(MAX_RELEASE_NAME, `must be at most ${MAX_RELEASE_NAME} characters`)
      .regex(new RegExp(RELEASE_NAME_PATTERN), "must be lowercase letters, digits, - and ., dot-separated parts starting and ending with a letter or digit (Helm's rule)")
      .optional(),
    targetNamespace: NamespaceName.optional(),
    createNamespace: z.boolean().default(false),
    auth: RepositoryAuth.optional(),
    driftDetection: DriftDetection.default({ mode: 'enabled', ignore: [] }),
    remediation: Remediation.default({ retries: 3, strategy: 'rollback' }),
    test: TestPolicy.default({ enable: false, ignoreFailures: false }),
    dependsOn: z.array(DependencyReference).max(MAX_DEPENDS_ON).default([]),
    serviceAccountName: ObjectName.optional(),
    maxHistory: z.number().int().min(0).default(5),
    suspend: z.boolean().default(false),
    deletionPolicy: z.enum(['Delete', 'Orphan']).default('Delete'),
  });

/**
 * The path of the first `__proto__` key in JSON-like values, if any: such a key cannot be carried
 * faithfully (any `obj[key] = ...` on the way sets a prototype instead), so it is refused.
 */
export function protoKeyPath(v: unknown, path = ''): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, x] of Object.entries(v)) {
    const here = Array.isArray(v) ? `${path}[${k}]` : path === '' ? k : `${path}.${k}`;
    if (!Array.isArray(v) && k === '__proto__') return here;
    const found = protoKeyPath(x, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A HelmRelease spec with every default applied. */
export type HelmReleaseSpec = z.output<typeof HelmReleaseSpecSchema>;
export type ValuesReference = z.output<typeof ValuesReference>;
export type DriftIgnoreRule = z.output<typeof DriftIgnoreRule>;

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A status condition, shaped like metav1.Condition. */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

export interface ReleaseInfo {
  readonly name: string;
  readonly namespace: string;
  readonly revision: number;
  readonly chartName: string;
  readonly chartVersion: string;
  readonly appVersion?: string;
  readonly status: string;
}

export interface ReleaseHistoryEntry {
  readonly revision: number;
  readonly chartVersion: string;
  readonly appVersion?: string;
  readonly status: string;
  readonly valuesDigest?: string;
  readonly deployedAt?: string;
  readonly testResult?: string;
}

export interface DriftStatus {
  readonly objectsDrifted: number;
  readonly lastDetectedTime?: string;
  readonly lastCorrectedTime?: string;
}

/** HelmReleaseStatus as stored in the object (JSON names of the proto message). */
export interface HelmReleaseStatus {
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
  readonly release?: ReleaseInfo;
  readonly history?: readonly ReleaseHistoryEntry[];
  readonly failures?: number;
  readonly installFailures?: number;
  readonly upgradeFailures?: number;
  readonly lastAttemptedChartVersion?: string;
  readonly lastAttemptedValuesDigest?: string;
  readonly lastAttemptedGeneration?: number;
  /** Digest of the release configuration (the repository URL) of the last attempt. */
  readonly lastAttemptedConfigDigest?: string;
  readonly drift?: DriftStatus;
  readonly lastHandledReconcileTime?: string;
  /** Releases installed under an earlier releaseName/targetNamespace, still to be uninstalled. */
  readonly previousReleases?: readonly PreviousRelease[];
}

/** A Helm release a HelmRelease installed under an earlier name or namespace. */
export interface PreviousRelease {
  readonly name: string;
  readonly namespace: string;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly resourceVersion: string;
  readonly deletionTimestamp?: string;
  readonly finalizers?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A HelmRelease as the informer stores it: the spec is raw until parsed. */
export interface HelmReleaseObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec: unknown;
  readonly status?: HelmReleaseStatus;
}

export type ParsedSpec = { readonly ok: true; readonly spec: HelmReleaseSpec } | { readonly ok: false; readonly message: string };

/** Validates and defaults a raw spec; the message names every bad field by its path. */
export function parseSpec(raw: unknown): ParsedSpec {
  const result = HelmReleaseSpecSchema.safeParse(raw ?? {});
  if (result.success) return { ok: true, spec: result.data };
  const message = result.error.issues
    .map((i) => `spec.${i.path.map(String).join('.')}: ${i.message}`)
    .join('; ');
  return { ok: false, message };
}

/** The key the work queue uses for a HelmRelease. */
export function keyOf(meta: { readonly namespace?: string; readonly name?: string }): string {
  return `${meta.namespace ?? ''}/${meta.name ?? ''}`;
}
