// HelmReleaseService: each RPC authenticates the caller, authorizes the verbs the proto names
// with a SubjectAccessReview, validates the request, then reads or writes the HelmRelease
// objects (never the releases themselves: the controller acts on the objects as it does for
// kubectl). Diff and History go to helm-runner through Preview.
import type { handleServerStreamingCall, handleUnaryCall, Metadata, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { HelmReleaseSpecSchema, type HelmReleaseSpec } from '../api/helm-release.js';
import type { WatchEvent } from '../kube/list-watch.js';
import type { Logger } from '../log.js';
import { RECONCILE_KEEP_FAILURES_ANNOTATION, RECONCILE_REQUEST_ANNOTATION } from '../reconcile/reconciler.js';
import {
  type ApplyRequest,
  type ApplyResponse,
  type DeleteRequest,
  type DeleteResponse,
  type DiffRequest,
  type DiffResponse,
  type GetRequest,
  type GetResponse,
  type HelmReleaseServiceServer,
  type HistoryRequest,
  type HistoryResponse,
  type ListRequest,
  type ListResponse,
  type ReconcileRequest,
  type ReconcileResponse,
  type ResumeRequest,
  type ResumeResponse,
  type SuspendRequest,
  type SuspendResponse,
  type WatchRequest,
  type WatchResponse,
  WatchEventType,
} from '../gen/planton/helm/v1/helm_release_service.js';
import { type Authenticator, type Authorizer, type Caller, type Verb } from './auth.js';
import { ApiError, Code, fromKube } from './errors.js';
import { helmReleaseMessage, requireName, requireNamespace, validLabels, validSpec } from './messages.js';
import type { Preview } from './preview.js';
import type { HelmReleaseJson, HelmReleaseStore } from './store.js';

export interface ServiceOptions {
  /** Longest a unary call may run, whatever deadline the caller sent. */
  readonly callTimeoutMs: number;
  /** Most Watch streams open at once; more are refused with RESOURCE_EXHAUSTED. */
  readonly maxWatches: number;
  /** Bytes queued for a slow Watch reader before its stream is ended with RESOURCE_EXHAUSTED. */
  readonly maxWatchBacklogBytes: number;
}

export interface ServiceDeps {
  readonly store: HelmReleaseStore;
  readonly authn: Authenticator;
  readonly authz: Authorizer;
  readonly preview: Preview;
  readonly log: Logger;
  readonly options: ServiceOptions;
  /** Observes every finished call: method, gRPC code name, seconds. */
  readonly observe?: (method: string, code: string, seconds: number) => void;
  /** Told the number of open Watch streams whenever it changes. */
  readonly watchesOpen?: (open: number) => void;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const MAX_FIELD_MANAGER = 128;
/** A watch the API server ends after this long is re-opened from the last version, unseen by the caller. */
const WATCH_TIMEOUT_SECONDS = 300;
/** Namespaces whose permission one cross-namespace List or Watch remembers. */
const MAX_REMEMBERED_NAMESPACES = 4096;
/** Items read per page for a List that filters by permission, and pages read at most per call. */
const LIST_READ_SIZE = 1000;
const MAX_LIST_READS = 20;

const codeName = new Map<number, string>(Object.entries(Code).map(([k, v]) => [v as number, k]));

export class HelmReleaseService {
  readonly #d: ServiceDeps;
  readonly #watches = new Set<ServerWritableStream<WatchRequest, WatchResponse>>();
  #draining = false;

  constructor(deps: ServiceDeps) {
    this.#d = deps;
  }

  /** The grpc-js implementation of every RPC. */
  implementation(): HelmReleaseServiceServer {
    return {
      apply: this.#unary('Apply', (r: ApplyRequest, c, s) => this.#apply(r, c, s)),
      get: this.#unary('Get', (r: GetRequest, c) => this.#get(r, c)),
      list: this.#unary('List', (r: ListRequest, c, s) => this.#list(r, c, s)),
      delete: this.#unary('Delete', (r: DeleteRequest, c) => this.#delete(r, c)),
      watch: (call) => void this.#watch(call),
      diff: this.#unary('Diff', (r: DiffRequest, c, s) => this.#diff(r, c, s)),
      history: this.#unary('History', (r: HistoryRequest, c, s) => this.#history(r, c, s)),
      reconcile: this.#unary('Reconcile', (r: ReconcileRequest, c) => this.#reconcile(r, c)),
      suspend: this.#unary('Suspend', (r: SuspendRequest, c) => this.#suspend(r, c)),
      resume: this.#unary('Resume', (r: ResumeRequest, c) => this.#resume(r, c)),
    };
  }

  /** Ends every Watch with UNAVAILABLE (the caller watches again from its last version, elsewhere). */
  drain(): void {
    this.#draining = true;
    for (const call of this.#watches) {
      call.emit('error', { code: Code.UNAVAILABLE, details: 'the server is shutting down: watch again from the last resource_version' });
    }
    this.#watches.clear();
  }

  // ---- unary RPCs ---------------------------------------------------------------------------

  async #apply(req: ApplyRequest, caller: Caller, signal: AbortSignal): Promise<ApplyResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    const labels = validLabels(req.labels);
    const spec = validSpec(req.spec);
    const fieldManager = req.fieldManager === '' ? defaultFieldManager(caller) : validFieldManager(req.fieldManager);
    await this.#authorize(caller, namespace, name, ['create', 'patch']);
    signal.throwIfAborted();
    const { object, created } = await this.#d.store.apply(
      { metadata: { namespace, name, ...(Object.keys(labels).length > 0 ? { labels } : {}) }, spec },
      { fieldManager, force: req.force, dryRun: req.dryRun },
    );
    return { helmRelease: helmReleaseMessage(object), created };
  }

  async #get(req: GetRequest, caller: Caller): Promise<GetResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    await this.#authorize(caller, namespace, name, ['get']);
    return { helmRelease: helmReleaseMessage(await this.#d.store.get(namespace, name)) };
  }

  async #list(req: ListRequest, caller: Caller, signal: AbortSignal): Promise<ListResponse> {
    const namespace = req.namespace === '' ? '' : requireNamespace(req.namespace);
    if (req.pageSize < 0 || req.pageSize > MAX_PAGE_SIZE) throw new ApiError(Code.INVALID_ARGUMENT, `page_size: must be between 0 and ${MAX_PAGE_SIZE}`);
    const pageSize = req.pageSize || DEFAULT_PAGE_SIZE;
    const visible = await this.#visibility(caller, namespace, 'list');
    // The page token: the API server's continue token of the page to read, how many of its items
    // were returned already, and the page size it was read with (the same token and size give the
    // same items again). Across namespaces the caller may not see every item, so pages are read
    // until this page is full, the list ends or MAX_LIST_READS pages were read.
    let at = pageToken(req.pageToken, visible.all ? pageSize : Math.max(pageSize, LIST_READ_SIZE));
    const items: HelmReleaseJson[] = [];
    let resourceVersion = '';
    for (let reads = 0; ; reads++) {
      const page = await this.#d.store.list(namespace, req.labelSelector, at.limit, at.continue, signal).catch((err: unknown) => {
        throw err instanceof ApiError && err.code === Code.INVALID_ARGUMENT ? new ApiError(err.code, `${listField(err.message, req.labelSelector)}: ${err.message}`) : err;
      });
      resourceVersion ||= page.resourceVersion;
      for (let i = at.skip; i < page.items.length; i++) {
        const item = page.items[i] as HelmReleaseJson;
        if (!(await visible.check(item.metadata.namespace))) continue;
        items.push(item);
        if (items.length === pageSize) {
          const next = i + 1 < page.items.length ? { ...at, skip: i + 1 } : page.continue ? { continue: page.continue, skip: 0, limit: at.limit } : undefined;
          return { helmReleases: items.map(helmReleaseMessage), nextPageToken: next ? encodePageToken(next) : '', resourceVersion };
        }
      }
      if (!page.continue) return { helmReleases: items.map(helmReleaseMessage), nextPageToken: '', resourceVersion };
      at = { continue: page.continue, skip: 0, limit: at.limit };
      if (reads + 1 >= MAX_LIST_READS) return { helmReleases: items.map(helmReleaseMessage), nextPageToken: encodePageToken(at), resourceVersion };
    }
  }

  async #delete(req: DeleteRequest, caller: Caller): Promise<DeleteResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    await this.#authorize(caller, namespace, name, ['delete']);
    const left = await this.#d.store.delete(namespace, name, { uid: req.uid, resourceVersion: req.resourceVersion }, req.dryRun);
    return left ? { helmRelease: helmReleaseMessage(left) } : {};
  }

  async #diff(req: DiffRequest, caller: Caller, signal: AbortSignal): Promise<DiffResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = req.name === '' && req.spec?.releaseName ? requireName(req.spec.releaseName, 'spec.releaseName') : requireName(req.name);
    // A diff of a spec the caller supplies renders with the release's ServiceAccount and values
    // sources, so it needs what applying that spec needs; a diff of the stored spec needs `get`.
    const supplied = req.spec === undefined ? undefined : validSpec(req.spec);
    await this.#authorize(caller, namespace, name, ['get']);
    const stored = await this.#d.store.find(namespace, name);
    if (supplied !== undefined) await this.#authorize(caller, namespace, name, stored ? ['patch'] : ['create', 'patch']);
    else if (!stored) throw new ApiError(Code.NOT_FOUND, `helmrelease ${namespace}/${name}: not found (give a spec to preview a new one)`);
    const spec = storedSpec(supplied ?? stored?.spec, namespace, name);
    return this.#d.preview.diff({ namespace, name, ...(stored ? { uid: stored.metadata.uid } : {}) }, spec, signal);
  }

  async #history(req: HistoryRequest, caller: Caller, signal: AbortSignal): Promise<HistoryResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    if (req.limit < 0) throw new ApiError(Code.INVALID_ARGUMENT, 'limit: must not be negative');
    await this.#authorize(caller, namespace, name, ['get']);
    const obj = await this.#d.store.get(namespace, name);
    const spec = storedSpec(obj.spec, namespace, name);
    return { revisions: await this.#d.preview.history({ namespace, name, uid: obj.metadata.uid }, spec, req.limit, signal) };
  }

  async #reconcile(req: ReconcileRequest, caller: Caller): Promise<ReconcileResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    await this.#authorize(caller, namespace, name, ['patch']);
    const requestedTime = new Date();
    await this.#d.store.mergePatch(namespace, name, { metadata: { annotations: requestAnnotations(requestedTime, req.resetFailures) } }, defaultFieldManager(caller));
    return { requestedTime };
  }

  async #suspend(req: SuspendRequest, caller: Caller): Promise<SuspendResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    await this.#authorize(caller, namespace, name, ['patch']);
    const obj = await this.#d.store.mergePatch(namespace, name, { spec: { suspend: true } }, defaultFieldManager(caller));
    return { helmRelease: helmReleaseMessage(obj) };
  }

  async #resume(req: ResumeRequest, caller: Caller): Promise<ResumeResponse> {
    const namespace = requireNamespace(req.namespace);
    const name = requireName(req.name);
    await this.#authorize(caller, namespace, name, ['patch']);
    const obj = await this.#d.store.mergePatch(
      namespace,
      name,
      { metadata: { annotations: requestAnnotations(new Date(), false) }, spec: { suspend: false } },
      defaultFieldManager(caller),
    );
    return { helmRelease: helmReleaseMessage(obj) };
  }

  // ---- Watch ----------------------------------------------------------------------------------

  async #watch(call: ServerWritableStream<WatchRequest, WatchResponse>): Promise<void> {
    const started = performance.now();
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    let code: Code = Code.OK;
    try {
      if (this.#draining) throw new ApiError(Code.UNAVAILABLE, 'the server is shutting down');
      if (this.#watches.size >= this.#d.options.maxWatches) {
        throw new ApiError(Code.RESOURCE_EXHAUSTED, `this server already serves ${this.#d.options.maxWatches} watches; try again later or elsewhere`);
      }
      const caller = await this.#d.authn.authenticate(call.metadata);
      const req = call.request;
      const namespace = req.namespace === '' ? '' : requireNamespace(req.namespace);
      if (req.name !== '') {
        if (namespace === '') throw new ApiError(Code.INVALID_ARGUMENT, 'namespace: required with name');
        requireName(req.name);
      }
      const visible = (await this.#visibility(caller, namespace, 'watch', req.name || undefined)).check;
      this.#watches.add(call);
      this.#d.watchesOpen?.(this.#watches.size);
      await this.#stream(call, req, visible, abort.signal);
    } catch (err) {
      const e = this.#apiError(err, 'Watch');
      code = e.code;
      if (!abort.signal.aborted && this.#watches.has(call)) call.emit('error', { code: e.code, details: e.message });
      else if (!abort.signal.aborted && code !== Code.OK) call.emit('error', { code: e.code, details: e.message });
    } finally {
      this.#watches.delete(call);
      this.#d.watchesOpen?.(this.#watches.size);
      this.#d.observe?.('Watch', abort.signal.aborted ? 'CANCELLED' : (codeName.get(code) ?? 'UNKNOWN'), (performance.now() - started) / 1000);
    }
  }

  async #stream(
    call: ServerWritableStream<WatchRequest, WatchResponse>,
    req: WatchRequest,
    visible: (namespace: string) => Promise<boolean>,
    signal: AbortSignal,
  ): Promise<void> {
    const namespace = req.namespace;
    const send = (type: WatchEventType, obj: HelmReleaseJson): void => {
      if (call.writableLength > this.#d.options.maxWatchBacklogBytes) {
        throw new ApiError(Code.RESOURCE_EXHAUSTED, 'the caller reads too slowly: watch again from the last resource_version');
      }
      call.write({ type, helmRelease: helmReleaseMessage(obj) });
    };
    let rv = req.resourceVersion;
    if (rv === '') {
      let cont: string | undefined;
      do {
        const page = await this.#d.store.list(namespace, req.labelSelector, 500, cont, signal);
        for (const item of page.items) {
          if (req.name && item.metadata.name !== req.name) continue;
          if (await visible(item.metadata.namespace)) send(WatchEventType.ADDED, item);
        }
        cont = page.continue;
        rv = page.resourceVersion;
      } while (cont);
    }
    // Events arrive synchronously; permission checks are not, so they queue in order.
    let chain = Promise.resolve();
    let failure: unknown;
    while (!signal.aborted && this.#watches.has(call)) {
      await this.#d.store.watch(
        { namespace, ...(req.name ? { name: req.name } : {}), labelSelector: req.labelSelector, resourceVersion: rv, timeoutSeconds: WATCH_TIMEOUT_SECONDS },
        (e: WatchEvent) => {
          if (e.type === 'ERROR') {
            const status = e.object as { code?: number; message?: string };
            throw status.code === 410
              ? new ApiError(Code.OUT_OF_RANGE, `resource_version ${rv} is too old: list again and watch from the list's version`)
              : new ApiError(Code.UNAVAILABLE, `watch: ${status.message ?? 'the Kubernetes API ended the watch'}`);
          }
          const obj = e.object as HelmReleaseJson;
          const at = obj.metadata?.resourceVersion;
          if (typeof at === 'string') rv = at;
          if (e.type === 'BOOKMARK') return;
          const type = e.type === 'ADDED' ? WatchEventType.ADDED : e.type === 'MODIFIED' ? WatchEventType.MODIFIED : e.type === 'DELETED' ? WatchEventType.DELETED : undefined;
          if (type === undefined) return;
          chain = chain.then(async () => {
            if (failure === undefined && (await visible(obj.metadata.namespace))) send(type, obj);
          }).catch((err: unknown) => {
            failure ??= err;
          });
        },
        signal,
      );
      await chain;
      if (failure !== undefined) throw failure;
    }
  }

  // ---- shared -------------------------------------------------------------------------------

  #unary<Req, Res>(method: string, fn: (req: Req, caller: Caller, signal: AbortSignal) => Promise<Res>): handleUnaryCall<Req, Res> {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const started = performance.now();
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new ApiError(Code.DEADLINE_EXCEEDED, `${method}: took longer than the server allows`)), this.#d.options.callTimeoutMs);
      call.on('cancelled', () => abort.abort(new ApiError(Code.CANCELLED, `${method}: cancelled by the caller`)));
      const run = async (): Promise<Res> => fn(call.request, await this.#d.authn.authenticate(call.metadata as Metadata), abort.signal);
      run().then(
        (res) => {
          clearTimeout(timer);
          this.#d.observe?.(method, 'OK', (performance.now() - started) / 1000);
          callback(null, res);
        },
        (err: unknown) => {
          clearTimeout(timer);
          const e = this.#apiError(abort.signal.aborted && abort.signal.reason instanceof ApiError ? abort.signal.reason : err, method);
          this.#d.observe?.(method, codeName.get(e.code) ?? 'UNKNOWN', (performance.now() - started) / 1000);
          callback({ code: e.code, details: e.message });
        },
      );
    };
  }

  #apiError(err: unknown, method: string): ApiError {
    if (err instanceof ApiError) return err;
    const e = fromKube(err, method);
    if (e.code === Code.INTERNAL) this.#d.log.error('API call failed', { method, error: err });
    return e;
  }

  async #authorize(caller: Caller, namespace: string, name: string, verbs: readonly Verb[]): Promise<void> {
    // `create` cannot be limited to a name in RBAC, so it is asked without one.
    await Promise.all(verbs.map((v) => this.#d.authz.require(caller, [v], namespace, v === 'create' ? undefined : name)));
  }

  /**
   * Which namespaces' HelmReleases a List or Watch may return: every one when the caller may
   * `verb` at the scope asked; across namespaces without cluster-wide permission, those where a
   * SubjectAccessReview allows it (remembered for the call); in one namespace, refused outright.
   */
  async #visibility(caller: Caller, namespace: string, verb: Verb, name?: string): Promise<Visibility> {
    if (namespace !== '') {
      await this.#d.authz.require(caller, [verb], namespace, name);
      return { all: true, check: async () => true };
    }
    if (await this.#d.authz.allowed(caller, verb, '')) return { all: true, check: async () => true };
    const known = new Map<string, Promise<boolean>>();
    return {
      all: false,
      check: (ns: string) => {
        let answer = known.get(ns);
        if (answer === undefined) {
          answer = this.#d.authz.allowed(caller, verb, ns);
          if (known.size < MAX_REMEMBERED_NAMESPACES) known.set(ns, answer);
        }
        return answer;
      },
    };
  }
}

