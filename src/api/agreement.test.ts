// Proves that the three descriptions of the HelmRelease API agree: the proto (the source of truth,
// built fresh from proto/ with buf), the committed CRD (deploy/crds) and the zod schema the
// reconciler parses specs with. Field names, types, enum spellings, required fields, defaults and
// limits are compared field by field, recursively; then a table of specs is run through zod and
// through the CRD schema evaluated in JavaScript, patterns and CEL rules included.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clone, create, createFileRegistry, type DescEnum, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  type FileDescriptorSet,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type * as gen from '../gen/planton/helm/v1/helm_release.js';
import { buildDescriptorSet, CRD_FILE, findRepoRoot, HELM_RELEASE_PROTO } from './crd/buf.js';
import { commentOf, saysAtLeastOne, saysRequired, statedDefault, writtenAs } from './crd/comments.js';
import {
  type CustomResourceDefinition,
  generateCrd,
  type JsonSchemaProps,
  renderCrdYaml,
  SPEC_MESSAGE,
  STATUS_MESSAGE,
} from './crd/generate.js';
import { BAD_SPECS, GOOD_SPECS, MINIMAL_SPEC } from './crd/spec-cases.js';
import { violations } from './crd/structural.js';
import * as api from './helm-release.js';

/** The parts of zod's JSON Schema output that are compared with the CRD. */
interface ZodJson {
  type?: string;
  properties?: Record<string, ZodJson>;
  required?: string[];
  additionalProperties?: boolean | ZodJson;
  items?: ZodJson;
  enum?: unknown[];
  default?: unknown;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
}

type Aspect = 'names' | 'types' | 'enums' | 'required' | 'defaults' | 'limits';

interface Problem {
  readonly aspect: Aspect;
  readonly text: string;
}

const LIMITS = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minimum'] as const;

function zodJson(schema: z.ZodType): ZodJson {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as unknown as ZodJson;
}

/**
 * Walks a proto message alongside its CRD schema and (for the spec) zod's JSON Schema, and
 * returns every disagreement. `zod` undefined: compare proto and CRD only (the status).
 */
class Comparison {
  readonly problems: Problem[] = [];

  private add(aspect: Aspect, path: string, text: string): void {
    this.problems.push({ aspect, text: `${path}: ${text}` });
  }

  message(msg: DescMessage, crd: JsonSchemaProps, zod: ZodJson | undefined, path: string): void {
    const names = {
      proto: msg.fields.map((f) => f.jsonName),
      crd: Object.keys(crd.properties ?? {}),
      zod: zod === undefined ? undefined : Object.keys(zod.properties ?? {}),
    };
    this.sameSet('names', path, 'fields', names);
    if (zod !== undefined && zod.additionalProperties !== false) {
      this.add('names', path, 'the zod object is not strict, so unknown fields would pass zod but not the CRD');
    }
    const required = msg.fields.filter((f) => saysRequired(commentOf(f)) || saysAtLeastOne(commentOf(f))).map((f) => f.jsonName);
    this.sameSet('required', path, 'required fields', { proto: required, crd: crd.required ?? [], zod: zod && (zod.required ?? []) });
    for (const field of msg.fields) {
      const c = crd.properties?.[field.jsonName];
      if (c !== undefined) this.field(field, c, zod?.properties?.[field.jsonName], `${path}.${field.jsonName}`);
    }
  }

  private sameSet(aspect: Aspect, path: string, what: string, sets: Record<string, readonly unknown[] | undefined>): void {
    const present = Object.entries(sets).filter((e): e is [string, readonly unknown[]] => e[1] !== undefined);
    const [first, ...rest] = present;
    if (first === undefined) return;
    const base = first[1].map(String);
    for (const [name, values] of rest) {
      const other = values.map(String);
      const lacks = base.filter((v) => !other.includes(v));
      const adds = other.filter((v) => !base.includes(v));
      if (lacks.length > 0) this.add(aspect, path, `${what} of ${first[0]} that ${name} lacks: ${lacks.join(', ')}`);
      if (adds.length > 0) this.add(aspect, path, `${what} of ${name} that ${first[0]} lacks: ${adds.join(', ')}`);
    }
  }

  private field(field: DescField, crd: JsonSchemaProps, zod: ZodJson | undefined, path: string): void {
    if (field.fieldKind === 'map') {
      this.add('types', path, 'map fields are not compared');
      return;
    }
    if (field.fieldKind === 'list') {
      this.sameType(path, 'array', crd, zod);
      this.limits(path, crd, zod);
      if (crd.items === undefined) return;
      const itemPath = `${path}[]`;
      if (field.listKind === 'message') this.messageValue(field.message, crd.items, zod?.items, itemPath);
      else if (field.listKind === 'enum') this.enumValue(field.enum, crd.items, zod?.items, itemPath);
      else this.scalarValue(field.scalar, crd.items, zod?.items, itemPath);
      return;
    }
    if (field.fieldKind === 'message') this.messageValue(field.message, crd, zod, path);
    else if (field.fieldKind === 'enum') this.enumValue(field.enum, crd, zod, path);
    else this.scalarValue(field.scalar, crd, zod, path);
    if (crd.type !== 'object') this.defaults(statedDefault(commentOf(field)), crd, zod, path);
  }

