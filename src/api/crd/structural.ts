// Checks a value against a generated CRD schema in JavaScript, the way the API server admits it
// with `kubectl apply` (strict field validation): types, unknown fields, required, enum, length,
// item and numeric bounds, and the CEL rules (through ./cel.ts). For tests that compare the CRD
// with zod without a cluster; test/api/admission.test.ts checks the real API server.
import { CelEvaluationError, evaluateRule } from './cel.js';
import type { JsonSchemaProps } from './generate.js';

/** One reason the value would be rejected: where, and the message. */
export interface Violation {
  readonly path: string;
  readonly message: string;
}

function typeOk(schema: JsonSchemaProps, value: unknown): boolean {
  switch (schema.type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case undefined:
      return true;
  }
}

function checkScalar(schema: JsonSchemaProps, value: string | number | boolean, path: string, out: Violation[]): void {
  if (schema.enum !== undefined && !schema.enum.includes(String(value))) out.push({ path, message: 'Unsupported value' });
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) out.push({ path, message: 'Too short' });
    if (schema.maxLength !== undefined && length > schema.maxLength) out.push({ path, message: 'Too long' });
  }
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) {
    out.push({ path, message: `should be greater than or equal to ${schema.minimum}` });
  }
  for (const v of schema['x-kubernetes-validations'] ?? []) {
    let holds: boolean;
    try {
      holds = evaluateRule(v.rule, value);
    } catch (e) {
      if (!(e instanceof CelEvaluationError)) throw e;
      holds = false;
    }
    if (!holds) out.push({ path, message: v.message });
  }
}

function checkObject(schema: JsonSchemaProps, value: Record<string, unknown>, path: string, out: Violation[]): void {
  if (schema['x-kubernetes-preserve-unknown-fields']) return;
  const properties = schema.properties ?? {};
  for (const name of schema.required ?? []) {
    if (value[name] === undefined) out.push({ path: `${path}.${name}`, message: 'Required value' });
  }
  for (const [name, field] of Object.entries(value)) {
    const sub = properties[name];
    if (sub === undefined) out.push({ path: `${path}.${name}`, message: `unknown field "${path}.${name}"` });
    else check(sub, field, `${path}.${name}`, out);
  }
}

function check(schema: JsonSchemaProps, value: unknown, path: string, out: Violation[]): void {
  if (schema['x-kubernetes-validations'] !== undefined && (schema.type === 'object' || schema.type === 'array')) {
    throw new Error(`${path}: rules on objects and lists are not modelled here`);
  }
  if (!typeOk(schema, value)) {
    out.push({ path, message: `Invalid value: must be of type ${schema.type}` });
    return;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push({ path, message: 'must have at least items' });
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push({ path, message: 'Too many' });
    const items = schema.items;
    if (items !== undefined) value.forEach((v, i) => check(items, v, `${path}[${i}]`, out));
  } else if (typeof value === 'object' && value !== null) {
    checkObject(schema, value as Record<string, unknown>, path, out);
  } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    checkScalar(schema, value, path, out);
  }
}

/** Every reason `value` (at `path`, such as `spec`) would be rejected by `schema`; empty when admitted. */
export function violations(schema: JsonSchemaProps, value: unknown, path: string): Violation[] {
  const out: Violation[] = [];
  check(schema, value, path, out);
  return out;
}
