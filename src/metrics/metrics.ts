// The controller's Prometheus metrics, all registered on one Registry passed in (never the
// global one), so tests and the process own their registry. Queue metrics use controller-runtime
// and client-go workqueue names so existing dashboards read them. Label values are names and
// outcomes only: never values, never anything that came from a Secret.
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueMetrics, ReconcileResult } from '../controller/work-queue.js';

export type ReleaseStatus = 'ready' | 'progressing' | 'stalled' | 'failed' | 'suspended' | 'unknown';

/**
 * The value of planton_helm_release_reconciliation_status for a release:
 *
 * |  1 | ready       | Ready=True: the release matches the spec                              |
 * |  0 | progressing | Reconciling=True: an install/upgrade/remediation is under way         |
 * | -1 | failed      | Ready=False, will be retried (backoff)                                |
 * | -2 | stalled     | Stalled=True: will not progress until the spec changes               |
 * | -3 | suspended   | spec.suspend=true: not reconciled                                     |
 * | -4 | unknown     | not reconciled yet since the controller started (no status to report) |
 *
 * NaN is never used, so `== 1` (healthy) and `< 0 and > -3` (failing) are plain comparisons.
 */
export function reconciliationStatusValue(s: ReleaseStatus): number {
  switch (s) {
    case 'ready':
      return 1;
    case 'progressing':
      return 0;
    case 'failed':
      return -1;
    case 'stalled':
      return -2;
    case 'suspended':
      return -3;
    case 'unknown':
      return -4;
  }
}

/**
 * The labels of planton_helm_release_info for one HelmRelease besides its namespace and name:
 * what a dashboard's table of releases shows. All come from the object (spec and status), never
 * from values.
 */
export interface ReleaseInfo {
  /** spec.name: the chart. */
  readonly chart: string;
  /** spec.version: the chart version the spec asks for (status.release.chartVersion is the one deployed). */
  readonly version: string;
  /** status.release.revision, the Helm revision; "" before the first install. */
  readonly revision: string;
  /** The Ready condition's status; Unknown when there is none yet. */
  readonly ready: 'True' | 'False' | 'Unknown';
  /** The Ready condition's reason (a constant of src/reconcile/conditions.ts); "" when there is none yet. */
  readonly reason: string;
  readonly suspended: boolean;
  /** The Helm release's namespace and name (spec.targetNamespace and spec.releaseName, defaulted). */
  readonly releaseNamespace: string;
  readonly releaseName: string;
}

type InfoLabel = 'namespace' | 'name' | 'chart' | 'version' | 'revision' | 'ready' | 'reason' | 'suspended' | 'release_namespace' | 'release_name';

export interface Metrics {
  readonly queue: QueueMetrics;
  /** planton_helm_release_reconciliation_status{namespace,name}: see reconciliationStatusValue. */
  readonly reconciliationStatus: Gauge<'namespace' | 'name'>;
  /** planton_helm_release_actions_total{action,outcome}: runner actions (install, upgrade, …) by outcome. */
  readonly actions: Counter<'action' | 'outcome'>;
  /** planton_helm_release_action_duration_seconds{action,outcome} */
  readonly actionDuration: Histogram<'action' | 'outcome'>;
  /** planton_helm_release_drift_detected_total{namespace,name} */
  readonly driftDetected: Counter<'namespace' | 'name'>;
  /** planton_helm_release_drift_corrected_total{namespace,name} */
  readonly driftCorrected: Counter<'namespace' | 'name'>;
  /** planton_helm_runner_request_duration_seconds{method,code}: every runner RPC, code = gRPC status name. */
  readonly runnerCallDuration: Histogram<'method' | 'code'>;
  /** leader_election_master_status{name}: 1 while this process leads (client-go's name). */
  readonly leader: Gauge<'name'>;
  /**
   * planton_helm_release_info{namespace,name,chart,version,revision,ready,reason,suspended,
   * release_namespace,release_name} = 1: one series per HelmRelease, replaced when a label changes.
   */
  readonly releaseInfo: Gauge<InfoLabel>;
  /** Sets the release's status gauge (what its reconcile found). */
  setReleaseStatus(namespace: string, name: string, status: ReleaseStatus): void;
  /**
   * The controller knows this HelmRelease: its status gauge reads -4 (unknown) until its first
   * reconcile reports, and its info series is set to `info`, replacing the previous one.
   */
  setReleaseKnown(namespace: string, name: string, info: ReleaseInfo): void;
  /** Removes every per-release series of a deleted HelmRelease, so it stops being reported. */
  deleteRelease(namespace: string, name: string): void;
}

