// The HelmRelease CustomResourceDefinition, generated from the proto descriptors of
// HelmReleaseSpec and HelmReleaseStatus: property names are the fields' JSON names, descriptions
// their comments, enum values the spellings their comments give ("Written `Orphan`."), and the
// comments' fixed phrases become schema ("Required.", "Default `x`.", "Must not be negative.",
// "At least one is required."). Patterns and bounds come from ./rules.ts. The result is a
// structural schema with no unknown fields, except in google.protobuf.Struct fields (`values`).
import { createFileRegistry, type DescEnum, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import type { FileDescriptorSet } from '@bufbuild/protobuf/wkt';
import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, VERSION } from '../helm-release.js';
import {
  commentOf,
  fileComment,
  firstParagraph,
  saysAtLeastOne,
  saysNotNegative,
  saysRequired,
  statedDefault,
  writtenAs,
} from './comments.js';
import { ADMISSION_RULES, type AdmissionRules, type FieldRules, type ValidationRule } from './rules.js';

export const SPEC_MESSAGE = 'planton.helm.v1.HelmReleaseSpec';
export const STATUS_MESSAGE = 'planton.helm.v1.HelmReleaseStatus';
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** The subset of OpenAPI v3 (as `apiextensions.k8s.io/v1` spells it) that the generator writes. */
export interface JsonSchemaProps {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: string[];
  default?: string | number | boolean;
  minimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchemaProps;
  properties?: Record<string, JsonSchemaProps>;
  required?: string[];
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description: string;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchemaProps };
    }[];
  };
}

const READY = '.status.conditions[?(@.type=="Ready")]';

/** The columns of `kubectl get helmreleases`. */
const PRINTER_COLUMNS: readonly PrinterColumn[] = [
  { name: 'Ready', type: 'string', jsonPath: `${READY}.status`, description: 'Status of the Ready condition: True, False or Unknown.' },
  { name: 'Status', type: 'string', jsonPath: `${READY}.message`, description: 'Message of the Ready condition.' },
  { name: 'Chart', type: 'string', jsonPath: '.spec.name', description: 'Chart name.' },
  { name: 'Version', type: 'string', jsonPath: '.spec.version', description: 'Desired chart version.' },
  { name: 'Revision', type: 'integer', jsonPath: '.status.release.revision', description: 'Latest Helm release revision.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the HelmRelease was created.' },
];

// Order of the keywords in the output, for a readable, stable file.
const KEY_ORDER: readonly (keyof JsonSchemaProps)[] = [
  'description', 'type', 'format', 'enum', 'default', 'minimum', 'minLength', 'maxLength', 'minItems', 'maxItems',
  'items', 'properties', 'required', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-validations',
];

function ordered(schema: JsonSchemaProps): JsonSchemaProps {
  const out: Record<string, unknown> = {};
  for (const key of KEY_ORDER) if (schema[key] !== undefined) out[key] = schema[key];
  return out as JsonSchemaProps;
}

/** Thrown when the proto uses something the CRD mapping does not define. */
export class UnsupportedProtoError extends Error {
  override readonly name = 'UnsupportedProtoError';
}

class Builder {
  private readonly unusedRules: Set<string>;
  private readonly stack: string[] = [];

  constructor(private readonly rules: AdmissionRules) {
    this.unusedRules = new Set(Object.keys(rules));
  }

  /** Fails when a rule names a path that no field has. */
  checkAllRulesUsed(): void {
    if (this.unusedRules.size > 0) {
      throw new Error(`admission rules name no field: ${[...this.unusedRules].sort().join(', ')}`);
    }
  }

  message(msg: DescMessage, path: string): JsonSchemaProps {
    if (this.stack.includes(msg.typeName)) {
      throw new UnsupportedProtoError(`${msg.typeName} contains itself (${path}): a CRD schema cannot be recursive`);
    }
    this.stack.push(msg.typeName);
    const properties: Record<string, JsonSchemaProps> = {};
    const required: string[] = [];
    for (const field of msg.fields) {
      const comment = commentOf(field);
      if (comment === '') throw new UnsupportedProtoError(`${msg.typeName}.${field.name} has no comment to describe it`);
      properties[field.jsonName] = this.field(field, comment, `${path}.${field.jsonName}`);
      if (saysRequired(comment) || saysAtLeastOne(comment)) required.push(field.jsonName);
    }
    this.stack.pop();
    return ordered({ type: 'object', properties, ...(required.length > 0 ? { required } : {}) });
  }

