import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type Health, type RunningHttpServer } from './http-server.js';

let running: RunningHttpServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(ready: () => Health, live?: () => Health) {
  const registry = new Registry();
  const reconciles = new Counter({ name: 'test_reconciles_total', help: 'reconciles', registers: [registry] });
  reconciles.inc(3);
  running = await startHttpServer({ host: '127.0.0.1', port: 0, registry, ready, ...(live ? { live } : {}) });
  const base = `http://127.0.0.1:${running.port}`;
  return { registry, get: (path: string, init?: RequestInit) => fetch(`${base}${path}`, init) };
}

describe('startHttpServer', () => {
  it('serves the registry on /metrics with its content type', async () => {
    const s = await start(() => ({ ok: true }));
    const res = await s.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(s.registry.contentType);
    expect(await res.text()).toContain('test_reconciles_total 3');
  });

  it('answers /readyz and /healthz with 200 ok, or 503 and the reason', async () => {
    let ready: Health = { ok: false, reason: 'informers not synced' };
    let live: Health = { ok: true };
    const s = await start(
      () => ready,
      () => live,
    );
    let res = await s.get('/readyz');
    expect([res.status, await res.text()]).toEqual([503, 'not ok: informers not synced\n']);
    res = await s.get('/healthz');
    expect([res.status, await res.text()]).toEqual([200, 'ok\n']);

    ready = { ok: true };
    live = { ok: false, reason: 'runner unreachable' };
    res = await s.get('/readyz?verbose');
    expect([res.status, await res.text()]).toEqual([200, 'ok\n']);
    res = await s.get('/healthz');
    expect([res.status, await res.text()]).toEqual([503, 'not ok: runner unreachable\n']);
  });

  it('treats a throwing check as not ok', async () => {
    const s = await start(() => {
      throw new Error('boom');
    });
    const res = await s.get('/readyz');
    expect([res.status, await res.text()]).toEqual([503, 'not ok: check failed: boom\n']);
  });

  it('is live by default', async () => {
    const s = await start(() => ({ ok: false }));
    expect((await s.get('/healthz')).status).toBe(200);
    expect(await (await s.get('/readyz')).text()).toBe('not ok: unknown\n');
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const s = await start(() => ({ ok: true }));
    expect((await s.get('/')).status).toBe(404);
    expect((await s.get('/metrics/extra')).status).toBe(404);
    const post = await s.get('/metrics', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('rejects when the port is taken, and closes', async () => {
    const s = await start(() => ({ ok: true }));
    const port = running?.port ?? 0;
    await expect(startHttpServer({ host: '127.0.0.1', port, registry: s.registry, ready: () => ({ ok: true }) })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    await running?.close();
    running = undefined;
    await expect(s.get('/healthz')).rejects.toThrow();
  });
});