const reconcileResults: readonly ReconcileResult[] = ['success', 'error', 'requeue', 'requeue_after'];

// Helm operations wait for resources (minutes); reconciles include them.
const longBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
const queueBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

function createQueueMetrics(registry: Registry, controller: string): QueueMetrics {
  const registers = [registry];
  const reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'] as const,
    registers,
  });
  const reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'] as const,
    buckets: longBuckets,
    registers,
  });
  const activeWorkers = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const maxConcurrent = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const depth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name'] as const,
    registers,
  });
  const adds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: ['name'] as const,
    registers,
  });
  const queueDuration = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: ['name'] as const,
    buckets: queueBuckets,
    registers,
  });
  const retries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: ['name'] as const,
    registers,
  });
  const initialised = new Set<string>();
  // controller-runtime reports every result at 0 from the start, so rate() works from the first scrape.
  const init = (controller: string): void => {
    if (initialised.has(controller)) return;
    initialised.add(controller);
    for (const result of reconcileResults) reconcileTotal.inc({ controller, result }, 0);
    reconcileErrors.inc({ controller }, 0);
  };
  init(controller);
  return {
    added: (name) => adds.inc({ name }),
    depth: (name, n) => depth.set({ name }, n),
    queueWait: (name, seconds) => queueDuration.observe({ name }, seconds),
    retried: (name) => retries.inc({ name }),
    reconciled: (controller, result, seconds) => {
      init(controller);
      reconcileTotal.inc({ controller, result });
      reconcileTime.observe({ controller }, seconds);
    },
    reconcileError: (controller) => {
      init(controller);
      reconcileErrors.inc({ controller });
    },
    activeWorkers: (controller, n) => activeWorkers.set({ controller }, n),
    maxConcurrentReconciles: (controller, n) => {
      init(controller);
      maxConcurrent.set({ controller }, n);
    },
  };
}

/**
 * Registers the controller's metrics and prom-client's default process metrics on `registry`.
 * Call once per registry (a second call throws: the names are already registered).
 * `controller` is the controller whose reconcile counters are reported at 0 from the start; the
 * queue metrics are labelled with the WorkQueue's own `name`, which should be the same string.
 * The caller sets `leader` (labelled with the Lease name) from onLeaderChange.
 */
