// A small evaluator for the subset of CEL that the CRD's `x-kubernetes-validations` rules use,
// so unit tests can run the generated rules in JavaScript and compare them with zod. The API
// server's real CEL is exercised by test/api/admission.test.ts on the same cases. Anything
// outside the subset throws CelUnsupportedError instead of guessing.
//
// Subset: `self`; string literals ('..', "..", raw r'..'); integers; `true`, `false`; `!`, `&&`, `||`;
// `== != < <= > >=`; `(..)`; `self.matches(re)`, `self.startsWith(s)`, `size(x)`, `duration(s)`.

/** Thrown for syntax or functions the evaluator does not implement. */
export class CelUnsupportedError extends Error {
  override readonly name = 'CelUnsupportedError';
}

/** Thrown when evaluation fails the way CEL's would (a bad duration string, a type mismatch). */
export class CelEvaluationError extends Error {
  override readonly name = 'CelEvaluationError';
}

interface Duration {
  readonly durationNs: number;
}
type Value = string | number | boolean | Duration;

type Token =
  | { readonly kind: 'ident'; readonly text: string }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'punct'; readonly text: string };

const PUNCT = ['&&', '||', '>=', '<=', '==', '!=', '>', '<', '!', '(', ')', '.', ','];
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

function readString(src: string, start: number, raw: boolean): [string, number] {
  const quote = src[start];
  let out = '';
  let i = start + 1;
  while (i < src.length && src[i] !== quote) {
    if (!raw && src[i] === '\\') {
      const escaped = ESCAPES[src[i + 1] ?? ''];
      if (escaped === undefined) throw new CelUnsupportedError(`escape \\${src[i + 1]} at ${i}`);
      out += escaped;
      i += 2;
    } else {
      out += src[i];
      i += 1;
    }
  }
  if (i >= src.length) throw new CelUnsupportedError(`unterminated string at ${start}`);
  return [out, i + 1];
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    const rest = src.slice(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if ((c === 'r' || c === 'R') && (src[i + 1] === "'" || src[i + 1] === '"')) {
      const [text, next] = readString(src, i + 1, true);
      tokens.push({ kind: 'string', text });
      i = next;
    } else if (c === "'" || c === '"') {
      const [text, next] = readString(src, i, false);
      tokens.push({ kind: 'string', text });
      i = next;
    } else if (/[A-Za-z_]/.test(c)) {
      const text = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)?.[0] ?? c;
      tokens.push({ kind: 'ident', text });
      i += text.length;
    } else if (/[0-9]/.test(c)) {
      const text = /^[0-9]+/.exec(rest)?.[0] ?? c;
      tokens.push({ kind: 'int', value: Number(text) });
      i += text.length;
    } else {
      const p = PUNCT.find((q) => rest.startsWith(q));
      if (p === undefined) throw new CelUnsupportedError(`unexpected ${c} at ${i}`);
      tokens.push({ kind: 'punct', text: p });
      i += p.length;
    }
  }
  return tokens;
}

type Node =
  | { readonly op: 'lit'; readonly value: Value }
  | { readonly op: 'self' }
  | { readonly op: 'not'; readonly arg: Node }
  | { readonly op: 'and' | 'or'; readonly left: Node; readonly right: Node }
  | { readonly op: 'cmp'; readonly cmp: string; readonly left: Node; readonly right: Node }
  | { readonly op: 'call'; readonly fn: string; readonly target: Node | undefined; readonly args: readonly Node[] };

class Parser {
  private pos = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  parse(): Node {
    const node = this.or();
    if (this.pos < this.tokens.length) throw new CelUnsupportedError(`unexpected token ${this.pos}`);
    return node;
  }

  private peekPunct(text: string): boolean {
    const t = this.tokens[this.pos];
    return t?.kind === 'punct' && t.text === text;
  }

  private expect(text: string): void {
    if (!this.peekPunct(text)) throw new CelUnsupportedError(`expected ${text} at token ${this.pos}`);
    this.pos += 1;
  }

