// Manifest files as `apply -f` and `diff -f` read them: YAML documents (one or many, or a
// `kind: List`) of HelmReleases, or of Project Planton's KubernetesHelmRelease, which is
// converted to the HelmRelease it means. The spec goes through the server's own CRD-JSON →
// proto conversion (src/api-server/spec-convert.ts), so the CLI and `kubectl apply` agree.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, KIND } from '../api/helm-release.js';
import { SpecConversionError, specFromCrd } from '../api-server/spec-convert.js';
import type { HelmReleaseSpec } from '../gen/planton/helm/v1/helm_release.js';
import { ManifestError } from './errors.js';

/**
 * API versions of Project Planton's KubernetesHelmRelease: the one its manifests carry
 * (`kubernetes.project-planton.org/v1`) and the short form `kubernetes.planton.dev/v1`.
 */
export const PLANTON_API_VERSIONS: readonly string[] = ['kubernetes.planton.dev/v1', 'kubernetes.project-planton.org/v1'];
export const PLANTON_KIND = 'KubernetesHelmRelease';

/** The namespace the command runs in, and whether the user chose it with `-n`. */
export interface NamespaceChoice {
  readonly value: string;
  readonly explicit: boolean;
}

/** One HelmRelease to apply or preview. */
export interface ReleaseManifest {
  /** Where it came from, for messages: `app.yaml (document 2)`. */
  readonly source: string;
  /** The kind that was written: a HelmRelease, or a KubernetesHelmRelease converted to one. */
  readonly writtenAs: typeof KIND | typeof PLANTON_KIND;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly spec: HelmReleaseSpec;
  /** Parts of the document that were not sent, said once on stderr. */
  readonly warnings: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `path` (`-` for stdin) and returns every HelmRelease it holds, in order. */
export function readManifests(path: string, ns: NamespaceChoice): ReleaseManifest[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new ManifestError(`cannot read ${path}: ${(err as Error).message}`);
  }
  return manifestsFromYaml(text, path === '-' ? 'stdin' : path, ns);
}