  private sameType(path: string, expected: string, crd: JsonSchemaProps, zod: ZodJson | undefined): void {
    if (crd.type !== expected) this.add('types', path, `proto means ${expected}, the CRD says ${crd.type}`);
    if (zod !== undefined && zod.type !== expected) this.add('types', path, `proto means ${expected}, zod says ${zod.type}`);
  }

  private limits(path: string, crd: JsonSchemaProps, zod: ZodJson | undefined): void {
    if (zod === undefined) return;
    for (const limit of LIMITS) {
      if (crd[limit] !== zod[limit]) this.add('limits', path, `${limit}: CRD ${crd[limit]}, zod ${zod[limit]}`);
    }
  }

  private scalarValue(scalar: ScalarType, crd: JsonSchemaProps, zod: ZodJson | undefined, path: string): void {
    const expected =
      scalar === ScalarType.STRING ? 'string'
      : scalar === ScalarType.BOOL ? 'boolean'
      : scalar === ScalarType.FLOAT || scalar === ScalarType.DOUBLE ? 'number'
      : 'integer';
    this.sameType(path, expected, crd, zod);
    this.limits(path, crd, zod);
  }

  private enumValue(desc: DescEnum, crd: JsonSchemaProps, zod: ZodJson | undefined, path: string): void {
    this.sameType(path, 'string', crd, zod);
    const proto = desc.values
      .filter((v) => v.number !== 0)
      .map((v) => writtenAs(commentOf(v)) ?? `(${v.name} has no spelling)`);
    this.sameSet('enums', path, 'enum values', { proto, crd: crd.enum ?? [], zod: zod && (zod.enum ?? []) });
  }

  private messageValue(msg: DescMessage, crd: JsonSchemaProps, zod: ZodJson | undefined, path: string): void {
    switch (msg.typeName) {
      case 'google.protobuf.Struct':
        this.sameType(path, 'object', crd, zod);
        if (crd['x-kubernetes-preserve-unknown-fields'] !== true || crd.properties !== undefined) {
          this.add('types', path, 'a Struct must be a free-form object in the CRD');
        }
        if (zod !== undefined && (zod.properties !== undefined || zod.additionalProperties === false)) {
          this.add('types', path, 'a Struct must be a record in zod');
        }
        return;
      case 'google.protobuf.Duration':
      case 'google.protobuf.Timestamp':
        this.sameType(path, 'string', crd, zod);
        this.limits(path, crd, zod);
        return;
      default:
        this.sameType(path, 'object', crd, zod);
        this.message(msg, crd, zod, path);
    }
  }

  /** A scalar's default: what the proto comment states, the CRD's `default` and zod's agree. */
  private defaults(stated: string | undefined, crd: JsonSchemaProps, zod: ZodJson | undefined, path: string): void {
    const proto =
      stated === undefined ? undefined
      : crd.type === 'boolean' ? stated === 'true'
      : crd.type === 'integer' ? Number(stated)
      : stated;
    if (crd.default !== proto) this.add('defaults', path, `proto comment ${JSON.stringify(proto)}, CRD ${JSON.stringify(crd.default)}`);
    if (zod !== undefined && zod.default !== proto) {
      this.add('defaults', path, `proto comment ${JSON.stringify(proto)}, zod ${JSON.stringify(zod.default)}`);
    }
  }
}

function compare(set: FileDescriptorSet, crd: CustomResourceDefinition, zodSpec: ZodJson): Problem[] {
  const registry = createFileRegistry(set);
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
  const spec = registry.getMessage(SPEC_MESSAGE);
  const status = registry.getMessage(STATUS_MESSAGE);
  if (!root?.properties?.['spec'] || !root.properties['status'] || !spec || !status) {
    throw new Error('the CRD or the proto lacks spec or status');
  }
  const comparison = new Comparison();
  comparison.message(spec, root.properties['spec'], zodSpec, 'spec');
  comparison.message(status, root.properties['status'], undefined, 'status');
  return comparison.problems;
}

function zodIssuePaths(raw: unknown): string[] {
  const result = api.HelmReleaseSpecSchema.safeParse(raw);
  if (result.success) return [];
  const format = (path: readonly PropertyKey[]): string =>
    path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), 'spec');
  return result.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => format([...i.path, k])) : [format(i.path)],
  );
}

const root = findRepoRoot(import.meta.dirname);
let protoSet: FileDescriptorSet;
let committed: CustomResourceDefinition;
let specSchema: JsonSchemaProps;
const zodSpec = zodJson(api.HelmReleaseSpecSchema);

beforeAll(async () => {
  protoSet = await buildDescriptorSet(root);
  committed = parseYaml(readFileSync(join(root, CRD_FILE), 'utf8')) as CustomResourceDefinition;
  const spec = committed.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec'];
  if (spec === undefined) throw new Error(`${CRD_FILE} has no spec schema`);
  specSchema = spec;
});

