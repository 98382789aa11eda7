// What each planton-helm command does, and `run`, which parses the command line, runs one
// command and returns the exit code. Everything the process touches (argv, environment,
// stdout/stderr, the terminal, signals, the API) comes in through `Io` and `Dependencies`, so
// the whole CLI runs in a unit test.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { type Command, type GlobalOptions, helpText, parseCommandLine } from './args.js';
import { GrpcHelmReleaseApi, type HelmRelease, type HelmReleaseApi, WatchEventType } from './client.js';
import { type Connection, defaultNamespace, ENV, type Environment, type KubeContext, readKubeContext, resolveConnection } from './connection.js';
import { hasChanges, type ReleaseDiff, renderDiffDocument, renderDiffText } from './diff-render.js';
import { ApiError, errorLine, ExitCode, UsageError } from './errors.js';
import { type NamespaceChoice, type ReleaseManifest, readManifests } from './manifest.js';
import { formatHelmReleases, formatHistory, formatWatchEvent, helmReleaseObject, type OutputFormat, rfc3339, serialize, watchHeader } from './output.js';
import { DEFAULT_RETRY, type RetryPolicy, watchHelmReleases } from './watch.js';

/** The process as the CLI sees it. */
export interface Io {
  readonly env: Environment;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stdout is a terminal (colour allowed unless NO_COLOR is set). */
  readonly stdoutIsTty: boolean;
  /** Aborted when the user interrupts (Ctrl-C): `watch` and waits end, exit 0 for `watch`. */
  readonly signal: AbortSignal;
  readonly now: () => Date;
}

export interface Dependencies {
  readonly connect: (conn: Connection, deadlineMs: number) => HelmReleaseApi;
  readonly retry: RetryPolicy;
}

export const DEFAULT_DEPENDENCIES: Dependencies = {
  connect: (conn, deadlineMs) => new GrpcHelmReleaseApi(conn, deadlineMs),
  retry: DEFAULT_RETRY,
};

const RESOURCE = 'helmrelease.helm.project-planton.org';
const LIST_PAGE_SIZE = 500;
const MAX_LIST_PAGES = 10_000;

/** Per-run state: the options, the lazily read kubeconfig and the lazily opened connection. */
class Session {
  #kube: KubeContext | undefined;
  #api: HelmReleaseApi | undefined;

  constructor(
    readonly global: GlobalOptions,
    readonly io: Io,
    readonly deps: Dependencies,
  ) {}

  get output(): OutputFormat {
    return this.global.output ?? 'table';
  }

  kube(): KubeContext {
    this.#kube ??= readKubeContext({ kubeconfig: this.global.kubeconfig, context: this.global.context }, this.io.env);
    return this.#kube;
  }

  namespace(): NamespaceChoice {
    if (this.global.namespace !== undefined) return { value: this.global.namespace, explicit: true };
    return { value: defaultNamespace(this.kube()), explicit: false };
  }

  api(): HelmReleaseApi {
    this.#api ??= this.deps.connect(resolveConnection(this.global, this.io.env, () => this.kube()), this.global.requestTimeoutMs);
    return this.#api;
  }

  print(text: string): void {
    this.io.stdout(text);
  }

  warn(text: string): void {
    this.io.stderr(`Warning: ${text}\n`);
  }

  close(): void {
    this.#api?.close();
  }
}

/** Runs one command line; returns the exit code. Never throws. */
export async function run(argv: readonly string[], io: Io, deps: Dependencies = DEFAULT_DEPENDENCIES): Promise<number> {
  let commandName: string | undefined;
  let session: Session | undefined;
  try {
    const inv = parseCommandLine(argv);
    commandName = inv.command.name === 'help' ? undefined : inv.command.name;
    if (inv.command.name === 'help') {
      io.stdout(helpText(inv.command.topic));
      return ExitCode.OK;
    }
    session = new Session(inv.global, io, deps);
    return await execute(inv.command, session);
  } catch (err) {
    if (err instanceof UsageError) {
      const hint = err.command ? ` (see planton-helm ${err.command} --help)` : ' (see planton-helm --help)';
      io.stderr(`${errorLine(err)}${hint}\n`);
      return ExitCode.USAGE;
    }
    io.stderr(`${errorLine(err)}\n`);
    return commandName === 'diff' ? ExitCode.USAGE : ExitCode.FAILURE;
  } finally {
    session?.close();
  }
}

