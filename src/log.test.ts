import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, isSecretKey, type LogLevel } from './log.js';

const CANARY = 'canary-7f3a9c-do-not-log';

function capture(level: LogLevel = 'debug', base?: Record<string, unknown>) {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  const log = createLogger({ level, stream, now: () => Date.UTC(2026, 0, 2, 3, 4, 5), ...(base ? { base } : {}) });
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, text, lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, msg and the fields', () => {
    const { log, text, lines } = capture('info', { component: 'controller' });
    log.info('reconciled', { namespace: 'apps', name: 'web', revision: 3 });
    log.warn('slow', { ms: 1200 });
    expect(text().endsWith('\n')).toBe(true);
    expect(lines()).toEqual([
      { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'reconciled', component: 'controller', namespace: 'apps', name: 'web', revision: 3 },
      { time: '2026-01-02T03:04:05.000Z', level: 'warn', msg: 'slow', component: 'controller', ms: 1200 },
    ]);
    expect(Object.keys(lines()[0] ?? {}).slice(0, 3)).toEqual(['time', 'level', 'msg']);
  });

  it('drops lines below the configured level', () => {
    const { log, lines } = capture('warn');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines().map((l) => l['level'])).toEqual(['warn', 'error']);
  });

  it('child loggers add their fields to every line and may override the parent', () => {
    const { log, lines } = capture('info', { component: 'queue', shard: 'a' });
    const child = log.child({ key: 'apps/web', shard: 'b' });
    child.info('start');
    child.child({ attempt: 2 }).info('retry');
    expect(lines()).toMatchObject([
      { msg: 'start', component: 'queue', key: 'apps/web', shard: 'b' },
      { msg: 'retry', component: 'queue', key: 'apps/web', shard: 'b', attempt: 2 },
    ]);
  });

  it('never lets a field overwrite time, level or msg', () => {
    const { log, lines } = capture();
    log.info('real', { msg: 'fake', level: 'error', time: 'then' });
    expect(lines()[0]).toMatchObject({ msg: 'real', level: 'info', 'field.msg': 'fake', 'field.level': 'error', 'field.time': 'then' });
  });

  it('redacts secret-looking fields at any depth: the canary never reaches the stream', () => {
    const { log, text, lines } = capture('debug', { token: CANARY });
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'repo-creds', namespace: 'apps' }, data: { password: CANARY }, stringData: { x: CANARY } };
    log.info('everything', {
      secret: 'whole field redacted: its key says secret',
      object: secret,
      release: { spec: { values: { image: CANARY }, valuesFrom: [{ kind: 'Secret', name: 'db', key: 'values.yaml' }] } },
      headers: { Authorization: `Bearer ${CANARY}` },
      auth: { PASSWORD: CANARY, userName: 'planton', secretRef: { name: 'repo-creds' } },
      docker: { '.dockerconfigjson': CANARY, DockerConfigJSON: CANARY },
      kubeconfig: { users: [{ name: 'admin', user: { 'client-key-data': CANARY, token: CANARY } }] },
      list: [[{ credentials: CANARY }]],
      map: new Map<string, unknown>([['clientSecret', CANARY], ['harmless', 'ok']]),
      url: `https://planton:${CANARY}@charts.example.test/index.yaml`,
    });
    log.child({ accessToken: CANARY }).warn(`fetch https://user:${CANARY}@repo.example.test failed`);
    expect(text()).not.toContain(CANARY);

    const [first] = lines();
    expect(first).toMatchObject({
      token: '[REDACTED]',
      secret: '[REDACTED]',
      object: { kind: 'Secret', metadata: { name: 'repo-creds' }, data: '[REDACTED]', stringData: '[REDACTED]' },
      release: { spec: { values: '[REDACTED]', valuesFrom: [{ kind: 'Secret', name: 'db', key: 'values.yaml' }] } },
      headers: { Authorization: '[REDACTED]' },
      // The whole of `auth` (credentials of some kind, whatever its fields are called).
      auth: '[REDACTED]',
      map: { clientSecret: '[REDACTED]', harmless: 'ok' },
      url: 'https://[REDACTED]@charts.example.test/index.yaml',
    });
  });

  it('a redacting logger scrubs its strings everywhere: message, fields, errors, children', () => {
    const { log, text, lines } = capture('debug');
    const scrubbed = log.child({ helmrelease: 'apps/web' }).redacting((t) => t.split(CANARY).join('[REDACTED]'));
    scrubbed.warn(`render failed: ${CANARY}`, { err: new Error(`Invalid value: "${CANARY}"`, { cause: new Error(CANARY) }), note: [`x${CANARY}y`] });
    scrubbed.child({ more: CANARY }).info('child');
    expect(text()).not.toContain(CANARY);
    expect(lines()[0]).toMatchObject({ helmrelease: 'apps/web', msg: 'render failed: [REDACTED]', note: ['x[REDACTED]y'] });
  });

  it('writes Errors as {name, message} with their cause, and the stack only at debug', () => {
    const err = new Error('upgrade failed', { cause: new TypeError('socket closed') });
    const info = capture('info');
    info.log.error('reconcile failed', { err });
    expect(info.lines()[0]?.['err']).toEqual({ name: 'Error', message: 'upgrade failed', cause: { name: 'TypeError', message: 'socket closed' } });
    expect(info.text()).not.toContain('log.test.ts');

    const debug = capture('debug');
    debug.log.error('reconcile failed', { err });
    expect(debug.lines()[0]?.['err']).toMatchObject({ name: 'Error', message: 'upgrade failed', stack: expect.stringContaining('log.test.ts') });
  });

  it('writes a __proto__ key as a key, touching no prototype', () => {
    const { log, lines } = capture();
    log.info('odd keys', { doc: JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') as unknown });
    expect(JSON.stringify(lines()[0]?.['doc'])).toBe('{"__proto__":{"polluted":true},"constructor":1}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('survives cycles, binary data, bigint and non-finite numbers', () => {
    const { log, lines } = capture();
    const loop: Record<string, unknown> = { name: 'loop' };
    loop['self'] = loop;
    const shared = { a: 1 };
    log.info('odd', { loop, pair: [shared, shared], buf: Buffer.from(CANARY), big: 10n, nan: Number.NaN, when: new Date(0) });
    expect(lines()[0]).toMatchObject({
      loop: { name: 'loop', self: '[Circular]' },
      pair: [{ a: 1 }, { a: 1 }],
      buf: `[binary ${CANARY.length} bytes]`,
      big: '10',
      nan: 'NaN',
      when: '1970-01-01T00:00:00.000Z',
    });
  });
});

describe('isSecretKey', () => {
  it.each([
    ['password', true],
    ['stringData', true],
    ['data', true],
    ['values', true],
    ['Authorization', true],
    ['.dockerconfigjson', true],
    ['bearerToken', true],
    ['credentials', true],
    ['auth', true],
    ['basicAuth', true],
    ['tls.key', true],
    ['clientKey', true],
    ['ssh_keys', true],
    ['signing-key', true],
    ['sessionCookie', true],
    ['key', false],
    ['authSecretRef', false],
    ['secretName', false],
    ['secretRef', false],
    ['valuesDigest', false],
    ['valuesFrom', false],
    ['metadata', false],
    ['name', false],
  ])('%s → %s', (key, secret) => {
    expect(isSecretKey(key)).toBe(secret);
  });
});