describe('proto, CRD and zod', () => {
  it(`${CRD_FILE} is what the generator makes of the current proto (else: npm run generate)`, () => {
    const expected = renderCrdYaml(generateCrd(protoSet), HELM_RELEASE_PROTO);
    expect(readFileSync(join(root, CRD_FILE), 'utf8')).toBe(expected);
  });

  it.each<Aspect>(['names', 'types', 'enums', 'required', 'defaults', 'limits'])('agree on %s, field by field', (aspect) => {
    const problems = compare(protoSet, committed, zodSpec).filter((p) => p.aspect === aspect);
    expect(problems.map((p) => p.text)).toEqual([]);
  });

  it('report a proto field that the CRD and zod lack', () => {
    const set = clone(FileDescriptorSetSchema, protoSet);
    const spec = set.file.find((f) => f.name === 'planton/helm/v1/helm_release.proto')?.messageType.find((m) => m.name === 'HelmReleaseSpec');
    spec?.field.push(
      create(FieldDescriptorProtoSchema, {
        name: 'chart_url',
        jsonName: 'chartUrl',
        number: 99,
        type: FieldDescriptorProto_Type.STRING,
        label: FieldDescriptorProto_Label.OPTIONAL,
      }),
    );
    const problems = compare(set, committed, zodSpec).map((p) => p.text);
    expect(problems).toEqual(['spec: fields of proto that crd lacks: chartUrl', 'spec: fields of proto that zod lacks: chartUrl']);
  });

  it('report a zod field that is not in the proto, and a zod enum value the proto lacks', () => {
    const extended = api.HelmReleaseSpecSchema.extend({
      chart: z.string().optional(),
      deletionPolicy: z.enum(['Delete', 'Orphan', 'Keep']).default('Delete'),
    });
    const problems = compare(protoSet, committed, zodJson(extended)).map((p) => p.text);
    expect(problems).toEqual([
      'spec: fields of zod that proto lacks: chart',
      'spec.deletionPolicy: enum values of zod that proto lacks: Keep',
    ]);
  });

  it('report a zod default that differs from the proto comment', () => {
    const changed = api.HelmReleaseSpecSchema.extend({ maxHistory: z.number().int().min(0).default(10) });
    const problems = compare(protoSet, committed, zodJson(changed)).map((p) => p.text);
    expect(problems).toEqual(['spec.maxHistory: proto comment 5, zod 10']);
  });

  it('agree on the status field names and types (the TypeScript interfaces are checked by the compiler)', () => {
    expect(compare(protoSet, committed, zodSpec).filter((p) => p.text.startsWith('status'))).toEqual([]);
    expectTypeOf<keyof api.HelmReleaseStatus>().toEqualTypeOf<keyof gen.HelmReleaseStatus>();
    expectTypeOf<keyof api.Condition>().toEqualTypeOf<keyof gen.Condition>();
    expectTypeOf<keyof api.ReleaseInfo>().toEqualTypeOf<keyof gen.ReleaseInfo>();
    expectTypeOf<keyof api.ReleaseHistoryEntry>().toEqualTypeOf<keyof gen.ReleaseHistoryEntry>();
    expectTypeOf<keyof api.DriftStatus>().toEqualTypeOf<keyof gen.DriftStatus>();
    expectTypeOf<keyof api.HelmReleaseSpec>().toEqualTypeOf<keyof gen.HelmReleaseSpec>();
  });

  it('zod fills an absent object field the same as an empty one (the API server defaults only inside objects that are present)', () => {
    const absent = api.HelmReleaseSpecSchema.parse(MINIMAL_SPEC);
    for (const name of ['driftDetection', 'remediation', 'test'] as const) {
      const empty = api.HelmReleaseSpecSchema.parse({ ...MINIMAL_SPEC, [name]: {} });
      expect(empty[name], name).toEqual(absent[name]);
    }
  });
});

describe('specs that the CRD and zod both admit', () => {
  it.each(GOOD_SPECS)('$name', ({ spec }) => {
    expect(violations(specSchema, spec, 'spec')).toEqual([]);
    expect(zodIssuePaths(spec)).toEqual([]);
  });

  it('the CRD defaults parse with zod to the same spec as no defaults at all', () => {
    const withCrdDefaults: Record<string, unknown> = { ...MINIMAL_SPEC };
    for (const [name, field] of Object.entries(specSchema.properties ?? {})) {
      if (field.default !== undefined) withCrdDefaults[name] = field.default;
    }
    expect(api.HelmReleaseSpecSchema.parse(withCrdDefaults)).toEqual(api.HelmReleaseSpecSchema.parse(MINIMAL_SPEC));
  });
});

describe('specs that the CRD and zod both reject, at the same field', () => {
  it.each(BAD_SPECS)('$name', ({ spec, field }) => {
    expect(violations(specSchema, spec, 'spec').map((v) => v.path)).toContain(field);
    expect(zodIssuePaths(spec)).toContain(field);
  });
});