function execute(command: Exclude<Command, { name: 'help' }>, s: Session): Promise<number> {
  switch (command.name) {
    case 'apply':
      return apply(command, s);
    case 'get':
      return command.names.length === 0 ? list({ ...command, name: 'list' }, s) : get(command.names, s);
    case 'list':
      return list(command, s);
    case 'delete':
      return remove(command, s);
    case 'history':
      return history(command, s);
    case 'reconcile':
      return reconcile(command, s);
    case 'suspend':
    case 'resume':
      return suspendOrResume(command, s);
    case 'watch':
      return watch(command, s);
    case 'diff':
      return diff(command, s);
  }
}

function readAll(files: readonly string[], s: Session): ReleaseManifest[] {
  const ns = s.namespace();
  const manifests = files.flatMap((f) => readManifests(f, ns));
  for (const m of manifests) for (const w of m.warnings) s.warn(w);
  return manifests;
}

/** One error line for an object that failed; the command goes on with the others, as kubectl does. */
function reportFailure(s: Session, what: string, err: unknown): void {
  s.io.stderr(`${errorLine(err instanceof ApiError ? new Error(`${what}: ${err.message}`) : err)}\n`);
}

async function apply(c: Extract<Command, { name: 'apply' }>, s: Session): Promise<number> {
  const manifests = readAll(c.files, s);
  const applied: HelmRelease[] = [];
  let failed = false;
  for (const m of manifests) {
    try {
      const res = await s.api().apply({ namespace: m.namespace, name: m.name, labels: m.labels, spec: m.spec, force: c.force, dryRun: c.dryRun, fieldManager: c.fieldManager ?? '' });
      if (res.helmRelease) applied.push(res.helmRelease);
      if (s.output === 'table') {
        const from = m.writtenAs === 'HelmRelease' ? '' : ` (from ${m.writtenAs})`;
        s.print(`${RESOURCE}/${m.name} ${res.created ? 'created' : 'configured'}${c.dryRun ? ' (server dry run)' : ''} in namespace ${m.namespace}${from}\n`);
      }
    } catch (err) {
      failed = true;
      reportFailure(s, `${m.source}: ${m.namespace}/${m.name}`, err);
    }
  }
  if (s.output !== 'table' && applied.length > 0) s.print(formatHelmReleases(applied, s.output, { allNamespaces: true, now: s.io.now(), single: manifests.length === 1 }));
  return failed ? ExitCode.FAILURE : ExitCode.OK;
}

async function get(names: readonly string[], s: Session): Promise<number> {
  const ns = s.namespace().value;
  const found: HelmRelease[] = [];
  let failed = false;
  for (const name of names) {
    try {
      const res = await s.api().get({ namespace: ns, name });
      if (res.helmRelease) found.push(res.helmRelease);
    } catch (err) {
      failed = true;
      reportFailure(s, `${ns}/${name}`, err);
    }
  }
  if (found.length > 0) s.print(formatHelmReleases(found, s.output, { allNamespaces: false, now: s.io.now(), single: names.length === 1 }));
  return failed ? ExitCode.FAILURE : ExitCode.OK;
}

async function listAll(s: Session, namespace: string, selector: string | undefined): Promise<HelmRelease[]> {
  const items: HelmRelease[] = [];
  let pageToken = '';
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const res = await s.api().list({ namespace, labelSelector: selector ?? '', pageSize: LIST_PAGE_SIZE, pageToken });
    items.push(...res.helmReleases);
    pageToken = res.nextPageToken;
    if (!pageToken) break;
  }
  return items;
}