  private field(field: DescField, comment: string, path: string): JsonSchemaProps {
    if (field.fieldKind === 'map') throw new UnsupportedProtoError(`${path}: map fields are not mapped`);
    if (field.oneof) throw new UnsupportedProtoError(`${path}: oneof fields are not mapped`);
    let schema: JsonSchemaProps;
    if (field.fieldKind === 'list') {
      const element =
        field.listKind === 'scalar' ? this.scalar(field.scalar, path)
        : field.listKind === 'enum' ? this.enumeration(field.enum)
        : this.messageValue(field.message, `${path}[]`);
      schema = { type: 'array', items: this.withRules(element, `${path}[]`) };
      if (saysAtLeastOne(comment)) schema.minItems = 1;
    } else {
      schema =
        field.fieldKind === 'scalar' ? this.scalar(field.scalar, path)
        : field.fieldKind === 'enum' ? this.enumeration(field.enum)
        : this.messageValue(field.message, path);
      this.applyPhrases(schema, comment, path);
    }
    return this.withRules({ description: comment, ...schema }, path);
  }

  /** "Required." on a string means non-empty; "Must not be negative."; "Default `x`". */
  private applyPhrases(schema: JsonSchemaProps, comment: string, path: string): void {
    if (saysRequired(comment) && schema.type === 'string' && schema.enum === undefined) schema.minLength = 1;
    if (saysNotNegative(comment)) {
      if (schema.type !== 'integer') throw new UnsupportedProtoError(`${path}: "Must not be negative." on a non-integer`);
      schema.minimum = 0;
    }
    const text = statedDefault(comment);
    if (text !== undefined && schema.type !== 'object') schema.default = defaultValue(schema, text, path);
  }

  /** `schema` with the keywords and CEL rules that `rules` gives for `path`, in output order. */
  withRules(schema: JsonSchemaProps, path: string): JsonSchemaProps {
    const rules: FieldRules | undefined = this.rules[path];
    if (rules === undefined) return ordered(schema);
    this.unusedRules.delete(path);
    const { validations, ...keywords } = rules;
    const out: JsonSchemaProps = { ...schema, ...keywords };
    if (validations !== undefined) {
      out['x-kubernetes-validations'] = [...(schema['x-kubernetes-validations'] ?? []), ...validations.map((v) => ({ ...v }))];
    }
    return ordered(out);
  }

  private scalar(scalar: ScalarType, path: string): JsonSchemaProps {
    switch (scalar) {
      case ScalarType.STRING:
        return { type: 'string' };
      case ScalarType.BOOL:
        return { type: 'boolean' };
      case ScalarType.INT32:
      case ScalarType.SINT32:
      case ScalarType.SFIXED32:
        return { type: 'integer', format: 'int32' };
      case ScalarType.INT64:
      case ScalarType.SINT64:
      case ScalarType.SFIXED64:
        return { type: 'integer', format: 'int64' };
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
      case ScalarType.UINT64:
      case ScalarType.FIXED64:
        return { type: 'integer', format: 'int64', minimum: 0 };
      case ScalarType.FLOAT:
      case ScalarType.DOUBLE:
        return { type: 'number' };
      case ScalarType.BYTES:
        throw new UnsupportedProtoError(`${path}: bytes fields are not mapped`);
    }
  }

  /** A string enum of the values' written spellings; the zero (UNSPECIFIED) value is not allowed. */
  private enumeration(desc: DescEnum): JsonSchemaProps {
    const spellings: string[] = [];
    for (const value of desc.values) {
      if (value.number === 0) continue;
      const written = writtenAs(commentOf(value));
      if (written === undefined) {
        throw new UnsupportedProtoError(`${desc.typeName}.${value.name} has no "Written \`X\`." in its comment`);
      }
      spellings.push(written);
    }
    if (new Set(spellings).size !== spellings.length) throw new UnsupportedProtoError(`${desc.typeName} spells two values alike`);
    return { type: 'string', enum: spellings };
  }