/** Every HelmRelease of a YAML stream; empty documents are skipped. Throws ManifestError. */
export function manifestsFromYaml(text: string, file: string, ns: NamespaceChoice): ReleaseManifest[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new ManifestError(`${file}: not a YAML stream`);
  const out: ReleaseManifest[] = [];
  docs.forEach((doc, i) => {
    const source = docs.length > 1 ? `${file} (document ${i + 1})` : file;
    const error = doc.errors[0];
    if (error) throw new ManifestError(`${source}: ${error.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (isObject(value) && value['kind'] === 'List' && Array.isArray(value['items'])) {
      value['items'].forEach((item, j) => out.push(manifestFromObject(item, `${source} item ${j + 1}`, ns)));
      return;
    }
    out.push(manifestFromObject(value, source, ns));
  });
  if (out.length === 0) throw new ManifestError(`${file}: no HelmRelease in it`);
  return out;
}

/** One document: a HelmRelease, or a KubernetesHelmRelease converted to one. */
export function manifestFromObject(doc: unknown, source: string, ns: NamespaceChoice): ReleaseManifest {
  if (!isObject(doc)) throw new ManifestError(`${source}: not an object`);
  const { apiVersion, kind } = doc;
  if (apiVersion === API_VERSION && kind === KIND) return fromHelmRelease(doc, source, ns, [], KIND);
  if (typeof apiVersion === 'string' && PLANTON_API_VERSIONS.includes(apiVersion) && (kind === PLANTON_KIND || kind === KIND)) {
    const { helmRelease, warnings } = helmReleaseFromPlanton(doc, source, ns);
    return { ...fromHelmRelease(helmRelease, source, ns, warnings, PLANTON_KIND), writtenAs: PLANTON_KIND };
  }
  throw new ManifestError(
    `${source}: ${String(kind)} (apiVersion ${String(apiVersion)}) is neither a ${KIND} (${API_VERSION}) nor a ${PLANTON_KIND} (${PLANTON_API_VERSIONS.join(' or ')})`,
  );
}

function fromHelmRelease(doc: Json, source: string, ns: NamespaceChoice, warnings: string[], written: string): ReleaseManifest {
  const metadata = doc['metadata'];
  if (!isObject(metadata)) throw new ManifestError(`${source}: metadata: required`);
  const name = metadata['name'];
  if (typeof name !== 'string' || name === '') throw new ManifestError(`${source}: metadata.name: required`);
  const where = `${source}, ${written} ${name}`;
  const namespace = metadata['namespace'];
  if (namespace !== undefined && typeof namespace !== 'string') throw new ManifestError(`${where}: metadata.namespace: must be a string`);
  if (namespace && ns.explicit && namespace !== ns.value) {
    // kubectl's rule: a file's namespace and --namespace must not disagree.
    throw new ManifestError(`${where}: metadata.namespace is ${namespace} but --namespace is ${ns.value}`);
  }
  if (metadata['annotations'] !== undefined) warnings.push(`${where}: metadata.annotations are not sent (the API sets labels only)`);
  if (doc['status'] !== undefined) warnings.push(`${where}: status is ignored`);
  let spec: HelmReleaseSpec;
  try {
    spec = specFromCrd(doc['spec']);
  } catch (err) {
    if (err instanceof SpecConversionError) throw new ManifestError(`${where}: ${err.message}`);
    throw err;
  }
  return { source, writtenAs: KIND, namespace: namespace || ns.value, name, labels: labelsOf(metadata['labels'], where), spec, warnings };
}

function labelsOf(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new ManifestError(`${where}: metadata.labels: must be a map of strings`);
  const labels: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw new ManifestError(`${where}: metadata.labels.${k}: must be a string`);
    Object.defineProperty(labels, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return labels;
}

const PLANTON_SPEC_FIELDS = new Map<string, string>([
  ['targetCluster', 'targetCluster'],
  ['target_cluster', 'targetCluster'],
  ['namespace', 'namespace'],
  ['createNamespace', 'createNamespace'],
  ['create_namespace', 'createNamespace'],
  ['repo', 'repo'],
  ['name', 'name'],
  ['version', 'version'],
  ['values', 'values'],
]);

/**
 * The HelmRelease a Project Planton KubernetesHelmRelease means, as a Kubernetes object:
 *
 * - `metadata.name` → `metadata.name` (so also the Helm release name, as Planton uses it);
 *   `metadata.labels` → `metadata.labels`; Planton's other metadata (id, org, env) is dropped.
 * - `spec.namespace` (a string, or Planton's `{value: ...}`) is where the release is installed.
 *   The HelmRelease is created in that namespace, unless `-n` names another one: then it is
 *   created in `-n`'s namespace with `targetNamespace` set to `spec.namespace` (the way to let
 *   the controller create a namespace that does not exist yet). No `spec.namespace`: `-n`'s.
 * - `spec.createNamespace` (`create_namespace`) → `spec.createNamespace`.
 * - `spec.repo`, `spec.name`, `spec.version` → the same fields.
 * - `spec.values` (Planton's map of strings) → `spec.values`, key for key, values as written:
 *   strings stay strings, as Planton passes them to Helm.
 * - `spec.targetCluster` is ignored with a warning: the release goes to the API server's cluster.
 *
 * Both spellings Planton accepts (lowerCamelCase and snake_case) are read; another field is an
 * error, as it is for Planton.
 */
export function helmReleaseFromPlanton(doc: Json, source: string, ns: NamespaceChoice): { helmRelease: Json; warnings: string[] } {
  const metadata = isObject(doc['metadata']) ? doc['metadata'] : {};
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
  const where = `${source}, ${PLANTON_KIND} ${name || '(no name)'}`;
  const raw = doc['spec'];
  if (!isObject(raw)) throw new ManifestError(`${where}: spec: required`);
  const spec = new Map<string, unknown>();
  for (const [k, v] of Object.entries(raw)) {
    const field = PLANTON_SPEC_FIELDS.get(k);
    if (field === undefined) throw new ManifestError(`${where}: spec.${k}: unknown field of a ${PLANTON_KIND}`);
    if (spec.has(field)) throw new ManifestError(`${where}: spec.${k}: given twice (as ${field} too)`);
    spec.set(field, v);
  }
  const warnings: string[] = [];
  if (spec.get('targetCluster') !== undefined) {
    warnings.push(`${where}: spec.targetCluster is ignored: the release goes to the cluster of the API server planton-helm calls`);
  }
  const target = plantonNamespace(spec.get('namespace'), where);
  const out: Json = { repo: spec.get('repo'), name: spec.get('name'), version: spec.get('version') };
  const values = spec.get('values');
  if (values !== undefined && values !== null) {
    if (!isObject(values)) throw new ManifestError(`${where}: spec.values: must be a map`);
    out['values'] = values;
  }
  const createNamespace = spec.get('createNamespace');
  if (createNamespace !== undefined && typeof createNamespace !== 'boolean') throw new ManifestError(`${where}: spec.createNamespace: must be true or false`);
  if (createNamespace) out['createNamespace'] = true;
  let namespace = target ?? ns.value;
  if (target !== undefined && ns.explicit && ns.value !== target) {
    namespace = ns.value;
    out['targetNamespace'] = target;
  }
  const hrMetadata: Json = { name, namespace };
  if (metadata['labels'] !== undefined) hrMetadata['labels'] = metadata['labels'];
  return { helmRelease: { apiVersion: API_VERSION, kind: KIND, metadata: hrMetadata, spec: out }, warnings };
}

/** Planton's StringValueOrRef: a plain string or `{value: string}`; references cannot be resolved here. */
function plantonNamespace(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v || undefined;
  if (isObject(v)) {
    if (typeof v['value'] === 'string' && v['value'] !== '') return v['value'];
    if (v['valueFrom'] !== undefined || v['value_from'] !== undefined || v['ref'] !== undefined) {
      throw new ManifestError(`${where}: spec.namespace: a reference to another resource cannot be resolved by planton-helm; write the namespace as value`);
    }
  }
  throw new ManifestError(`${where}: spec.namespace: must be a namespace name or {value: NAME}`);
}