  private or(): Node {
    let left = this.and();
    while (this.peekPunct('||')) {
      this.pos += 1;
      left = { op: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.comparison();
    while (this.peekPunct('&&')) {
      this.pos += 1;
      left = { op: 'and', left, right: this.comparison() };
    }
    return left;
  }

  private comparison(): Node {
    const left = this.unary();
    const t = this.tokens[this.pos];
    if (t?.kind === 'punct' && ['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      this.pos += 1;
      return { op: 'cmp', cmp: t.text, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Node {
    if (this.peekPunct('!')) {
      this.pos += 1;
      return { op: 'not', arg: this.unary() };
    }
    let node = this.primary();
    while (this.peekPunct('.')) {
      this.pos += 1;
      const name = this.tokens[this.pos];
      if (name?.kind !== 'ident') throw new CelUnsupportedError(`expected a method name at token ${this.pos}`);
      this.pos += 1;
      node = { op: 'call', fn: name.text, target: node, args: this.args() };
    }
    return node;
  }

  private args(): Node[] {
    this.expect('(');
    const args: Node[] = [];
    while (!this.peekPunct(')')) {
      args.push(this.or());
      if (!this.peekPunct(')')) this.expect(',');
    }
    this.expect(')');
    return args;
  }

  private primary(): Node {
    const t = this.tokens[this.pos];
    this.pos += 1;
    if (t?.kind === 'string') return { op: 'lit', value: t.text };
    if (t?.kind === 'int') return { op: 'lit', value: t.value };
    if (t?.kind === 'punct' && t.text === '(') {
      const inner = this.or();
      this.expect(')');
      return inner;
    }
    if (t?.kind === 'ident' && t.text === 'self') return { op: 'self' };
    if (t?.kind === 'ident' && (t.text === 'true' || t.text === 'false')) return { op: 'lit', value: t.text === 'true' };
    if (t?.kind === 'ident' && this.peekPunct('(')) return { op: 'call', fn: t.text, target: undefined, args: this.args() };
    throw new CelUnsupportedError(`unexpected token ${this.pos - 1}`);
  }
}

const UNIT_NS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds of a Go duration string (time.ParseDuration's syntax), as CEL's duration() reads it. */
export function parseGoDuration(text: string): number {
  const m = /^([-+]?)(.*)$/.exec(text);
  const body = m?.[2] ?? '';
  if (body === '0') return 0;
  if (body === '' || !/^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/.test(body)) {
    throw new CelEvaluationError(`invalid duration ${JSON.stringify(text)}`);
  }
  let total = 0;
  for (const part of body.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNIT_NS[part[2] ?? ''] ?? Number.NaN);
  }
  return m?.[1] === '-' ? -total : total;
}

function isDuration(v: Value): v is Duration {
  return typeof v === 'object';
}

function asString(v: Value, what: string): string {
  if (typeof v !== 'string') throw new CelEvaluationError(`${what} needs a string`);
  return v;
}

function asBool(v: Value, what: string): boolean {
  if (typeof v !== 'boolean') throw new CelEvaluationError(`${what} needs a bool`);
  return v;
}

function comparable(v: Value): number | string {
  if (isDuration(v)) return v.durationNs;
  if (typeof v === 'boolean') throw new CelEvaluationError('bools are not ordered');
  return v;
}

function compare(cmp: string, a: Value, b: Value): boolean {
  if (typeof a !== typeof b || isDuration(a) !== isDuration(b)) throw new CelEvaluationError(`no overload for ${cmp}`);
  if (cmp === '==' || cmp === '!=') {
    const same = isDuration(a) && isDuration(b) ? a.durationNs === b.durationNs : a === b;
    return cmp === '==' ? same : !same;
  }
  const x = comparable(a);
  const y = comparable(b);
  switch (cmp) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

function call(fn: string, target: Value | undefined, args: readonly Value[]): Value {
  const [arg] = args;
  if (args.length !== 1 || arg === undefined) throw new CelUnsupportedError(`${fn} with ${args.length} arguments`);
  if (target !== undefined) {
    const s = asString(target, fn);
    switch (fn) {
      case 'matches':
        // CEL uses RE2; the patterns used here mean the same in JavaScript (no lookaround or
        // backreferences), which the admission integration test confirms against the API server.
        return new RegExp(asString(arg, fn), 'u').test(s);
      case 'startsWith':
        return s.startsWith(asString(arg, fn));
      default:
        throw new CelUnsupportedError(`method ${fn}`);
    }
  }
  switch (fn) {
    case 'size':
      return typeof arg === 'string' ? [...arg].length : Number.NaN;
    case 'duration':
      return { durationNs: parseGoDuration(asString(arg, fn)) };
    default:
      throw new CelUnsupportedError(`function ${fn}`);
  }
}

/** CEL's logical operators are commutative over errors: `error || true` is true. */
function logical(op: 'and' | 'or', left: () => boolean, right: () => boolean): boolean {
  const decisive = op === 'or';
  let leftError: unknown;
  try {
    if (left() === decisive) return decisive;
  } catch (e) {
    leftError = e;
  }
  if (right() === decisive) return decisive;
  if (leftError !== undefined) throw leftError;
  return !decisive;
}

function evaluate(node: Node, self: Value): Value {
  switch (node.op) {
    case 'lit':
      return node.value;
    case 'self':
      return self;
    case 'not':
      return !asBool(evaluate(node.arg, self), '!');
    case 'and':
    case 'or':
      return logical(
        node.op,
        () => asBool(evaluate(node.left, self), node.op),
        () => asBool(evaluate(node.right, self), node.op),
      );
    case 'cmp':
      return compare(node.cmp, evaluate(node.left, self), evaluate(node.right, self));
    case 'call':
      return call(
        node.fn,
        node.target === undefined ? undefined : evaluate(node.target, self),
        node.args.map((a) => evaluate(a, self)),
      );
  }
}

/**
 * Evaluates a validation rule with `self` bound to a scalar value. Returns whether the rule
 * holds; throws CelEvaluationError where CEL would fail at run time, CelUnsupportedError for
 * syntax outside the subset.
 */
export function evaluateRule(rule: string, self: string | number | boolean): boolean {
  return asBool(evaluate(new Parser(tokenize(rule)).parse(), self), 'a rule');
}