export function createMetrics(registry: Registry, controller: string): Metrics {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const reconciliationStatus = new Gauge({
    name: 'planton_helm_release_reconciliation_status',
    help: 'Reconciliation status of a HelmRelease: 1 ready, 0 progressing, -1 failed (retrying), -2 stalled, -3 suspended, -4 unknown',
    labelNames: ['namespace', 'name'] as const,
    registers,
  });
  const actions = new Counter({
    name: 'planton_helm_release_actions_total',
    help: 'Helm actions performed through the runner, by action and outcome',
    labelNames: ['action', 'outcome'] as const,
    registers,
  });
  const actionDuration = new Histogram({
    name: 'planton_helm_release_action_duration_seconds',
    help: 'Duration of Helm actions performed through the runner, by action and outcome',
    labelNames: ['action', 'outcome'] as const,
    buckets: longBuckets,
    registers,
  });
  const driftDetected = new Counter({
    name: 'planton_helm_release_drift_detected_total',
    help: 'Times drift of the cluster from a release manifest was detected',
    labelNames: ['namespace', 'name'] as const,
    registers,
  });
  const driftCorrected = new Counter({
    name: 'planton_helm_release_drift_corrected_total',
    help: 'Times drift of the cluster from a release manifest was corrected',
    labelNames: ['namespace', 'name'] as const,
    registers,
  });
  const runnerCallDuration = new Histogram({
    name: 'planton_helm_runner_request_duration_seconds',
    help: 'Duration of helm-runner RPCs, by method and gRPC status code',
    labelNames: ['method', 'code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers,
  });
  const releaseInfo = new Gauge({
    name: 'planton_helm_release_info',
    help: 'Information about a HelmRelease (chart, version, Helm revision, Ready and its reason, suspended, the Helm release it manages); always 1',
    labelNames: ['namespace', 'name', 'chart', 'version', 'revision', 'ready', 'reason', 'suspended', 'release_namespace', 'release_name'] as const,
    registers,
  });
  const leader = new Gauge({
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
    labelNames: ['name'] as const,
    registers,
  });

  // Keys whose reconcile reported a status (their gauge no longer reads -4), and the labels of
  // each HelmRelease's info series (so a change replaces it instead of adding a second one).
  // Both hold one entry per HelmRelease the controller knows, removed with it.
  const reported = new Set<string>();
  const infoSeries = new Map<string, Record<InfoLabel, string>>();

  return {
    queue: createQueueMetrics(registry, controller),
    reconciliationStatus,
    actions,
    actionDuration,
    driftDetected,
    driftCorrected,
    runnerCallDuration,
    leader,
    releaseInfo,
    setReleaseStatus(namespace, name, status) {
      reported.add(keyOf(namespace, name));
      reconciliationStatus.set({ namespace, name }, reconciliationStatusValue(status));
    },
    setReleaseKnown(namespace, name, info) {
      const key = keyOf(namespace, name);
      if (!reported.has(key)) reconciliationStatus.set({ namespace, name }, reconciliationStatusValue('unknown'));
      const labels = infoLabels(namespace, name, info);
      const old = infoSeries.get(key);
      if (old && sameLabels(old, labels)) return;
      if (old) releaseInfo.remove(old);
      releaseInfo.set(labels, 1);
      infoSeries.set(key, labels);
    },
    deleteRelease(namespace, name) {
      const key = keyOf(namespace, name);
      // remove() of a series that was never set is a no-op.
      reconciliationStatus.remove({ namespace, name });
      driftDetected.remove({ namespace, name });
      driftCorrected.remove({ namespace, name });
      const info = infoSeries.get(key);
      if (info) releaseInfo.remove(info);
      infoSeries.delete(key);
      reported.delete(key);
    },
  };
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function infoLabels(namespace: string, name: string, info: ReleaseInfo): Record<InfoLabel, string> {
  return {
    namespace,
    name,
    chart: info.chart,
    version: info.version,
    revision: info.revision,
    ready: info.ready,
    reason: info.reason,
    suspended: info.suspended ? 'true' : 'false',
    release_namespace: info.releaseNamespace,
    release_name: info.releaseName,
  };
}

function sameLabels(a: Record<InfoLabel, string>, b: Record<InfoLabel, string>): boolean {
  return (Object.keys(a) as InfoLabel[]).every((k) => a[k] === b[k]);
}

export interface ApiMetrics {
  /** Calls of the public gRPC API by method and gRPC code (a Watch is observed when it ends). */
  readonly requestDuration: Histogram<'method' | 'code'>;
  /** Watch streams open now. */
  readonly watches: Gauge;
  /** When the API's serving certificate expires (Unix seconds), for an alert before it does. */
  readonly certificateExpiry: Gauge;
}

/** Metrics of the public gRPC API; labels are RPC names and gRPC code names only. */
export function createApiMetrics(registry: Registry): ApiMetrics {
  const registers = [registry];
  return {
    requestDuration: new Histogram({
      name: 'planton_helm_api_request_duration_seconds',
      help: 'Duration of calls to the public gRPC API (HelmReleaseService), by method and gRPC code',
      labelNames: ['method', 'code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    watches: new Gauge({ name: 'planton_helm_api_watch_streams', help: 'Watch streams of the public gRPC API open now', registers }),
    certificateExpiry: new Gauge({
      name: 'planton_helm_api_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate of the public gRPC API expires, as Unix seconds',
      registers,
    }),
  };
}
