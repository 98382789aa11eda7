// Admission rules of the HelmRelease CRD that the proto comments state in prose: patterns,
// bounds and length limits, as OpenAPI keywords and CEL rules with a message a user can act on.
// The patterns and limits are the zod schema's own constants, so the API server and the
// reconciler apply one rule. Rules the comments state in their fixed phrasing ("Required.",
// "Default `x`.", "Must not be negative.", enum spellings) are derived by the generator instead.
import {
  CHART_NAME_PATTERN,
  DURATION_PATTERN,
  MAX_CHART_NAME_LENGTH,
  MAX_DURATION_LENGTH,
  MAX_IGNORE_PATHS,
  MAX_IGNORE_RULES,
  MAX_DEPENDS_ON,
  MAX_JSON_POINTER_LENGTH,
  MAX_REPO_LENGTH,
  MAX_TIMEOUT_MS,
  MAX_VERSION_LENGTH,
  MAX_VALUES_FROM,
  MIN_TIMEOUT_MS,
  REPO_PATTERN,
  SEMVER_PATTERN,
} from '../helm-release.js';
import {
  DNS1123_LABEL_PATTERN,
  DNS1123_SUBDOMAIN_PATTERN,
  MAX_DNS1123_LABEL,
  MAX_DNS1123_SUBDOMAIN,
  MAX_RELEASE_NAME,
  RELEASE_NAME_PATTERN,
} from '../names.js';
import { ESCAPES_PATTERN, FORBIDDEN_PATH_STEPS, FORBIDDEN_STEP_PATTERN, MAX_TARGET_PATH_LENGTH } from '../target-path.js';

/** One `x-kubernetes-validations` entry. */
export interface ValidationRule {
  readonly rule: string;
  readonly message: string;
}

/** Keywords added to the schema of one field (or, for a path ending in `[]`, of its items). */
export interface FieldRules {
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minimum?: number;
  readonly validations?: readonly ValidationRule[];
}

/**
 * Rules by schema path: `spec.version`; `spec.driftDetection.ignore[].paths` is the list of an
 * item of `ignore`, `...paths[]` each of its items; `` (empty) is the whole object, where CEL can
 * read `metadata.name` beside the spec. The generator fails on a path that names no field, so a
 * renamed field cannot silently lose its rules.
 */
export type AdmissionRules = Readonly<Record<string, FieldRules>>;

/**
 * A CEL rule that holds when the string matches `pattern` (RE2, unanchored like JavaScript's
 * `RegExp.test`). A raw string literal, so the pattern's backslashes are kept as written.
 */
export function matchesRule(pattern: string): string {
  if (pattern.includes("'")) throw new Error(`pattern ${pattern} contains a quote`);
  return `self.matches(r'${pattern}')`;
}

