// The reconcile of one HelmRelease key: observe (the object, its values, the Helm release),
// decide (pure, decide.ts), act (at most one runner call), then write the status once, only when
// it changed. Returns when to look again; the work queue does the rest.
import { randomBytes } from 'node:crypto';
import {
  type HelmReleaseObject,
  type HelmReleaseSpec,
  type HelmReleaseStatus,
  type PreviousRelease,
  durationMs,
  parseSpec,
} from '../api/helm-release.js';
import type { Clock } from '../clock.js';
import type { ReconcileOutcome } from '../controller/work-queue.js';
import type { EventType, HelmReleaseApi } from '../kube/helm-release-api.js';
import type { ObjectReader } from '../kube/object-reader.js';
import type { Logger } from '../log.js';
import type { ChartRefInput, ReleaseRefInput, ReleaseRevision, ReleaseState, RunnerClient } from '../runner/client.js';
import { correctDrift } from './actions/correct-drift.js';
import { detectDrift } from './actions/detect-drift.js';
import { install } from './actions/install.js';
import { type ActionContext, type ActionResult, callOpts } from './actions/action.js';
import { rollback } from './actions/rollback.js';
import { test } from './actions/test.js';
import { uninstall } from './actions/uninstall.js';
import { uninstallPrevious } from './actions/uninstall-previous.js';
import { unlock } from './actions/unlock.js';
import { upgrade } from './actions/upgrade.js';
import { ConditionType, findCondition, Reason } from './conditions.js';
import { type ActionPlan, attemptsFor, decide, decideDeletion, type Plan, preflight, shouldCheckDrift } from './decide.js';
import type { DependencyReadiness } from './dependencies.js';
import { chartRefOf } from './chart-ref.js';
import { classifyError, type ErrorVerdict, RUNNER_RECHECK_MS } from './errors.js';
import { Redactor } from './redaction.js';
import { describeOwner, determineReleaseState, type Desired, type Owner } from './state.js';
import { releaseNameOf, releaseNamespaceOf, releaseRefOf } from './release-ref.js';
import type { TenancyPolicy } from './tenancy.js';
import { nextStatus, previousReleasesOf, summarize, type Verdict } from './status.js';
import { canonicalJson, configDigest, resolveValues, type Values } from './values.js';

/** The finalizer that makes deletion of a HelmRelease wait for the uninstall. */
export const FINALIZER = 'helm.project-planton.org/finalizer';
/** Annotation whose new value requests a reconcile now and resets the failure counters. */
export const RECONCILE_REQUEST_ANNOTATION = 'helm.project-planton.org/reconcile-requested-at';
/**
 * Set to the same value as RECONCILE_REQUEST_ANNOTATION, the request keeps the failure counters
 * (reconcile now, no reset); without it a request also resets them (a Stalled release tries again).
 */
export const RECONCILE_KEEP_FAILURES_ANNOTATION = 'helm.project-planton.org/reconcile-keep-failures';

/** What the reconciler reports for metrics; see src/metrics. */
export interface ReconcileObserver {
  status(namespace: string, name: string, verdict: Verdict['kind'] | 'suspended'): void;
  action(action: string, outcome: 'success' | 'failure' | 'error', seconds: number): void;
  driftDetected(namespace: string, name: string): void;
  driftCorrected(namespace: string, name: string): void;
  forget(namespace: string, name: string): void;
}

export interface ReconcilerConfig {
  readonly allowInsecureHttp: boolean;
  /** Which identity releases run as and which cross-namespace references are allowed. */
  readonly tenancy: TenancyPolicy;
}

export interface ReconcilerDeps {
  readonly runner: RunnerClient;
  readonly api: HelmReleaseApi;
  readonly reader: ObjectReader;
  /** The informer's cache of HelmReleases. */
  readonly cache: { get(namespace: string, name: string): HelmReleaseObject | undefined };
  /** Readiness of spec.dependsOn, inside the watched scope and outside it. */
  readonly dependencies: DependencyReadiness;
  readonly config: ReconcilerConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer: ReconcileObserver;
  /** [0, 1); injectable so the interval jitter is testable. */
  readonly random?: () => number;
}

