import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileDescriptorSet } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDescriptorSet, findRepoRoot, HELM_RELEASE_PROTO } from './buf.js';
import { CRD_NAME, generateCrd, type JsonSchemaProps, renderCrdYaml, UnsupportedProtoError } from './generate.js';

const repoRoot = findRepoRoot(import.meta.dirname);
let workspace: string;

beforeAll(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'crd-generate-'));
});
afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
});

let counter = 0;

/**
 * Descriptors of a small HelmRelease proto: `spec` and `status` are added to the fields that the
 * printer columns read (spec.name, spec.version, status.conditions, status.release.revision).
 */
async function protoWith(spec: string, extra = '', status = ''): Promise<FileDescriptorSet> {
  counter += 1;
  // One buf workspace per proto: they all declare planton.helm.v1.HelmReleaseSpec.
  const dir = join(workspace, `w${counter}`);
  const path = 'planton/helm/v1/helm_release.proto';
  const text = `// A test API.
syntax = "proto3";
package planton.helm.v1;
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";

// The spec.
message HelmReleaseSpec {
  // Chart name. Required.
  string name = 1;
  // Chart version. Required.
  string version = 2;
${spec}
}

// The status.
message HelmReleaseStatus {
  // Conditions.
  repeated Condition conditions = 1;
  // Release.
  Release release = 2;
${status}
}

// A condition.
message Condition {
  // Type.
  string type = 1;
  // Status.
  string status = 2;
  // Message.
  string message = 3;
}

// A release.
message Release {
  // Revision.
  int32 revision = 1;
}
${extra}
`;
  await mkdir(join(dir, 'planton/helm/v1'), { recursive: true });
  await writeFile(join(dir, 'buf.yaml'), 'version: v2\n');
  await writeFile(join(dir, path), text);
  return buildDescriptorSet(repoRoot, dir, [path]);
}

function specOf(set: FileDescriptorSet): JsonSchemaProps {
  const spec = generateCrd(set, {}).spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec'];
  if (spec === undefined) throw new Error('no spec');
  return spec;
}

function prop(schema: JsonSchemaProps, ...names: string[]): JsonSchemaProps | undefined {
  let s: JsonSchemaProps | undefined = schema;
  for (const n of names) s = n === '[]' ? s?.items : s?.properties?.[n];
  return s;
}

