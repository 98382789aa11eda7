// Scrubbing of secret values out of messages. Helm's and Kubernetes' own errors quote values
// (a template's `fail`, `Invalid value: "..."`, an admission policy's message), so every message
// of a reconcile is scrubbed of the values that came from Secrets (valuesFrom, repository
// credentials) before it reaches the status, an event or a log line. The same strings are sent to
// helm-runner (ReleaseRef.redact), which scrubs its own logs and replies.
export const REDACTED = '[REDACTED]';

/**
 * Strings shorter than this are not scrubbed: replacing every `true`, `80` or `app` would make
 * messages unreadable, and such strings are not secrets worth the name. docs/security.md says so.
 */
export const MIN_SECRET_LENGTH = 4;

/** Collects the secret strings of one reconcile and scrubs them out of messages. */
export class Redactor {
  readonly #secrets = new Set<string>();
  /** Longest first, so a secret that contains another is removed whole. */
  #ordered: string[] | undefined;

  /** Adds a secret string and the forms in which a message may quote it. */
  add(secret: string): void {
    if (secret.length < MIN_SECRET_LENGTH) return;
    const forms = [secret, JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64')];
    // A multi-line secret (a key, a certificate, a YAML document) is often quoted one line at a time.
    if (secret.includes('\n')) forms.push(...secret.split('\n').map((l) => l.trim()));
    for (const f of forms) if (f.length >= MIN_SECRET_LENGTH) this.#secrets.add(f);
    this.#ordered = undefined;
  }

  /** Adds every string and number in a values document read from a Secret. */
  addValues(doc: unknown): void {
    if (typeof doc === 'string') this.add(doc);
    else if (typeof doc === 'number' || typeof doc === 'bigint') this.add(String(doc));
    else if (Array.isArray(doc)) for (const x of doc) this.addValues(x);
    else if (typeof doc === 'object' && doc !== null) for (const x of Object.values(doc)) this.addValues(x);
  }

  /** The strings to scrub (for helm-runner's ReleaseRef.redact), longest first. */
  get secrets(): readonly string[] {
    this.#ordered ??= [...this.#secrets].sort((a, b) => b.length - a.length);
    return this.#ordered;
  }

  /** `text` with every secret form replaced by [REDACTED]. */
  scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }
}
