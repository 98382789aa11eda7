// The controller's plain HTTP endpoints (node:http, no framework): Prometheus metrics and the
// kubelet's liveness and readiness probes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Health {
  readonly ok: boolean;
  /** Why not ok: written in the 503 body, so it must name no secret. */
  readonly reason?: string;
}

export interface HttpServerOptions {
  readonly host: string;
  /** 0 = any free port (the bound one is returned). */
  readonly port: number;
  readonly registry: Registry;
  /** /readyz: e.g. leader election done, informers synced, runner healthy. */
  readonly ready: () => Health;
  /** /healthz; always ok when omitted. */
  readonly live?: () => Health;
}

export interface RunningHttpServer {
  readonly port: number;
  /** Stops accepting connections, closes open ones, resolves when the server is closed. */
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}

function probe(res: ServerResponse, check: () => Health): void {
  let health: Health;
  try {
    health = check();
  } catch (err) {
    health = { ok: false, reason: `check failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (health.ok) send(res, 200, 'ok\n');
  else send(res, 503, `not ok: ${health.reason ?? 'unknown'}\n`);
}

async function handle(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
  if (!known) return send(res, 404, 'not found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
  }
  switch (path) {
    case '/metrics':
      try {
        const body = await opts.registry.metrics();
        return send(res, 200, body, opts.registry.contentType);
      } catch (err) {
        return send(res, 500, `metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    case '/healthz':
      return probe(res, opts.live ?? (() => ({ ok: true })));
    default:
      return probe(res, opts.ready);
  }
}

/** Starts listening; resolves once bound (rejects when the address is unavailable). */
export function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const server = createServer((req, res) => {
    handle(opts, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // Probes and scrapes are small: bound slow or idle clients.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      resolve({
        port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