/** Milliseconds as a Go duration string for CEL's duration(): 1000 → `1s`, 5400000 → `1h30m`. */
export function goDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`not a whole number of milliseconds: ${ms}`);
  if (ms === 0) return '0s';
  const units: readonly [string, number][] = [['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]];
  let rest = ms;
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

function durationRules(field: string, bound: ValidationRule): FieldRules {
  return {
    maxLength: MAX_DURATION_LENGTH,
    validations: [
      { rule: matchesRule(DURATION_PATTERN), message: `${field} must be a duration such as 90s, 10m or 1h30m` },
      // Guarded by the pattern so a malformed value gets only the message above, not a CEL error.
      { rule: `!${matchesRule(DURATION_PATTERN)} || (${bound.rule})`, message: bound.message },
    ],
  };
}

/** A field naming a Secret, ConfigMap, ServiceAccount or HelmRelease. */
function objectNameRules(field: string): FieldRules {
  return {
    minLength: 1,
    maxLength: MAX_DNS1123_SUBDOMAIN,
    validations: [
      { rule: matchesRule(DNS1123_SUBDOMAIN_PATTERN), message: `${field} must be a lowercase DNS-1123 name: letters, digits, - and ., starting and ending with a letter or digit` },
    ],
  };
}

/** A field naming a namespace. */
function namespaceRules(field: string): FieldRules {
  return {
    minLength: 1,
    maxLength: MAX_DNS1123_LABEL,
    validations: [
      { rule: matchesRule(DNS1123_LABEL_PATTERN), message: `${field} must be a namespace name: lowercase letters, digits and -, starting and ending with a letter or digit` },
    ],
  };
}

const minTimeout = goDuration(MIN_TIMEOUT_MS);
const maxTimeout = goDuration(MAX_TIMEOUT_MS);

/** The HelmRelease CRD's admission rules. */
export const ADMISSION_RULES: AdmissionRules = {
  // The release is named after the HelmRelease unless spec.releaseName is set; object names may
  // be longer than Helm allows. (Their characters already fit Helm's pattern.)
  '': {
    validations: [
      {
        rule: `has(self.spec.releaseName) || size(self.metadata.name) <= ${MAX_RELEASE_NAME}`,
        message: `metadata.name is longer than ${MAX_RELEASE_NAME} characters, Helm's limit for release names: set spec.releaseName`,
      },
    ],
  },
  'spec.repo': {
    maxLength: MAX_REPO_LENGTH,
    validations: [
      {
        rule: matchesRule(REPO_PATTERN),
        message: 'repo must be an https://, oci:// or http:// URL, such as https://charts.example.com/stable or oci://registry.example.com/charts',
      },
    ],
  },
  'spec.name': {
    maxLength: MAX_CHART_NAME_LENGTH,
    validations: [
      {
        rule: matchesRule(CHART_NAME_PATTERN),
        message: 'name must be a chart name such as podinfo: letters, digits, -, _ and ., without / and not . or ..',
      },
    ],
  },
  'spec.version': {
    maxLength: MAX_VERSION_LENGTH,
    validations: [
      {
        rule: matchesRule(SEMVER_PATTERN),
        message: 'version must be an exact SemVer version such as 1.4.2 (no leading v); ranges and `latest` are not allowed',
      },
    ],
  },
  'spec.timeout': durationRules('timeout', {
    rule: `duration(self) >= duration('${minTimeout}') && duration(self) <= duration('${maxTimeout}')`,
    message: `timeout must be between ${minTimeout} and ${maxTimeout}`,
  }),
  'spec.interval': durationRules('interval', {
    rule: `duration(self) > duration('0s')`,
    message: 'interval must be positive',
  }),
  'spec.releaseName': {
    maxLength: MAX_RELEASE_NAME,
    validations: [
      {
        rule: matchesRule(RELEASE_NAME_PATTERN),
        message: "releaseName must be lowercase letters, digits, - and ., dot-separated parts starting and ending with a letter or digit (Helm's rule)",
      },
    ],
  },
  'spec.valuesFrom': { maxItems: MAX_VALUES_FROM },
  'spec.valuesFrom[].name': objectNameRules('valuesFrom name'),
  'spec.valuesFrom[].key': { minLength: 1 },
  'spec.valuesFrom[].targetPath': {
    maxLength: MAX_TARGET_PATH_LENGTH,
    validations: [
      {
        rule: `!${matchesRule(FORBIDDEN_STEP_PATTERN)}`,
        message: `targetPath must not name ${FORBIDDEN_PATH_STEPS.join(', ')}`,
      },
      { rule: matchesRule(ESCAPES_PATTERN), message: 'targetPath may escape only ., [, ] and \\ with a backslash' },
    ],
  },
  'spec.targetNamespace': namespaceRules('targetNamespace'),
  'spec.serviceAccountName': objectNameRules('serviceAccountName'),
  'spec.auth.secretRef.name': objectNameRules('auth.secretRef.name'),
  'spec.auth.caSecretRef.name': objectNameRules('auth.caSecretRef.name'),
  'spec.dependsOn': { maxItems: MAX_DEPENDS_ON },
  'spec.dependsOn[].name': objectNameRules('dependsOn name'),
  'spec.dependsOn[].namespace': namespaceRules('dependsOn namespace'),
  'spec.driftDetection.ignore': { maxItems: MAX_IGNORE_RULES },
  'spec.driftDetection.ignore[].paths': { maxItems: MAX_IGNORE_PATHS },
  'spec.driftDetection.ignore[].paths[]': {
    maxLength: MAX_JSON_POINTER_LENGTH,
    validations: [
      { rule: "self.startsWith('/')", message: 'each ignore path must be a JSON pointer starting with /, such as /spec/replicas' },
    ],
  },
};
