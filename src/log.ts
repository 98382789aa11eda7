// Structured logging: one JSON object per line ({time, level, msg, ...fields}) on a writable
// stream. Secrets must never reach a log (CONVENTIONS.md); callers log names and digests, and
// this module is the safety net for the day one of them passes a whole object by mistake.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line (the child's own fields win over the parent's). */
  child(fields: Record<string, unknown>): Logger;
  /**
   * A logger that also passes every string it writes (message, field values, error texts)
   * through `scrub`: a reconcile's logger scrubs the values that came from Secrets.
   */
  redacting(scrub: (text: string) => string): Logger;
}

export interface LoggerOptions {
  /** Lines below this level are dropped. */
  readonly level: LogLevel;
  /** Where lines go; process.stderr when omitted. */
  readonly stream?: NodeJS.WritableStream;
  /** Fields written on every line. */
  readonly base?: Record<string, unknown>;
  /** The time source for the `time` field (tests pass a fixed one). */
  readonly now?: () => number;
}

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export const REDACTED = '[REDACTED]';

// Keys are compared lower-cased with '-' and '_' removed, so `client-key-data`, `api_key` and
// `dockerConfigJson` all match. Substrings catch `accessToken`, `clientSecret`, `userPassword`;
// whole-key matches catch the fields whose name is generic but whose content is sensitive: a
// Secret's `data`/`stringData` and a release's `values` (which may carry values from Secrets).
const secretSubstrings = [
  'password',
  'passwd',
  'token',
  'secret',
  'credential',
  'authorization',
  'dockerconfigjson',
  'dockercfg',
  'apikey',
  'privatekey',
  'keydata',
  'cookie',
  'auth',
  'bearer',
  'passphrase',
  'session',
];
const secretKeys = new Set(['data', 'stringdata', 'values']);
// Cryptographic keys: `tls.key`, `clientKey`, `sshKeys`, `signing-key`. The bare word `key`
// names a work-queue key or a values key (`valuesFrom[].key`), which are not secret.
const keySuffix = /.keys?$/;
// A key that names or digests a secret (`secretName`, `secretRef`, `tokenDigest`) is what the
// conventions ask to be logged instead of the secret; it is not redacted.
const referenceSuffix = /(name|names|ref|refs|digest)$/;

/** True when a field with this key must be written as "[REDACTED]". */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  if (secretKeys.has(k)) return true;
  if (referenceSuffix.test(k)) return false;
  return keySuffix.test(k) || secretSubstrings.some((s) => k.includes(s));
}