describe('generateCrd: mapping proto to OpenAPI', () => {
  it('names properties by JSON name and describes them with the comment, one line per paragraph', async () => {
    const spec = specOf(
      await protoWith(`
  // How long to wait,
  // for example \`90s\`.
  //
  // Second paragraph.
  google.protobuf.Duration wait_timeout = 3;`),
    );
    expect(prop(spec, 'waitTimeout')).toEqual({
      description: 'How long to wait, for example `90s`.\n\nSecond paragraph.',
      type: 'string',
    });
  });

  it('maps Struct to a free-form object, Timestamp to date-time, 64-bit integers to int64', async () => {
    const set = await protoWith(
      `
  // Values.
  google.protobuf.Struct values = 3;`,
      '',
      `
  // When.
  google.protobuf.Timestamp at = 3;
  // Generation.
  int64 observed_generation = 4;`,
    );
    const root = generateCrd(set, {}).spec.versions[0]?.schema.openAPIV3Schema;
    expect(prop(root ?? {}, 'spec', 'values')).toEqual({ description: 'Values.', type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    expect(prop(root ?? {}, 'status', 'at')).toEqual({ description: 'When.', type: 'string', format: 'date-time' });
    expect(prop(root ?? {}, 'status', 'observedGeneration')).toEqual({ description: 'Generation.', type: 'integer', format: 'int64' });
  });

  it('turns "Required." into required (and non-empty for strings), "At least one is required." into minItems', async () => {
    const spec = specOf(
      await protoWith(`
  // Paths. At least one is required.
  repeated string paths = 3;
  // Ref.
  Ref ref = 4;`, `
// A reference.
message Ref {
  // Name. Required.
  string name = 1;
  // Namespace.
  string namespace = 2;
}`),
    );
    expect(spec.required).toEqual(['name', 'version', 'paths']);
    expect(prop(spec, 'name')?.minLength).toBe(1);
    expect(prop(spec, 'paths')).toMatchObject({ type: 'array', minItems: 1, items: { type: 'string' } });
    expect(prop(spec, 'ref')).toMatchObject({ required: ['name'] });
    expect(prop(spec, 'ref', 'namespace')?.minLength).toBeUndefined();
  });

  it('writes "Default `x`." as a typed default and "Must not be negative." as minimum 0', async () => {
    const spec = specOf(
      await protoWith(`
  // Atomic. Default \`true\`.
  optional bool atomic = 3;
  // History. Default \`5\`. Must not be negative.
  optional int32 max_history = 4;
  // Timeout. Default \`5m\`.
  google.protobuf.Duration timeout = 5;
  // Policy. Default \`Delete\`.
  Policy policy = 6;
  // Values. Default \`{}\`.
  google.protobuf.Struct values = 7;`, `
// Policy.
enum Policy {
  // Unset.
  POLICY_UNSPECIFIED = 0;
  // Delete. Written \`Delete\`.
  POLICY_DELETE = 1;
  // Orphan. Written \`Orphan\`.
  POLICY_ORPHAN = 2;
}`),
    );
    expect(prop(spec, 'atomic')?.default).toBe(true);
    expect(prop(spec, 'maxHistory')).toMatchObject({ type: 'integer', format: 'int32', default: 5, minimum: 0 });
    expect(prop(spec, 'timeout')?.default).toBe('5m');
    expect(prop(spec, 'policy')).toMatchObject({ type: 'string', enum: ['Delete', 'Orphan'], default: 'Delete' });
    expect(prop(spec, 'values')?.default).toBeUndefined();
  });

  it('adds the admission rules of a path, and fails on a rule whose path names no field', async () => {
    const set = await protoWith(`
  // Paths.
  repeated string paths = 3;`);
    const rules = {
      'spec.version': { maxLength: 10, validations: [{ rule: "self != 'latest'", message: 'no latest' }] },
      'spec.paths': { maxItems: 3 },
      'spec.paths[]': { maxLength: 20 },
    };
    const spec = generateCrd(set, rules).spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec'] ?? {};
    expect(prop(spec, 'version')).toMatchObject({ maxLength: 10, 'x-kubernetes-validations': [{ rule: "self != 'latest'", message: 'no latest' }] });
    expect(prop(spec, 'paths')?.maxItems).toBe(3);
    expect(prop(spec, 'paths', '[]')?.maxLength).toBe(20);
    expect(() => generateCrd(set, { 'spec.chart': { maxLength: 1 } })).toThrow('admission rules name no field: spec.chart');
  });
});

describe('generateCrd: what it refuses', () => {
  it.each([
    ['an enum value without its spelling', `
  // Mode.
  Mode mode = 3;`, `
// Mode.
enum Mode {
  // Unset.
  MODE_UNSPECIFIED = 0;
  // On, but the comment forgets the spelling.
  MODE_ON = 1;
}`, 'planton.helm.v1.Mode.MODE_ON has no "Written `X`." in its comment'],
    ['a field without a comment', `
  bool quiet = 3;`, '', 'planton.helm.v1.HelmReleaseSpec.quiet has no comment'],
    ['a map field', `
  // Labels.
  map<string, string> labels = 3;`, '', 'spec.labels: map fields are not mapped'],
    ['a default of the wrong type', `
  // Atomic. Default \`yes\`.
  bool atomic = 3;`, '', 'spec.atomic: "Default `yes`" is not a boolean value'],
    ['a recursive message', `
  // Tree.
  Node tree = 3;`, `
// A node.
message Node {
  // Children.
  repeated Node children = 1;
}`, 'planton.helm.v1.Node contains itself'],
  ])('%s', async (_name, spec, extra, message) => {
    const set = await protoWith(spec, extra);
    expect(() => generateCrd(set, {})).toThrow(UnsupportedProtoError);
    expect(() => generateCrd(set, {})).toThrow(message);
  });
});

/** Every schema in the tree, with its path and whether every enclosing list is bounded. */
function* walk(schema: JsonSchemaProps, path: string, listsBounded = true): Generator<[string, JsonSchemaProps, boolean]> {
  yield [path, schema, listsBounded];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) yield* walk(sub, `${path}.${name}`, listsBounded);
  if (schema.items) yield* walk(schema.items, `${path}[]`, listsBounded && schema.maxItems !== undefined);
}

describe('the HelmRelease CRD', () => {
  let root: JsonSchemaProps;
  let crd: ReturnType<typeof generateCrd>;

  beforeAll(async () => {
    crd = generateCrd(await buildDescriptorSet(repoRoot));
    root = crd.spec.versions[0]?.schema.openAPIV3Schema ?? {};
  });

  it('has the names, version, status subresource and printer columns of the design', () => {
    expect(crd.metadata.name).toBe(CRD_NAME);
    expect(crd.spec.names).toEqual({
      kind: 'HelmRelease',
      listKind: 'HelmReleaseList',
      plural: 'helmreleases',
      singular: 'helmrelease',
      shortNames: ['phr'],
      categories: ['planton'],
    });
    const [version] = crd.spec.versions;
    expect(version).toMatchObject({ name: 'v1', served: true, storage: true, subresources: { status: {} } });
    expect(version?.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
      ['Status', '.status.conditions[?(@.type=="Ready")].message'],
      ['Chart', '.spec.name'],
      ['Version', '.spec.version'],
      ['Revision', '.status.release.revision'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  it('describes every field and keeps unknown fields only in Struct-typed ones', () => {
    const fields = [...walk(root, '')].filter(([path]) => /^\.(spec|status)\./.test(path) && !path.endsWith('[]'));
    expect(fields.filter(([, s]) => !s.description).map(([p]) => p)).toEqual([]);
    expect([...walk(root, '')].filter(([, s]) => s['x-kubernetes-preserve-unknown-fields']).map(([p]) => p)).toEqual(['.spec.values']);
  });

  it('bounds the length of every string and list a CEL rule reads, so the API server can estimate its cost', () => {
    const ruled = [...walk(root, '')].filter(([, s]) => s['x-kubernetes-validations'] !== undefined && s.type === 'string');
    expect(ruled.length).toBeGreaterThan(0);
    expect(ruled.filter(([, s, bounded]) => s.maxLength === undefined || !bounded).map(([p]) => p)).toEqual([]);
  });

  it('refuses, on the whole object, a name too long for Helm when no releaseName is set', () => {
    expect(root['x-kubernetes-validations']).toEqual([
      {
        rule: 'has(self.spec.releaseName) || size(self.metadata.name) <= 53',
        message: "metadata.name is longer than 53 characters, Helm's limit for release names: set spec.releaseName",
      },
    ]);
    const objectRules = [...walk(root, '')].filter(([, s]) => s['x-kubernetes-validations'] !== undefined && s.type !== 'string');
    expect(objectRules.map(([p]) => p)).toEqual(['']);
  });

  it('renders the same YAML every time, under a header naming its generator', () => {
    const first = renderCrdYaml(crd, HELM_RELEASE_PROTO);
    expect(first).toBe(renderCrdYaml(structuredClone(crd), HELM_RELEASE_PROTO));
    expect(first.split('\n')[0]).toBe(
      '# Code generated by src/api/crd/cli.ts (npm run generate) from proto/planton/helm/v1/helm_release.proto. DO NOT EDIT.',
    );
  });
});