async function list(c: Extract<Command, { name: 'list' }>, s: Session): Promise<number> {
  const namespace = c.allNamespaces ? '' : s.namespace().value;
  const items = await listAll(s, namespace, c.selector);
  if (items.length === 0 && s.output === 'table') {
    s.io.stderr(c.allNamespaces ? 'No HelmReleases found.\n' : `No HelmReleases found in ${namespace} namespace.\n`);
    return ExitCode.OK;
  }
  s.print(formatHelmReleases(items, s.output, { allNamespaces: c.allNamespaces, now: s.io.now() }));
  return ExitCode.OK;
}

/**
 * Resolves with the first HelmRelease state `done` accepts, watching `name` from `from` (''
 * starts with its current state); rejects with ApiError on a watch failure or the timeout.
 */
async function waitFor(s: Session, namespace: string, name: string, from: string, timeoutMs: number, what: string, done: (type: WatchEventType, hr: HelmRelease) => boolean): Promise<HelmRelease> {
  const stop = new AbortController();
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([stop.signal, timeout, s.io.signal]);
  let result: HelmRelease | undefined;
  await watchHelmReleases(
    s.api(),
    { namespace, name },
    (type, hr) => {
      if (result === undefined && done(type, hr)) {
        result = hr;
        stop.abort();
      }
    },
    signal,
    s.deps.retry,
    from,
  );
  if (result) return result;
  if (s.io.signal.aborted) throw new ApiError(GrpcStatus.CANCELLED, `interrupted while waiting for ${what}`);
  throw new ApiError(GrpcStatus.DEADLINE_EXCEEDED, `timed out after ${timeoutMs / 1000}s waiting for ${what}`);
}

async function remove(c: Extract<Command, { name: 'delete' }>, s: Session): Promise<number> {
  const ns = s.namespace().value;
  let failed = false;
  for (const name of c.names) {
    try {
      await s.api().delete({ namespace: ns, name, dryRun: c.dryRun });
      s.print(`${RESOURCE} "${name}" deleted${c.dryRun ? ' (server dry run)' : ''} from namespace ${ns}\n`);
      if (c.wait && !c.dryRun) await waitGone(s, ns, name, c.timeoutMs);
    } catch (err) {
      failed = true;
      reportFailure(s, `${ns}/${name}`, err);
    }
  }
  return failed ? ExitCode.FAILURE : ExitCode.OK;
}

async function waitGone(s: Session, namespace: string, name: string, timeoutMs: number): Promise<void> {
  let from: string;
  try {
    from = (await s.api().get({ namespace, name })).helmRelease?.resourceVersion ?? '';
  } catch (err) {
    if (err instanceof ApiError && err.code === GrpcStatus.NOT_FOUND) return;
    throw err;
  }
  await waitFor(s, namespace, name, from, timeoutMs, `${namespace}/${name} to be deleted`, (type) => type === WatchEventType.DELETED);
}

async function history(c: Extract<Command, { name: 'history' }>, s: Session): Promise<number> {
  const ns = s.namespace().value;
  const res = await s.api().history({ namespace: ns, name: c.release, limit: c.max });
  if (res.revisions.length === 0 && s.output === 'table') {
    s.io.stderr(`No revisions: the release of HelmRelease ${ns}/${c.release} is not installed.\n`);
    return ExitCode.OK;
  }
  s.print(formatHistory(res.revisions, s.output));
  return ExitCode.OK;
}

function readyCondition(hr: HelmRelease) {
  return hr.status?.conditions.find((c) => c.type === 'Ready');
}