/** What every runner call of one reconcile carries: its cancellation and its ID. */
type ReconcileCall = Pick<ActionContext, 'signal' | 'reconcileId'>;

/** A new reconcile ID: 16 hex characters, in every log line of the reconcile and sent to the runner. */
function newReconcileId(): string {
  return randomBytes(8).toString('hex');
}

interface Observation {
  readonly state: ReleaseState;
  readonly history: readonly ReleaseRevision[];
}

/** Outcome of the reconcile, before it is written. */
interface Finish {
  readonly spec: HelmReleaseSpec;
  readonly plan?: Plan;
  readonly desired?: Desired;
  readonly observed?: Observation;
  readonly result?: ActionResult;
  readonly error?: ErrorVerdict;
  readonly drifted?: number;
  readonly followUp?: boolean;
  readonly newAttempt?: boolean;
  readonly handledRequest?: string;
  /** The handled request asked to keep the failure counters (RECONCILE_KEEP_FAILURES_ANNOTATION). */
  readonly keepFailures?: boolean;
  /** status.previousReleases as this reconcile found it (before the action's result). */
  readonly previousReleases?: readonly PreviousRelease[];
  /** The secret strings of this reconcile: scrubbed out of every message written. */
  readonly redactor?: Redactor;
  /** The install or upgrade adopts a release that recorded no owner. */
  readonly adopting?: boolean;
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /** Status last written per object uid: the informer's copy may lag behind our own write. */
  readonly #written = new Map<string, HelmReleaseStatus>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  /** Reconciles `namespace/name`; the queue calls it with one key at a time. */
  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileOutcome> {
    const [namespace = '', name = ''] = key.split('/');
    const obj = this.#d.cache.get(namespace, name);
    if (!obj) {
      this.#d.observer.forget(namespace, name);
      return {};
    }
    const call: ReconcileCall = { signal, reconcileId: newReconcileId() };
    const log = this.#d.log.child({ helmrelease: key, reconcileID: call.reconcileId });
    if (obj.metadata.deletionTimestamp) return this.#finalize(obj, call, log);
    const prev = this.#prevStatus(obj);

    const parsed = parseSpec(obj.spec);
    if (!parsed.ok) {
      const status = nextStatus({
        ...this.#statusBase(obj, prev, undefined),
        spec: undefined,
        desired: undefined,
        observed: undefined,
        result: undefined,
        drifted: undefined,
        newAttempt: false,
        verdict: { kind: 'stalled', reason: Reason.InvalidSpec, message: parsed.message },
      });
      await this.#write(obj, prev, status, log);
      this.#d.observer.status(namespace, name, 'stalled');
      return {};
    }
    const spec = parsed.spec;
    if (spec.suspend) {
      this.#d.observer.status(namespace, name, 'suspended');
      return {};
    }
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.#d.api.setFinalizers(obj, [...(obj.metadata.finalizers ?? []), FINALIZER]);
    }
    const finish = await this.#run(obj, prev, spec, call, log);
    return this.#conclude(obj, prev, finish, log);
  }

  async #run(
    obj: HelmReleaseObject,
    prev: HelmReleaseStatus | undefined,
    spec: HelmReleaseSpec,
    call: ReconcileCall,
    log: Logger,
  ): Promise<Finish> {
    const pre = preflight({
      spec,
      namespace: obj.metadata.namespace,
      tenancy: this.#d.config.tenancy,
      allowInsecureHttp: this.#d.config.allowInsecureHttp,
      dependenciesNotReady: await this.#dependenciesNotReady(obj, spec),
    });
    const redactor = new Redactor();
    const previousReleases = previousReleasesOf(prev, this.#releaseName(obj, spec), this.#releaseNamespace(obj, spec));
    if (pre) return { spec, plan: pre, previousReleases };
    const started = { spec, previousReleases, redactor };

    let values: Values;
    let desired: Desired;
    let chart: ChartRefInput;
    try {
      const resolved = await resolveValues(spec.valuesFrom, spec.values, this.#d.reader.valuesSource(obj.metadata.namespace), redactor);
      values = resolved.values;
      desired = { chartVersion: spec.version, valuesDigest: resolved.digest, configDigest: configDigest({ repo: spec.repo }) };
      chart = await chartRefOf(spec, obj.metadata.namespace, { reader: this.#d.reader, allowInsecureHttp: this.#d.config.allowInsecureHttp }, redactor);
    } catch (err) {
      return { ...started, error: classifyError(err) };
    }
    const release = this.#releaseRef(obj, spec, redactor);
    log = log.redacting((t) => redactor.scrub(t));
    let observed: Observation;
    try {
      observed = await this.#observe(release, spec, call);
    } catch (err) {
      return { ...started, desired, error: classifyError(err) };
    }
    const state = determineReleaseState(spec, desired, observed.state, ownerOf(obj));

    let drifted: number | undefined;
    if (shouldCheckDrift(spec, state)) {
      try {
        drifted = (await detectDrift(this.#d.runner, spec, release, call)).objects.length;
      } catch (err) {
        return { ...started, desired, observed, error: classifyError(err) };
      }
    }

    const request = obj.metadata.annotations?.[RECONCILE_REQUEST_ANNOTATION];
    const requested = request !== undefined && request !== prev?.lastHandledReconcileTime;
    const resetRequested = requested && obj.metadata.annotations?.[RECONCILE_KEEP_FAILURES_ANNOTATION] !== request;
    const attempts = resetRequested
      ? { install: 0, upgrade: 0, sameAttempt: false }
      : attemptsFor(prev, obj.metadata.generation, desired);
    const plan = decide({
      spec,
      state,
      history: observed.history,
      attempts,
      previousReleases,
      ...(drifted !== undefined ? { driftedObjects: drifted } : {}),
    });
    const base = {
      ...started,
      plan,
      desired,
      observed,
      newAttempt: !attempts.sameAttempt && (plan.kind === 'install' || plan.kind === 'upgrade' || plan.kind === 'uninstall-remediation'),
      ...(drifted !== undefined ? { drifted } : {}),
      ...(requested ? { handledRequest: request, keepFailures: !resetRequested } : {}),
      ...(state.kind === 'OutOfSync' && state.adopt && plan.kind === 'upgrade' ? { adopting: true } : {}),
    };
    if (!isAction(plan)) return base;

    const ctx: ActionContext = { runner: this.#d.runner, spec, release, chart, values, configDigest: desired.configDigest, ...call };
    let result: ActionResult;
    try {
      result = await this.#act(plan, ctx, observed, log);
    } catch (err) {
      return { ...base, error: classifyError(err) };
    }
    if (base.adopting === true && result.succeeded) {
      result = { ...result, message: `adopted release ${release.namespace}/${release.name}, which recorded no owner: ${result.message}` };
    }
    // Read the release again so the status shows what the action left (history included).
    const after = await this.#observe(release, spec, call).catch(() => observed);
    const followUp =
      result.succeeded &&
      (result.action === 'install' || result.action === 'upgrade') &&
      spec.test.enable &&
      after.state.tests?.hasTests === true;
    return { ...base, observed: after, result, followUp };
  }

  async #act(plan: ActionPlan, ctx: ActionContext, observed: Observation, log: Logger): Promise<ActionResult> {
    const started = this.#d.clock.now();
    log.info('action started', { action: plan.kind, reason: plan.reason });
    let result: ActionResult | undefined;
    try {
      result = await this.#execute(plan, ctx, observed);
      return result;
    } finally {
      const seconds = (this.#d.clock.now() - started) / 1000;
      const outcome = result === undefined ? 'error' : result.succeeded ? 'success' : 'failure';
      this.#d.observer.action(result?.action ?? plan.kind, outcome, seconds);
      log.info('action finished', { action: plan.kind, outcome, seconds, revision: result?.state?.revision, reason: result?.reason });
    }
  }

  #execute(plan: ActionPlan, ctx: ActionContext, observed: Observation): Promise<ActionResult> {
    switch (plan.kind) {
      case 'install':
        return install(ctx);
      case 'upgrade':
        return upgrade(ctx);
      case 'test':
        return test(ctx, observed.state.revision);
      case 'unlock':
        return unlock(ctx, plan.revision);
      case 'rollback':
        return rollback(ctx, plan.toRevision).then((r) => ({ ...r, counter: plan.counter }));
      case 'uninstall-remediation':
        return uninstall(ctx).then((r) => (plan.counter ? { ...r, counter: plan.counter } : r));
      case 'uninstall':
        return uninstall(ctx);
      case 'correct-drift':
        return correctDrift(ctx);
      case 'uninstall-previous':
        return uninstallPrevious(ctx, plan.previous);
    }
  }

  async #observe(release: ReleaseRefInput, spec: HelmReleaseSpec, call: ReconcileCall): Promise<Observation> {
    const limit = spec.maxHistory > 0 ? spec.maxHistory : 5;
    const got = await this.#d.runner.getReleaseState({ release, historyLimit: Math.max(limit, 10) }, callOpts(call, 30_000));
    if (!got.state) throw new Error('helm-runner returned no release state');
    return { state: got.state, history: got.history };
  }

  /** Writes the status, events and metrics of a finished reconcile; says when to run again. */
  async #conclude(obj: HelmReleaseObject, prev: HelmReleaseStatus | undefined, f: Finish, parentLog: Logger): Promise<ReconcileOutcome> {
    const scrub = (t: string) => f.redactor?.scrub(t) ?? t;
    const log = f.redactor ? parentLog.redacting(scrub) : parentLog;
    const verdict = summarize(prev?.conditions ?? [], f.plan, f.result, f.error, f.followUp ?? false);
    const built = nextStatus({
      ...this.#statusBase(obj, prev, f.spec),
      spec: f.spec,
      desired: f.desired,
      observed: f.observed,
      result: f.result,
      drifted: f.drifted,
      verdict,
      newAttempt: f.newAttempt ?? false,
      ...(f.handledRequest ? { handledReconcileRequest: f.handledRequest, keepFailures: f.keepFailures === true } : {}),
      ...(f.previousReleases ? { previousReleases: f.previousReleases } : {}),
    });
    // Messages are scrubbed where they leave: here every condition message, whatever produced it;
    // events in #events, log lines by the redacting logger.
    const status = { ...built, conditions: built.conditions?.map((c) => ({ ...c, message: scrub(c.message) })) };
    await this.#write(obj, prev, status, log);
    await this.#events(obj, prev, status, f, verdict, log);
    const { namespace, name } = obj.metadata;
    this.#d.observer.status(namespace, name, verdict.kind);
    if ((f.drifted ?? 0) > 0) this.#d.observer.driftDetected(namespace, name);
    if (f.result?.action === 'correct-drift' && f.result.succeeded) this.#d.observer.driftCorrected(namespace, name);
    if (f.error) {
      log.warn('reconcile failed', { reason: f.error.reason, message: f.error.message, stalled: f.error.stalled });
    }
    return this.#requeue(f, verdict);
  }

  #requeue(f: Finish, verdict: Verdict): ReconcileOutcome {
    const interval = this.#jitter(durationMs(f.spec.interval));
    if (f.error) {
      if (f.error.retry === 'recheck') return { requeueAfterMs: RUNNER_RECHECK_MS };
      if (f.error.retry === 'interval') return { requeueAfterMs: interval };
      return { backoff: true };
    }
    if (f.result?.action === 'uninstall-previous') {
      // More earlier releases may be left: look again at once.
      return f.result.succeeded ? { requeueAfterMs: 0 } : { backoff: true };
    }
    if (f.result) {
      if (!f.result.succeeded) return { backoff: true };
      // Another action follows (test after install, install after an uninstall remediation, the
      // uninstall of a release under an earlier name once this one is Ready): run again at once.
      const more = verdict.kind !== 'ready' || (f.previousReleases?.length ?? 0) > 0;
      return more ? { requeueAfterMs: 0 } : { requeueAfterMs: interval };
    }
    if (f.plan?.kind === 'wait') return { requeueAfterMs: f.plan.requeueAfterMs };
    return { requeueAfterMs: interval };
  }

  /** Interval with up to ±10 % jitter, so many releases do not all check at once. */
  #jitter(ms: number): number {
    const r = (this.#d.random ?? Math.random)();
    return Math.round(ms * (0.9 + 0.2 * r));
  }

  async #events(
    obj: HelmReleaseObject,
    prev: HelmReleaseStatus | undefined,
    next: HelmReleaseStatus,
    f: Finish,
    verdict: Verdict,
    log: Logger,
  ): Promise<void> {
    const scrub = (t: string) => f.redactor?.scrub(t) ?? t;
    const emit = (type: EventType, reason: string, message: string, action: string) =>
      this.#d.api.event(obj, type, reason, scrub(message), action).then(
        (written) => {
          if (written === 'dropped') log.debug('event not recorded: this HelmRelease wrote too many new events lately', { reason });
        },
        (err: unknown) => {
          log.warn('event not recorded', { reason, error: err });
        },
      );
    if (f.adopting && f.result?.succeeded) {
      await emit('Normal', Reason.ReleaseAdopted, `${f.result.message}; this HelmRelease owns the release now`, 'Adopt');
    }
    if (f.result) {
      const warn = !f.result.succeeded || f.result.testResult === 'Failed';
      await emit(warn ? 'Warning' : 'Normal', f.result.reason, f.result.message, f.result.action);
    }
    const wasDrifted = findCondition(prev?.conditions, ConditionType.Drifted)?.status === 'True';
    if ((f.drifted ?? 0) > 0 && (!wasDrifted || f.spec.driftDetection.mode === 'enabled')) {
      await emit('Warning', Reason.DriftDetected, `${f.drifted} object(s) differ from the release manifest`, 'DetectDrift');
    }
    const ready = findCondition(next.conditions, ConditionType.Ready);
    const prevReady = findCondition(prev?.conditions, ConditionType.Ready);
    const changed = ready?.reason !== prevReady?.reason || ready?.status !== prevReady?.status;
    if (!f.result && changed && verdict.kind !== 'ready') {
      await emit('Warning', verdict.reason, verdict.message, 'Reconcile');
    }
  }

  async #write(obj: HelmReleaseObject, prev: HelmReleaseStatus | undefined, status: HelmReleaseStatus, log: Logger): Promise<void> {
    if (prev && canonicalJson(prev) === canonicalJson(status)) return;
    await this.#d.api.patchStatus(obj, status);
    this.#written.set(obj.metadata.uid, status);
    log.debug('status written', { ready: findCondition(status.conditions, ConditionType.Ready)?.status });
  }

  /**
   * The newest status: our own last write when the informer has not delivered it yet. Read once
   * per reconcile (it compares canonical JSON, and forgets our copy once the informer caught up).
   */
  #prevStatus(obj: HelmReleaseObject): HelmReleaseStatus | undefined {
    const mine = this.#written.get(obj.metadata.uid);
    if (mine === undefined) return obj.status;
    if (obj.status && canonicalJson(obj.status) === canonicalJson(mine)) {
      this.#written.delete(obj.metadata.uid);
      return obj.status;
    }
    return mine;
  }

  #statusBase(obj: HelmReleaseObject, prev: HelmReleaseStatus | undefined, spec: HelmReleaseSpec | undefined) {
    return {
      prev,
      generation: obj.metadata.generation,
      nowIso: new Date(this.#d.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      releaseName: spec?.releaseName ?? obj.metadata.name,
      releaseNamespace: spec?.targetNamespace ?? obj.metadata.namespace,
    };
  }

  async #finalize(obj: HelmReleaseObject, call: ReconcileCall, log: Logger): Promise<ReconcileOutcome> {
    const finalizers = obj.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return {};
    const parsed = parseSpec(obj.spec);
    const spec = parsed.ok ? parsed.spec : undefined;
    let plan = decideDeletion({ spec, releaseExists: true, owner: 'self' });
    if (plan.kind === 'uninstall' && spec) {
      const release = this.#releaseRef(obj, spec, new Redactor());
      try {
        const observed = await this.#observe(release, spec, call);
        const recorded = observed.state.owner;
        const owner = !recorded ? 'none' : recorded.uid === obj.metadata.uid ? 'self' : 'other';
        plan = decideDeletion({
          spec,
          releaseExists: observed.state.exists,
          owner,
          ...(recorded && owner === 'other' ? { ownerReason: `it is owned by HelmRelease ${describeOwner(recorded)}` } : {}),
        });
        const ctx: ActionContext = { runner: this.#d.runner, spec, release, chart: {}, values: {}, configDigest: '', ...call };
        if (plan.kind === 'uninstall') {
          const result = await this.#act(plan, ctx, observed, log);
          await this.#d.api.event(obj, result.succeeded ? 'Normal' : 'Warning', result.reason, result.message, 'Uninstall').catch(() => undefined);
          if (!result.succeeded) return { backoff: true };
        } else {
          log.info('finalizer released without uninstall', { why: plan.reason });
          await this.#d.api.event(obj, 'Normal', 'Orphaned', plan.reason, 'Delete').catch(() => undefined);
        }
        // Releases left under earlier names go too (each only when this HelmRelease owns it).
        for (const previous of obj.status?.previousReleases ?? []) {
          const result = await this.#act({ kind: 'uninstall-previous', previous, reason: 'the HelmRelease was deleted' }, ctx, observed, log);
          await this.#d.api.event(obj, result.succeeded ? 'Normal' : 'Warning', result.reason, result.message, 'Uninstall').catch(() => undefined);
          if (!result.succeeded) return { backoff: true };
        }
      } catch (err) {
        const verdict = classifyError(err);
        if (verdict.retry !== 'recheck' && !obj.status?.release && (obj.status?.previousReleases ?? []).length === 0) {
          // The release cannot even be read (forbidden, refused...), and the status records that
          // nothing was ever installed: there is nothing of this HelmRelease's to uninstall.
          return this.#releaseFinalizer(obj, `nothing was installed by this HelmRelease (the release cannot be read: ${verdict.message})`, log);
        }
        log.warn('uninstall on deletion failed', { reason: verdict.reason, message: verdict.message });
        await this.#d.api.event(obj, 'Warning', verdict.reason, `deletion waits for the uninstall: ${verdict.message}`, 'Uninstall').catch(() => undefined);
        return verdict.retry === 'recheck' ? { requeueAfterMs: RUNNER_RECHECK_MS } : { backoff: true };
      }
    } else {
      return this.#releaseFinalizer(obj, plan.reason, log);
    }
    return this.#dropFinalizer(obj);
  }

  /** Lets the HelmRelease go without uninstalling anything, saying why in an event. */
  async #releaseFinalizer(obj: HelmReleaseObject, why: string, log: Logger): Promise<ReconcileOutcome> {
    log.info('finalizer released without uninstall', { why });
    await this.#d.api.event(obj, 'Normal', 'Orphaned', why, 'Delete').catch(() => undefined);
    return this.#dropFinalizer(obj);
  }

  async #dropFinalizer(obj: HelmReleaseObject): Promise<ReconcileOutcome> {
    await this.#d.api.setFinalizers(obj, (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    this.#written.delete(obj.metadata.uid);
    this.#d.observer.forget(obj.metadata.namespace, obj.metadata.name);
    return {};
  }

  /**
   * The runner's reference to the release: its name and namespace, the identity to act as, this
   * HelmRelease as its owner, and the secret strings the runner must scrub from what it says.
   */
  #releaseRef(obj: HelmReleaseObject, spec: HelmReleaseSpec, redactor: Redactor): ReleaseRefInput {
    return releaseRefOf(obj.metadata, spec, this.#d.config.tenancy, redactor);
  }

  #releaseName(obj: HelmReleaseObject, spec: HelmReleaseSpec): string {
    return releaseNameOf(obj.metadata, spec);
  }

  #releaseNamespace(obj: HelmReleaseObject, spec: HelmReleaseSpec): string {
    return releaseNamespaceOf(obj.metadata, spec);
  }

  #dependenciesNotReady(obj: HelmReleaseObject, spec: HelmReleaseSpec): Promise<string[]> {
    return this.#d.dependencies.notReady(obj.metadata.namespace, spec.dependsOn);
  }
}

/** This HelmRelease as the owner recorded on its Helm release. */
function ownerOf(obj: HelmReleaseObject): Owner {
  return { namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid };
}

function isAction(plan: Plan): plan is ActionPlan {
  return !['wait', 'stall', 'ready', 'release-finalizer'].includes(plan.kind);
}
