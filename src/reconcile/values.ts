// Chart values: valuesFrom entries read from Secrets and ConfigMaps, merged in order, `values` on
// top; and their digest, computed exactly as helm-runner computes ReleaseState.values_digest
// (SHA-256 of RFC 8785 canonical JSON), so equal values mean an equal digest on both sides.
// Errors name the object and key, never the content.
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { protoKeyPath, type ValuesReference } from '../api/helm-release.js';
import { parseTargetPath } from '../api/target-path.js';
import type { Redactor } from './redaction.js';

export type Values = Record<string, unknown>;

/** Reads one key of a Secret or ConfigMap in the release's namespace (decoded to text). */
export interface ValuesSourceReader {
  /** undefined when the object does not exist; `{ data: undefined }` when the key is missing. */
  read(kind: 'Secret' | 'ConfigMap', name: string, key: string): Promise<{ readonly data: string | undefined } | undefined>;
}

/** A referenced object or key does not exist (and the reference is not optional). */
export class ValuesSourceNotFoundError extends Error {
  override readonly name = 'ValuesSourceNotFoundError';
}

/** A referenced key is not a YAML mapping of values. */
export class InvalidValuesError extends Error {
  override readonly name = 'InvalidValuesError';
}

export interface ResolvedValues {
  readonly values: Values;
  readonly digest: string;
}

/**
 * Merges valuesFrom (in order) and then `values`; throws the two errors above. Everything read
 * from a Secret is added to `redactor`, so that no message quotes it.
 */
export async function resolveValues(
  refs: readonly ValuesReference[],
  inline: Values,
  reader: ValuesSourceReader,
  redactor?: Redactor,
): Promise<ResolvedValues> {
  let merged: Values = {};
  for (const ref of refs) {
    const what = `${ref.kind} ${ref.name} key ${ref.key}`;
    const got = await reader.read(ref.kind, ref.name, ref.key);
    if (got === undefined || got.data === undefined) {
      if (ref.optional) continue;
      throw new ValuesSourceNotFoundError(
        got === undefined ? `${ref.kind} ${ref.name} not found` : `${what} not found`,
      );
    }
    if (ref.kind === 'Secret') redactor?.add(got.data);
    if (ref.targetPath) {
      merged = setPath(merged, ref.targetPath, got.data, what);
      continue;
    }
    const doc = parseValuesDocument(got.data, what);
    if (ref.kind === 'Secret') redactor?.addValues(doc);
    merged = mergeValues(merged, doc);
  }
  const forbidden = protoKeyPath(inline);
  if (forbidden !== undefined) throw new InvalidValuesError(`spec.values: the key ${forbidden} is not allowed`);
  const values = mergeValues(merged, inline);
  return { values, digest: valuesDigest(values) };
}

function parseValuesDocument(text: string, what: string): Values {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    // The parser's message can quote the content: say only where it is.
    throw new InvalidValuesError(`${what} is not valid YAML`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isMap(doc)) throw new InvalidValuesError(`${what} must hold a YAML mapping of values`);
  const forbidden = protoKeyPath(doc);
  if (forbidden !== undefined) throw new InvalidValuesError(`${what}: the key ${forbidden} is not allowed`);
  return doc;
}

/**
 * Deep merge as Helm does: maps merge key by key, anything else in `over` replaces. Only own
 * properties are read and every key is defined as an own property, so no key reaches a prototype.
 */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = ownMember(out, k);
    defineMember(out, k, isMap(b) && isMap(v) ? mergeValues(b, v) : v);
  }
  return out;
}

/**
 * Sets `value` at a targetPath (see api/target-path.ts), creating maps and lists on the way.
 * Walks own members only.
 */
export function setPath(values: Values, path: string, value: string, what: string): Values {
  let steps: (string | number)[];
  try {
    steps = parseTargetPath(path);
  } catch (err) {
    throw new InvalidValuesError(`${what}: targetPath ${JSON.stringify(path)} ${err instanceof Error ? err.message : String(err)}`);
  }
  const root: Values = structuredClone(values);
  let node: Values | unknown[] = root;
  for (const [i, step] of steps.entries()) {
    if (i === steps.length - 1) {
      defineMember(node, step, value);
      break;
    }
    const nextIsIndex = typeof steps[i + 1] === 'number';
    let child = ownMember(node, step);
    if (nextIsIndex ? !Array.isArray(child) : !isMap(child)) {
      child = nextIsIndex ? [] : {};
      defineMember(node, step, child);
    }
    node = child as Values | unknown[];
  }
  return root;
}

function ownMember(container: object, key: string | number): unknown {
  return Object.hasOwn(container, key) ? (container as Record<string | number, unknown>)[key] : undefined;
}

/** Sets an own data property (never a setter such as `__proto__`). */
function defineMember(container: object, key: string | number, value: unknown): void {
  Object.defineProperty(container, key, { value, writable: true, enumerable: true, configurable: true });
}

function isMap(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** SHA-256 (lowercase hex) of the RFC 8785 canonical JSON of `values`. */
export function valuesDigest(values: Values): string {
  return createHash('sha256').update(canonicalJson(values)).digest('hex');
}

/**
 * RFC 8785 (JSON Canonicalization Scheme): keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript form (which JSON.stringify already produces), undefined dropped.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Values)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return 'null';
  return JSON.stringify(v);
}

/** Digest of the release configuration that is neither chart version nor values. */
export function configDigest(config: { readonly repo: string }): string {
  return `c1-${createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 32)}`;
}
