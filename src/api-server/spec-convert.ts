// The HelmRelease spec in its two forms: the proto message of the public API (ts-proto's
// HelmReleaseSpec, enum numbers, google.protobuf.Duration) and the CRD's JSON (enum spellings
// from the proto comments, Go-style durations). A field that is not set in the message is left
// out of the JSON, so that a server-side apply does not take ownership of it.
import { durationMs } from '../api/helm-release.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import {
  DeletionPolicy,
  DriftDetectionMode,
  type DriftIgnoreRule,
  type HelmReleaseSpec,
  type ObjectSelector,
  RemediationStrategy,
  ValuesSourceKind,
} from '../gen/planton/helm/v1/helm_release.js';

/** A spec that cannot be converted; `field` is its JSON path, e.g. `spec.deletionPolicy`. */
export class SpecConversionError extends Error {
  override readonly name = 'SpecConversionError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** Each enum's values and their CRD spellings (the "Written `X`." of the proto comments). */
export const ENUM_SPELLINGS = {
  valuesSourceKind: new Map<number, string>([
    [ValuesSourceKind.SECRET, 'Secret'],
    [ValuesSourceKind.CONFIG_MAP, 'ConfigMap'],
  ]),
  driftDetectionMode: new Map<number, string>([
    [DriftDetectionMode.ENABLED, 'enabled'],
    [DriftDetectionMode.WARN, 'warn'],
    [DriftDetectionMode.DISABLED, 'disabled'],
  ]),
  remediationStrategy: new Map<number, string>([
    [RemediationStrategy.ROLLBACK, 'rollback'],
    [RemediationStrategy.UNINSTALL, 'uninstall'],
  ]),
  deletionPolicy: new Map<number, string>([
    [DeletionPolicy.DELETE, 'Delete'],
    [DeletionPolicy.ORPHAN, 'Orphan'],
  ]),
} as const;

type Json = Record<string, unknown>;

/** The CRD's JSON for a proto spec; throws SpecConversionError for an unknown enum value. */
export function specToCrd(spec: HelmReleaseSpec, at = 'spec'): Json {
  const out: Json = {};
  setString(out, 'repo', spec.repo);
  setString(out, 'name', spec.name);
  setString(out, 'version', spec.version);
  if (spec.values !== undefined) out['values'] = spec.values;
  if (spec.valuesFrom.length > 0) {
    out['valuesFrom'] = spec.valuesFrom.map((v, i) => {
      const r: Json = {};
      const kind = spelling('valuesSourceKind', v.kind, `${at}.valuesFrom[${i}].kind`);
      if (kind !== undefined) r['kind'] = kind;
      setString(r, 'name', v.name);
      setString(r, 'key', v.key);
      setString(r, 'targetPath', v.targetPath);
      if (v.optional) r['optional'] = true;
      return r;
    });
  }
  if (spec.atomic !== undefined) out['atomic'] = spec.atomic;
  if (spec.wait !== undefined) out['wait'] = spec.wait;
  if (spec.timeout !== undefined) out['timeout'] = durationText(spec.timeout, `${at}.timeout`);
  if (spec.interval !== undefined) out['interval'] = durationText(spec.interval, `${at}.interval`);
  setString(out, 'releaseName', spec.releaseName);
  setString(out, 'targetNamespace', spec.targetNamespace);
  if (spec.createNamespace) out['createNamespace'] = true;
  if (spec.auth !== undefined) {
    const a: Json = {};
    if (spec.auth.secretRef !== undefined) a['secretRef'] = { name: spec.auth.secretRef.name };
    if (spec.auth.caSecretRef !== undefined) a['caSecretRef'] = { name: spec.auth.caSecretRef.name };
    out['auth'] = a;
  }
  if (spec.driftDetection !== undefined) {
    const d: Json = {};
    const mode = spelling('driftDetectionMode', spec.driftDetection.mode, `${at}.driftDetection.mode`);
    if (mode !== undefined) d['mode'] = mode;
    if (spec.driftDetection.ignore.length > 0) d['ignore'] = spec.driftDetection.ignore.map(ignoreRuleToCrd);
    out['driftDetection'] = d;
  }
  if (spec.remediation !== undefined) {
    const r: Json = {};
    if (spec.remediation.retries !== undefined) r['retries'] = spec.remediation.retries;
    const strategy = spelling('remediationStrategy', spec.remediation.strategy, `${at}.remediation.strategy`);
    if (strategy !== undefined) r['strategy'] = strategy;
    out['remediation'] = r;
  }
  if (spec.test !== undefined) {
    const t: Json = {};
    if (spec.test.enable) t['enable'] = true;
    if (spec.test.ignoreFailures) t['ignoreFailures'] = true;
    out['test'] = t;
  }
  if (spec.dependsOn.length > 0) {
    out['dependsOn'] = spec.dependsOn.map((d) => {
      const r: Json = {};
      setString(r, 'name', d.name);
      setString(r, 'namespace', d.namespace);
      return r;
    });
  }
  setString(out, 'serviceAccountName', spec.serviceAccountName);
  if (spec.maxHistory !== undefined) out['maxHistory'] = spec.maxHistory;
  if (spec.suspend) out['suspend'] = true;
  const policy = spelling('deletionPolicy', spec.deletionPolicy, `${at}.deletionPolicy`);
  if (policy !== undefined) out['deletionPolicy'] = policy;
  return out;
}

function ignoreRuleToCrd(rule: DriftIgnoreRule): Json {
  const r: Json = { paths: [...rule.paths] };
  if (rule.target !== undefined) {
    const t: Json = {};
    for (const k of ['group', 'version', 'kind', 'name', 'namespace'] as const) setString(t, k, rule.target[k]);
    r['target'] = t;
  }
  return r;
}

/**
 * The proto spec for the CRD's JSON (as stored, or as a user wrote it in YAML). Throws
 * SpecConversionError naming the first field that has the wrong type or an unknown spelling;
 * the field values themselves are validated by the CRD's rules (HelmReleaseSpecSchema).
 */
export function specFromCrd(json: unknown, at = 'spec'): HelmReleaseSpec {
  const o = object(json, at);
  const spec: HelmReleaseSpec = {
    repo: str(o, 'repo', at),
    name: str(o, 'name', at),
    version: str(o, 'version', at),
    valuesFrom: [],
    releaseName: str(o, 'releaseName', at),
    targetNamespace: str(o, 'targetNamespace', at),
    createNamespace: bool(o, 'createNamespace', at) ?? false,
    dependsOn: [],
    serviceAccountName: str(o, 'serviceAccountName', at),
    suspend: bool(o, 'suspend', at) ?? false,
    deletionPolicy: (enumOf(o, 'deletionPolicy', 'deletionPolicy', at) ?? DeletionPolicy.UNSPECIFIED) as DeletionPolicy,
  };
  if (o['values'] !== undefined) spec.values = object(o['values'], `${at}.values`);
  spec.valuesFrom = array(o, 'valuesFrom', at).map((v, i) => {
    const here = `${at}.valuesFrom[${i}]`;
    const r = object(v, here);
    return {
      kind: (enumOf(r, 'kind', 'valuesSourceKind', here) ?? ValuesSourceKind.UNSPECIFIED) as ValuesSourceKind,
      name: str(r, 'name', here),
      key: str(r, 'key', here),
      targetPath: str(r, 'targetPath', here),
      optional: bool(r, 'optional', here) ?? false,
    };
  });
  const atomic = bool(o, 'atomic', at);
  if (atomic !== undefined) spec.atomic = atomic;
  const wait = bool(o, 'wait', at);
  if (wait !== undefined) spec.wait = wait;
  const timeout = duration(o, 'timeout', at);
  if (timeout !== undefined) spec.timeout = timeout;
  const interval = duration(o, 'interval', at);
  if (interval !== undefined) spec.interval = interval;
  if (o['auth'] !== undefined) {
    const a = object(o['auth'], `${at}.auth`);
    spec.auth = {};
    if (a['secretRef'] !== undefined) spec.auth.secretRef = { name: str(object(a['secretRef'], `${at}.auth.secretRef`), 'name', `${at}.auth.secretRef`) };
    if (a['caSecretRef'] !== undefined) spec.auth.caSecretRef = { name: str(object(a['caSecretRef'], `${at}.auth.caSecretRef`), 'name', `${at}.auth.caSecretRef`) };
  }
  if (o['driftDetection'] !== undefined) {
    const here = `${at}.driftDetection`;
    const d = object(o['driftDetection'], here);
    spec.driftDetection = {
      mode: (enumOf(d, 'mode', 'driftDetectionMode', here) ?? DriftDetectionMode.UNSPECIFIED) as DriftDetectionMode,
      ignore: array(d, 'ignore', here).map((r, i) => ignoreRuleFromCrd(r, `${here}.ignore[${i}]`)),
    };
  }
  if (o['remediation'] !== undefined) {
    const here = `${at}.remediation`;
    const r = object(o['remediation'], here);
    spec.remediation = { strategy: (enumOf(r, 'strategy', 'remediationStrategy', here) ?? RemediationStrategy.UNSPECIFIED) as RemediationStrategy };
    const retries = int(r, 'retries', here);
    if (retries !== undefined) spec.remediation.retries = retries;
  }
  if (o['test'] !== undefined) {
    const t = object(o['test'], `${at}.test`);
    spec.test = { enable: bool(t, 'enable', `${at}.test`) ?? false, ignoreFailures: bool(t, 'ignoreFailures', `${at}.test`) ?? false };
  }
  spec.dependsOn = array(o, 'dependsOn', at).map((d, i) => {
    const here = `${at}.dependsOn[${i}]`;
    const r = object(d, here);
    return { name: str(r, 'name', here), namespace: str(r, 'namespace', here) };
  });
  const maxHistory = int(o, 'maxHistory', at);
  if (maxHistory !== undefined) spec.maxHistory = maxHistory;
  const known = new Set(['repo', 'name', 'version', 'values', 'valuesFrom', 'atomic', 'wait', 'timeout', 'interval', 'releaseName', 'targetNamespace',
    'createNamespace', 'auth', 'driftDetection', 'remediation', 'test', 'dependsOn', 'serviceAccountName', 'maxHistory', 'suspend', 'deletionPolicy']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new SpecConversionError(`${at}.${k}`, 'unknown field');
  return spec;
}

function ignoreRuleFromCrd(json: unknown, at: string): DriftIgnoreRule {
  const r = object(json, at);
  const rule: DriftIgnoreRule = {
    paths: array(r, 'paths', at).map((p, i) => {
      if (typeof p !== 'string') throw new SpecConversionError(`${at}.paths[${i}]`, 'must be a string');
      return p;
    }),
  };
  if (r['target'] !== undefined) {
    const t = object(r['target'], `${at}.target`);
    const sel: ObjectSelector = { group: '', version: '', kind: '', name: '', namespace: '' };
    for (const k of ['group', 'version', 'kind', 'name', 'namespace'] as const) sel[k] = str(t, k, `${at}.target`);
    rule.target = sel;
  }
  return rule;
}

/** `90s`, `10m`, `1h30m`, `1500ms` for a Duration; negative or fractional-nanosecond ones are refused. */
export function durationText(d: Duration, at: string): string {
  if (d.seconds < 0 || d.nanos < 0 || d.nanos >= 1e9 || !Number.isInteger(d.seconds)) throw new SpecConversionError(at, 'must be a positive duration');
  if (d.nanos % 1e6 !== 0) throw new SpecConversionError(at, 'must be a whole number of milliseconds');
  if (d.nanos !== 0) return `${d.seconds * 1000 + d.nanos / 1e6}ms`;
  let s = d.seconds;
  if (s === 0) return '0s';
  let text = '';
  if (s >= 3600) text += `${Math.floor(s / 3600)}h`;
  s %= 3600;
  if (s >= 60) text += `${Math.floor(s / 60)}m`;
  s %= 60;
  if (s > 0) text += `${s}s`;
  return text;
}

function spelling(e: keyof typeof ENUM_SPELLINGS, value: number, at: string): string | undefined {
  if (value === 0) return undefined;
  const s = ENUM_SPELLINGS[e].get(value);
  if (s === undefined) {
    throw new SpecConversionError(at, `unknown value ${value}; one of ${[...ENUM_SPELLINGS[e].keys()].join(', ')}`);
  }
  return s;
}

function enumOf(o: Json, key: string, e: keyof typeof ENUM_SPELLINGS, at: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  for (const [n, s] of ENUM_SPELLINGS[e]) if (s === v) return n;
  throw new SpecConversionError(`${at}.${key}`, `must be one of ${[...ENUM_SPELLINGS[e].values()].join(', ')}`);
}

function object(v: unknown, at: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpecConversionError(at, 'must be an object');
  return v as Json;
}

function array(o: Json, key: string, at: string): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SpecConversionError(`${at}.${key}`, 'must be a list');
  return v;
}

function str(o: Json, key: string, at: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new SpecConversionError(`${at}.${key}`, 'must be a string');
  return v;
}

function bool(o: Json, key: string, at: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new SpecConversionError(`${at}.${key}`, 'must be true or false');
  return v;
}

function int(o: Json, key: string, at: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new SpecConversionError(`${at}.${key}`, 'must be an integer');
  return v;
}

function duration(o: Json, key: string, at: string): Duration | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const ms = typeof v === 'string' ? durationMs(v) : Number.NaN;
  if (Number.isNaN(ms)) throw new SpecConversionError(`${at}.${key}`, 'must be a duration such as 90s, 10m or 1h');
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

function setString(o: Json, key: string, v: string): void {
  if (v !== '') o[key] = v;
}