  private messageValue(msg: DescMessage, path: string): JsonSchemaProps {
    switch (msg.typeName) {
      case 'google.protobuf.Struct':
        return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      case 'google.protobuf.Duration':
        return { type: 'string' };
      case 'google.protobuf.Timestamp':
        return { type: 'string', format: 'date-time' };
      default:
        if (msg.typeName.startsWith('google.protobuf.')) {
          throw new UnsupportedProtoError(`${path}: ${msg.typeName} is not mapped`);
        }
        return this.message(msg, path);
    }
  }
}

function defaultValue(schema: JsonSchemaProps, text: string, path: string): string | number | boolean {
  const bad = (): never => {
    throw new UnsupportedProtoError(`${path}: "Default \`${text}\`" is not a ${schema.type} value of this field`);
  };
  switch (schema.type) {
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : bad();
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : bad();
    case 'string':
      return schema.enum === undefined || schema.enum.includes(text) ? text : bad();
    default:
      return bad();
  }
}

function getMessage(set: ReturnType<typeof createFileRegistry>, typeName: string): DescMessage {
  const msg = set.getMessage(typeName);
  if (!msg) throw new Error(`the descriptor set has no message ${typeName}`);
  return msg;
}

/** Fails when a printer column's path names a field the schema does not have. */
function checkColumn(root: JsonSchemaProps, column: PrinterColumn): void {
  if (column.jsonPath.startsWith('.metadata.')) return;
  const segments = column.jsonPath
    .slice(1)
    .replace(/\[\?\(@\.(\w+)=="[^"]*"\)\]/g, '[$1]')
    .split('.');
  let schema: JsonSchemaProps | undefined = root;
  for (const segment of segments) {
    const m = /^(\w+)(?:\[(\w+)\])?$/.exec(segment);
    schema = m?.[1] === undefined ? undefined : schema?.properties?.[m[1]];
    if (m?.[2] !== undefined) {
      schema = schema?.items;
      if (schema?.properties?.[m[2]] === undefined) schema = undefined;
    }
    if (schema === undefined) throw new Error(`printer column ${column.name}: ${column.jsonPath} names no field`);
  }
}

/**
 * The HelmRelease CRD for the descriptors in `set`, which must contain SPEC_MESSAGE and
 * STATUS_MESSAGE with source info. Pure: the same descriptors give the same object. Throws
 * UnsupportedProtoError when the proto uses something the mapping does not define (maps, oneofs,
 * bytes, other well-known types, an enum value without its spelling, an uncommented field), and
 * Error when a rule or printer column names a field that does not exist.
 */
export function generateCrd(set: FileDescriptorSet, rules: AdmissionRules = ADMISSION_RULES): CustomResourceDefinition {
  const registry = createFileRegistry(set);
  const specMsg = getMessage(registry, SPEC_MESSAGE);
  const statusMsg = getMessage(registry, STATUS_MESSAGE);
  const builder = new Builder(rules);
  const spec = builder.withRules({ description: commentOf(specMsg), ...builder.message(specMsg, 'spec') }, 'spec');
  const status = builder.withRules({ description: commentOf(statusMsg), ...builder.message(statusMsg, 'status') }, 'status');
  const root = builder.withRules({
    description: firstParagraph(fileComment(specMsg.file)) || commentOf(specMsg),
    type: 'object',
    properties: {
      apiVersion: {
        description: 'APIVersion defines the versioned schema of this representation of an object.',
        type: 'string',
      },
      kind: {
        description: 'Kind is a string value representing the REST resource this object represents.',
        type: 'string',
      },
      metadata: { type: 'object' },
      spec,
      status,
    },
    required: ['spec'],
  }, '');
  builder.checkAllRulesUsed();
  for (const column of PRINTER_COLUMNS) checkColumn(root, column);

  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        // `hr` belongs to Flux's HelmRelease.
        shortNames: ['phr'],
        categories: ['planton'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

/** The CRD as the YAML file written to deploy/crds, with a header naming its generator. */
export function renderCrdYaml(crd: CustomResourceDefinition, source: string): string {
  const header = [
    `# Code generated by src/api/crd/cli.ts (npm run generate) from ${source}. DO NOT EDIT.`,
    '# Descriptions are the proto comments; patterns and bounds come from src/api/helm-release.ts.',
  ].join('\n');
  return `${header}\n${stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