/** Which namespaces' HelmReleases a call may return: all of them, or those `check` allows. */
interface Visibility {
  readonly all: boolean;
  check(namespace: string): Promise<boolean>;
}

interface PageAt {
  readonly continue?: string;
  readonly skip: number;
  readonly limit: number;
}

function encodePageToken(at: PageAt): string {
  return Buffer.from(JSON.stringify({ c: at.continue ?? '', s: at.skip, l: at.limit })).toString('base64url');
}

function pageToken(token: string, limit: number): PageAt {
  if (token === '') return { skip: 0, limit };
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  const t = v as { c?: unknown; s?: unknown; l?: unknown } | undefined;
  if (
    typeof t?.c !== 'string' || !Number.isInteger(t.s) || !Number.isInteger(t.l) ||
    (t.s as number) < 0 || (t.l as number) < 1 || (t.l as number) > LIST_READ_SIZE || (t.s as number) >= (t.l as number)
  ) {
    throw new ApiError(Code.INVALID_ARGUMENT, 'page_token: not a token from a previous ListResponse');
  }
  return { ...(t.c ? { continue: t.c } : {}), skip: t.s as number, limit: t.l as number };
}

/** Which request field a LIST the API server refused was about. */
function listField(message: string, labelSelector: string): string {
  return labelSelector !== '' && /selector|requirement/i.test(message) ? 'label_selector' : 'page_token';
}

/** A stored (or supplied, already validated) spec with the CRD's defaults applied. */
function storedSpec(json: unknown, namespace: string, name: string): HelmReleaseSpec {
  const parsed = HelmReleaseSpecSchema.safeParse(json);
  if (!parsed.success) throw new ApiError(Code.FAILED_PRECONDITION, `helmrelease ${namespace}/${name}: its stored spec is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

function requestAnnotations(at: Date, reset: boolean): Record<string, string | null> {
  const value = at.toISOString();
  return { [RECONCILE_REQUEST_ANNOTATION]: value, [RECONCILE_KEEP_FAILURES_ANNOTATION]: reset ? null : value };
}

/** `planton-helm-api:<username>`, within the API server's 128 characters. */
export function defaultFieldManager(caller: Caller): string {
  return `planton-helm-api:${caller.username}`.slice(0, MAX_FIELD_MANAGER);
}

function validFieldManager(v: string): string {
  if (v.length > MAX_FIELD_MANAGER || !/^[\x21-\x7e][\x20-\x7e]*$/.test(v)) {
    throw new ApiError(Code.INVALID_ARGUMENT, `field_manager: at most ${MAX_FIELD_MANAGER} printable ASCII characters`);
  }
  return v;
}

