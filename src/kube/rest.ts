// A small JSON client for the Kubernetes API on node:https, authenticated and TLS-configured by
// client-node's KubeConfig, over keep-alive connections. client-node's own agents do not keep
// connections alive, so every call paid a TLS handshake (the API server's largest cost per
// request after the request itself); its generated clients also run every body through a model
// serializer. The reconciler's hot path (status, finalizers, events, Secret reads, informer
// lists and watches) goes through here.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * A non-2xx answer of the API server, or a watch ERROR event carrying one; `code` is the HTTP
 * status (as client-node's errors), e.g. 410 when a watch's resourceVersion is too old.
 */
export class KubeRestError extends Error {
  override readonly name = 'KubeRestError';
  readonly code: number;
  /** The Status reason, e.g. "Expired", "Forbidden"; empty when the answer carried none. */
  readonly reason: string;

  constructor(code: number, reason: string, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }

  /** From a metav1.Status object (an error response body or a watch ERROR event's object). */
  static fromStatus(status: unknown, fallbackCode: number, what: string): KubeRestError {
    const s = (typeof status === 'object' && status !== null ? status : {}) as Record<string, unknown>;
    const code = typeof s['code'] === 'number' ? s['code'] : fallbackCode;
    const reason = typeof s['reason'] === 'string' ? s['reason'] : '';
    const message = typeof s['message'] === 'string' ? s['message'] : (http.STATUS_CODES[code] ?? 'unknown error');
    return new KubeRestError(code, reason, `${what}: ${code}${reason ? ` ${reason}` : ''}: ${message}`);
  }
}

/**
 * Accept headers that make the API server answer with metadata only (PartialObjectMetadata):
 * names, labels, annotations, resourceVersions, never `data` or `spec`.
 */
export const ACCEPT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
export const ACCEPT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

const agents = new Map<string, https.Agent>();

/** Connections at most for requests that end (per TLS identity); watches have their own. */
const MAX_REQUEST_SOCKETS = 64;

/**
 * Replaces the per-call agent client-node put in `opts` with a shared keep-alive agent for the
 * same TLS identity (CA, client certificate and key). A watch holds its connection for as long as
 * it runs, so watches get an agent of their own without a cap: a hundred open watches (the API's
 * Watch streams) must never leave status writes, TokenReviews or Lease renewals waiting for a
 * connection, as they did when both shared the 64 of one agent.
 */
function withKeepAlive(opts: https.RequestOptions, watch: boolean): https.RequestOptions {
  const key = JSON.stringify([watch, String(opts.ca ?? ''), String(opts.cert ?? ''), String(opts.key ?? ''), opts.rejectUnauthorized, opts.servername]);
  let agent = agents.get(key);
  if (!agent) {
    agent = new https.Agent({
      keepAlive: true,
      maxSockets: watch ? Number.POSITIVE_INFINITY : MAX_REQUEST_SOCKETS,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
    });
    agents.set(key, agent);
  }
  return { ...opts, agent };
}

export interface RestRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  /** Accept header; default application/json. */
  readonly accept?: string;
  readonly signal?: AbortSignal;
  /** A watch: a response that streams for as long as it runs (a connection of the watch agent). */
  readonly watch?: boolean;
}

export class KubeRest {
  readonly #kubeConfig: KubeConfig;

  constructor(kubeConfig: KubeConfig) {
    this.#kubeConfig = kubeConfig;
  }

  /** Sends one request; resolves with the parsed JSON body of a 2xx answer, else throws KubeRestError. */
  async json<T = unknown>(req: RestRequest): Promise<T> {
    return (await this.request<T>(req)).body;
  }

  /** As json(), with the answer's status code (e.g. 201 when a server-side apply created the object). */
  async request<T = unknown>(req: RestRequest): Promise<{ status: number; body: T }> {
    const res = await this.send(req);
    const text = await readBody(res);
    const body = text === '' ? undefined : (JSON.parse(text) as unknown);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const s = (body ?? {}) as { reason?: unknown; message?: unknown };
      throw new KubeRestError(
        status,
        typeof s.reason === 'string' ? s.reason : '',
        `${req.method} ${req.path}: ${status} ${typeof s.message === 'string' ? s.message : text.slice(0, 200)}`,
      );
    }
    return { status, body: body as T };
  }

  /** Sends one request and resolves with the response, whatever its status (for streams). */
  async send(req: RestRequest): Promise<http.IncomingMessage> {
    const cluster = this.#kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const opts: https.RequestOptions = {
      method: req.method,
      headers: {
        Accept: req.accept ?? 'application/json',
        ...(payload !== undefined ? { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
      },
    };
    await this.#kubeConfig.applyToHTTPSOptions(opts);
    const plain = url.protocol === 'http:';
    const final = plain ? opts : withKeepAlive(opts, req.watch === true);
    const request = plain ? http.request : https.request;
    return new Promise((resolve, reject) => {
      const r = request(url, { ...final, ...(req.signal ? { signal: req.signal } : {}) }, resolve);
      r.on('error', reject);
      if (payload !== undefined) r.write(payload);
      r.end();
    });
  }
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