async function reconcile(c: Extract<Command, { name: 'reconcile' }>, s: Session): Promise<number> {
  const ns = s.namespace().value;
  const res = await s.api().reconcile({ namespace: ns, name: c.release, resetFailures: c.reset });
  const requested = res.requestedTime;
  const table = s.output === 'table';
  if (table) s.print(`HelmRelease ${ns}/${c.release}: reconcile requested${c.reset ? ' (failure counters reset)' : ''}${requested ? ` at ${rfc3339(requested)}` : ''}\n`);
  if (!c.wait || !requested) {
    if (!table) s.print(serialize({ requestedTime: requested ? rfc3339(requested) : undefined }, s.output));
    return ExitCode.OK;
  }
  const hr = await waitFor(s, ns, c.release, '', c.timeoutMs, `the reconcile of ${ns}/${c.release}`, (_type, h) => {
    const handled = h.status?.lastHandledReconcileTime;
    return handled !== undefined && handled.getTime() >= requested.getTime() && h.status?.observedGeneration === h.generation;
  });
  const ready = readyCondition(hr);
  if (table) {
    const revision = hr.status?.release ? ` (revision ${hr.status.release.revision}, chart version ${hr.status.release.chartVersion})` : '';
    const line = `HelmRelease ${ns}/${c.release}: ${ready?.status === 'True' ? 'Ready' : 'not Ready'} (${ready?.reason ?? 'no Ready condition'}): ${ready?.message ?? ''}${revision}\n`;
    if (ready?.status === 'True') s.print(line);
    else s.io.stderr(`error: ${line}`);
  } else {
    s.print(serialize(helmReleaseObject(hr), s.output));
  }
  return ready?.status === 'True' ? ExitCode.OK : ExitCode.FAILURE;
}

async function suspendOrResume(c: Extract<Command, { name: 'suspend' | 'resume' }>, s: Session): Promise<number> {
  const ns = s.namespace().value;
  const req = { namespace: ns, name: c.release };
  const res = c.name === 'suspend' ? await s.api().suspend(req) : await s.api().resume(req);
  if (s.output === 'table') s.print(`HelmRelease ${ns}/${c.release} ${c.name === 'suspend' ? 'suspended' : 'resumed'}\n`);
  else if (res.helmRelease) s.print(serialize(helmReleaseObject(res.helmRelease), s.output));
  return ExitCode.OK;
}

async function watch(c: Extract<Command, { name: 'watch' }>, s: Session): Promise<number> {
  const namespace = c.allNamespaces ? '' : s.namespace().value;
  const signals = [s.io.signal, ...(c.timeoutMs === undefined ? [] : [AbortSignal.timeout(c.timeoutMs)])];
  const format = s.output;
  if (format === 'table') s.print(watchHeader());
  await watchHelmReleases(
    s.api(),
    { namespace, name: c.release, labelSelector: c.selector },
    (type, hr) => s.print(formatWatchEvent(type, hr, format, s.io.now())),
    AbortSignal.any(signals),
    s.deps.retry,
  );
  return ExitCode.OK;
}

async function diff(c: Extract<Command, { name: 'diff' }>, s: Session): Promise<number> {
  const diffs: ReleaseDiff[] = [];
  if (c.release !== undefined) {
    const ns = s.namespace().value;
    diffs.push({ namespace: ns, name: c.release, response: await s.api().diff({ namespace: ns, name: c.release }) });
  } else {
    for (const m of readAll(c.files, s)) {
      try {
        diffs.push({ namespace: m.namespace, name: m.name, response: await s.api().diff({ namespace: m.namespace, name: m.name, spec: m.spec }) });
      } catch (err) {
        throw err instanceof ApiError ? new Error(`${m.source}: ${m.namespace}/${m.name}: ${err.message}`) : err;
      }
    }
  }
  if (s.output === 'table') {
    const colour = s.io.stdoutIsTty && !s.io.env[ENV.noColor];
    s.print(renderDiffText(diffs, colour));
  } else {
    s.print(renderDiffDocument(diffs, s.output));
  }
  return hasChanges(diffs) ? ExitCode.CHANGES : ExitCode.OK;
}