// `scheme://user:password@host` in any string: the user info is dropped.
const urlUserInfo = /([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;

function scrubString(s: string): string {
  return s.includes('@') ? s.replace(urlUserInfo, `$1${REDACTED}@`) : s;
}

const maxDepth = 12;

interface SanitizeContext {
  readonly withStack: boolean;
  readonly ancestors: Set<object>;
  readonly scrub?: (text: string) => string;
}

function scrubWith(s: string, ctx: SanitizeContext): string {
  return scrubString(ctx.scrub ? ctx.scrub(s) : s);
}

function sanitizeError(e: Error, depth: number, ctx: SanitizeContext): Record<string, unknown> {
  const out: Record<string, unknown> = { name: e.name, message: scrubWith(e.message, ctx) };
  const extra = e as unknown as Record<string, unknown>;
  for (const k of ['code', 'reason'] as const) {
    const v = extra[k];
    if (typeof v === 'string' || typeof v === 'number') out[k] = typeof v === 'string' ? scrubWith(v, ctx) : v;
  }
  if (ctx.withStack && e.stack !== undefined) out['stack'] = scrubWith(e.stack, ctx);
  if (e.cause !== undefined) out['cause'] = clean(e.cause, depth + 1, ctx);
  return out;
}

function sanitizeEntries(entries: Iterable<[string, unknown]>, depth: number, ctx: SanitizeContext): Record<string, unknown> {
  // Keys may come from anywhere (a logged object's own keys): no prototype, so `__proto__` is
  // written as the key it is.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of entries) out[k] = isSecretKey(k) ? REDACTED : clean(v, depth + 1, ctx);
  return out;
}

/**
 * A JSON-safe copy of `value` with secret-looking keys redacted at any depth, Errors reduced to
 * {name, message, code?, reason?, cause?} (stack only when `withStack`), binary data replaced by
 * its size, URL user info removed from strings, cycles and excessive depth cut.
 */
export function sanitize(value: unknown, opts: { readonly withStack?: boolean } = {}): unknown {
  return clean(value, 0, { withStack: opts.withStack ?? false, ancestors: new Set() });
}

function clean(value: unknown, depth: number, ctx: SanitizeContext): unknown {
  switch (typeof value) {
    case 'string':
      return scrubWith(value, ctx);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
      return undefined;
    case 'function':
      return '[Function]';
    case 'symbol':
      return value.toString();
  }
  if (value === null) return null;
  const obj = value as object;
  if (obj instanceof Error) return sanitizeError(obj, depth, ctx);
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (obj instanceof URL) return scrubWith(obj.href, ctx);
  if (ArrayBuffer.isView(obj)) return `[binary ${obj.byteLength} bytes]`;
  if (obj instanceof ArrayBuffer) return `[binary ${obj.byteLength} bytes]`;
  if (depth >= maxDepth) return '[Truncated]';
  if (ctx.ancestors.has(obj)) return '[Circular]';
  ctx.ancestors.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => clean(v, depth + 1, ctx) ?? null);
    if (obj instanceof Set) return [...obj].map((v) => clean(v, depth + 1, ctx) ?? null);
    if (obj instanceof Map) {
      return sanitizeEntries([...obj].map(([k, v]): [string, unknown] => [String(k), v]), depth, ctx);
    }
    return sanitizeEntries(Object.entries(obj), depth, ctx);
  } finally {
    ctx.ancestors.delete(obj);
  }
}

const reserved = new Set(['time', 'level', 'msg']);

class JsonLogger implements Logger {
  constructor(
    private readonly minSeverity: number,
    private readonly withStack: boolean,
    private readonly stream: NodeJS.WritableStream,
    private readonly base: Record<string, unknown>,
    private readonly now: () => number,
    private readonly scrub?: (text: string) => string,
  ) {}

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }

  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.minSeverity, this.withStack, this.stream, { ...this.base, ...fields }, this.now, this.scrub);
  }

  redacting(scrub: (text: string) => string): Logger {
    const outer = this.scrub;
    const both = outer ? (t: string) => scrub(outer(t)) : scrub;
    return new JsonLogger(this.minSeverity, this.withStack, this.stream, this.base, this.now, both);
  }

  private write(level: LogLevel, msg: string, fields: Record<string, unknown> | undefined): void {
    if (severity[level] < this.minSeverity) return;
    const ctx: SanitizeContext = { withStack: this.withStack, ancestors: new Set(), ...(this.scrub ? { scrub: this.scrub } : {}) };
    const line: Record<string, unknown> = { time: new Date(this.now()).toISOString(), level, msg: scrubWith(msg, ctx) };
    const all = fields === undefined ? this.base : { ...this.base, ...fields };
    for (const [k, v] of Object.entries(all)) {
      // A field may not overwrite the line's own time, level or message.
      const key = reserved.has(k) ? `field.${k}` : k;
      line[key] = isSecretKey(k) ? REDACTED : clean(v, 1, ctx);
    }
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      // A field that cannot be serialised (a getter that throws...) costs its fields, not the line
      // and never the process.
      text = JSON.stringify({ time: line['time'], level, msg: line['msg'], fieldsDropped: 'not serialisable' });
    }
    this.stream.write(`${text}\n`);
  }
}

/** A JSON-lines logger. Stacks of logged Errors are written only at level `debug`. */
export function createLogger(opts: LoggerOptions): Logger {
  return new JsonLogger(
    severity[opts.level],
    opts.level === 'debug',
    opts.stream ?? process.stderr,
    { ...opts.base },
    opts.now ?? Date.now,
  );
}

/** A logger that writes nothing (default for components constructed without one). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
  redacting: () => silentLogger,
};
