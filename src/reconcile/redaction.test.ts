import { describe, expect, it } from 'vitest';
import { Redactor } from './redaction.js';

describe('Redactor', () => {
  const secret = 's3cr3t-"quoted"';
  const r = new Redactor();
  r.add(secret);
  r.addValues({ db: { password: 'hunter2-long', port: 54321, enabled: true }, short: 'ab' });
  r.add('-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----');

  it.each([
    ['the value itself', `render failed: ${secret}`],
    ['its JSON-escaped form', `Invalid value: ${JSON.stringify(secret)}`],
    ['its base64 form', `data.token: ${Buffer.from(secret).toString('base64')}`],
    ['a value from a values document', 'password hunter2-long refused'],
    ['a number from a values document', 'port 54321 in use'],
    ['one line of a multi-line secret', 'bad key line AAAABBBBCCCC'],
  ])('scrubs %s', (_what, message) => {
    const out = r.scrub(message);
    expect(out).toContain('[REDACTED]');
    for (const s of r.secrets) expect(out).not.toContain(s);
  });

  it('leaves short strings and unrelated text alone, and lists what the runner must scrub', () => {
    expect(r.scrub('enabled: true, short: ab')).toBe('enabled: true, short: ab');
    expect(r.secrets).toContain(secret);
    expect(r.secrets).not.toContain('ab');
    const lengths = r.secrets.map((s) => s.length);
    expect([...lengths].sort((a, b) => b - a)).toEqual(lengths);
  });
});
