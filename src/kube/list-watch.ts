// LIST and WATCH of one collection over KubeRest (keep-alive connections, plain JSON): the
// transport under the controller's informers. Behind an interface so the informer's cache and
// restart logic is unit-tested without an API server. A query can ask for metadata only
// (PartialObjectMetadata), so the bodies of large objects (Helm's release Secrets are up to 1 MiB
// each) never cross the wire when names and resourceVersions are all the caller needs.
import type http from 'node:http';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { ACCEPT_METADATA, ACCEPT_METADATA_LIST, KubeRest, KubeRestError } from './rest.js';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ListQuery {
  readonly path: string;
  readonly limit: number;
  readonly continue?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Ask for PartialObjectMetadataList: items carry `metadata` only. */
  readonly metadataOnly?: boolean;
}

export interface ListPage {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
  /** Set when more pages follow. */
  readonly continue?: string;
}

export interface WatchQuery {
  readonly path: string;
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Ask for PartialObjectMetadata: event objects carry `metadata` only. */
  readonly metadataOnly?: boolean;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR' | (string & {});
  readonly object: KubeObject;
}

export interface ListWatchTransport {
  /** One LIST page. Rejects with KubeRestError for an HTTP error status. */
  list(query: ListQuery, signal: AbortSignal): Promise<ListPage>;
  /**
   * Opens a WATCH (with allowWatchBookmarks) and calls `onEvent` for each event, in order.
   * Resolves when the server ends the stream normally; rejects with KubeRestError for an HTTP
   * error status, with the signal's reason when aborted, or with the connection error.
   */
  watch(query: WatchQuery, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
}

async function readBody(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * List and watch over KubeRest, authenticated and TLS-configured by the KubeConfig. Counts the
 * response body bytes it receives (`bytesReceived`), so what a collection costs on the wire can
 * be measured.
 */
export class HttpListWatchTransport implements ListWatchTransport {
  readonly #rest: KubeRest;
  #bytes = 0;

  constructor(kubeConfig: KubeConfig) {
    this.#rest = new KubeRest(kubeConfig);
  }

  /** Response body bytes received by every list and watch so far. */
  get bytesReceived(): number {
    return this.#bytes;
  }

  async list(query: ListQuery, signal: AbortSignal): Promise<ListPage> {
    const params: Record<string, string | undefined> = {
      limit: String(query.limit),
      continue: query.continue,
      labelSelector: query.labelSelector,
      fieldSelector: query.fieldSelector,
    };
    const res = await this.#get(query.path, params, query.metadataOnly ? ACCEPT_METADATA_LIST : undefined, signal);
    const raw = await readBody(res);
    this.#bytes += raw.length;
    const body = parseJson(raw.toString('utf8'));
    if (res.statusCode !== 200) throw KubeRestError.fromStatus(body, res.statusCode ?? 0, `list ${query.path}`);
    const list = (body ?? {}) as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } };
    // An empty PartialObjectMetadataList carries `"items": null`.
    const items = list.items === null ? [] : list.items;
    if (!Array.isArray(items) || typeof list.metadata?.resourceVersion !== 'string') {
      throw new Error(`list ${query.path}: response is not a Kubernetes list`);
    }
    const next = list.metadata.continue;
    return {
      items: items as KubeObject[],
      resourceVersion: list.metadata.resourceVersion,
      ...(typeof next === 'string' && next !== '' ? { continue: next } : {}),
    };
  }

  async watch(query: WatchQuery, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const params: Record<string, string | undefined> = {
      watch: 'true',
      allowWatchBookmarks: 'true',
      resourceVersion: query.resourceVersion,
      timeoutSeconds: String(query.timeoutSeconds),
      labelSelector: query.labelSelector,
      fieldSelector: query.fieldSelector,
    };
    const res = await this.#get(query.path, params, query.metadataOnly ? ACCEPT_METADATA : undefined, signal, true);
    if (res.statusCode !== 200) {
      const raw = await readBody(res);
      this.#bytes += raw.length;
      throw KubeRestError.fromStatus(parseJson(raw.toString('utf8')), res.statusCode ?? 0, `watch ${query.path}`);
    }
    await new Promise<void>((resolve, reject) => {
      let failure: unknown;
      const recordFailure = (err: unknown): void => {
        failure ??= err;
      };
      res.on('error', recordFailure);
      const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
      res.on('data', (chunk: Buffer) => {
        this.#bytes += chunk.length;
      });
      // readline re-emits the input's errors (e.g. ECONNRESET when the watch is aborted).
      lines.on('error', recordFailure);
      lines.on('line', (line) => {
        if (failure !== undefined || line === '') return;
        const event = parseJson(line) as WatchEvent | undefined;
        if (event === undefined || typeof event.type !== 'string' || typeof event.object !== 'object') {
          failure = new Error(`watch ${query.path}: malformed event`);
          res.destroy();
          return;
        }
        try {
          onEvent(event);
        } catch (err) {
          failure = err;
          res.destroy();
        }
      });
      // 'close' on the response comes after every complete line was delivered, on a normal end
      // and on an error alike (readline's own 'close' never comes when the input is destroyed).
      res.on('close', () => {
        lines.close();
        if (signal.aborted) reject(signal.reason);
        else if (failure !== undefined) reject(failure);
        else if (!res.complete) reject(new Error(`watch ${query.path}: stream ended before the response was complete`));
        else resolve();
      });
    });
  }

  #get(path: string, query: Record<string, string | undefined>, accept: string | undefined, signal: AbortSignal, watch = false): Promise<http.IncomingMessage> {
    return this.#rest.send({ method: 'GET', path, query, signal, watch, ...(accept !== undefined ? { accept } : {}) });
  }
}
