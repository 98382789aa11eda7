// Entry point of the reconciler: parse the configuration, serve /metrics and health, take the
// leader Lease, then run the controller until SIGTERM/SIGINT (or until leadership is lost, which
// exits so that the replica restarts clean).
import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { systemClock } from './clock.js';
import { type Config, parseConfig, splitHostPort, USAGE } from './config.js';
import { Controller } from './controller/controller.js';
import { LeaderElector } from './controller/leader-election.js';
import { KubeHelmReleaseApi } from './kube/helm-release-api.js';
import { ObjectReader } from './kube/object-reader.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics/metrics.js';
import { fleetObserver } from './metrics/fleet-observer.js';
import { reconcileObserver } from './metrics/reconcile-observer.js';
import { DependencyReadiness } from './reconcile/dependencies.js';
import { Reconciler } from './reconcile/reconciler.js';
import { RunnerClient } from './runner/client.js';
import { startHttpServer } from './server/http-server.js';
import { startApi } from './api-server/start.js';
import type { ApiServer } from './api-server/server.js';

const COMPONENT = 'planton-helm-controller';

async function run(config: Config, log: Logger, stop: AbortSignal): Promise<void> {
  const kubeConfig = new k8s.KubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromDefault();

  const registry = new Registry();
  const metrics = createMetrics(registry, 'helmrelease');
  const runner = new RunnerClient({
    address: config.runnerAddress,
    observe: (method, code, seconds) => metrics.runnerCallDuration.observe({ method, code }, seconds),
  });

  let controller: Controller | undefined;
  let leading = !config.leaderElect;
  const { host, port } = splitHostPort(config.httpAddr);
  const http = await startHttpServer({
    host,
    port,
    registry,
    ready: () => {
      if (!leading) return { ok: true, reason: 'standby: another replica holds the lease' };
      return controller?.synced ? { ok: true } : { ok: false, reason: 'HelmRelease cache not synced yet' };
    },
  });
  log.info('serving metrics and health', { address: `${host}:${http.port}` });
  const reader = new ObjectReader(kubeConfig);
  // The API is a front to the Kubernetes API: every replica serves it, leader or standby.
  let api: ApiServer | undefined;
  try {
    if (config.apiAddr !== '') api = await startApi({ config, kubeConfig, runner, reader, registry, log });
  } catch (err) {
    runner.close();
    await http.close();
    throw err;
  }

  const elector = config.leaderElect
    ? new LeaderElector({
        kubeConfig,
        namespace: config.leaderElectionNamespace,
        name: config.leaderElectionId,
        identity: config.identity,
        log: log.child({ component: 'leader-election' }),
        onLeaderChange: (isLeader) => metrics.leader.set({ name: config.leaderElectionId }, isLeader ? 1 : 0),
      })
    : undefined;
  try {
    let lost: AbortSignal | undefined;
    if (elector) {
      metrics.leader.set({ name: config.leaderElectionId }, 0);
      log.info('waiting for the leader lease', { lease: `${config.leaderElectionNamespace}/${config.leaderElectionId}`, identity: config.identity });
      lost = await elector.acquire(stop);
      leading = true;
      log.info('leading', { identity: config.identity });
    }
    const cache = { get: (ns: string, name: string) => controller?.cache.get(ns, name) };
    const reconciler = new Reconciler({
      runner,
      api: new KubeHelmReleaseApi(kubeConfig, COMPONENT, config.identity),
      reader,
      cache,
      dependencies: new DependencyReadiness({
        cache,
        read: (ns, name) => reader.helmRelease(ns, name),
        scope: { namespace: config.watchNamespace, labelSelector: config.labelSelector },
        clock: systemClock,
      }),
      config: {
        allowInsecureHttp: config.allowInsecureHttp,
        tenancy: {
          defaultServiceAccount: config.defaultServiceAccount,
          controllerIdentityNamespaces: config.controllerIdentityNamespaces,
          noCrossNamespaceRefs: config.noCrossNamespaceRefs,
        },
      },
      clock: systemClock,
      log,
      observer: reconcileObserver(metrics),
    });
    controller = new Controller({
      kubeConfig,
      reconciler,
      concurrency: config.concurrency,
      labelSelector: config.labelSelector,
      namespace: config.watchNamespace,
      log,
      queueMetrics: metrics.queue,
      fleet: fleetObserver(metrics),
    });
    await controller.start();
    const ended = await Promise.race([
      waitAbort(stop).then(() => 'stop' as const),
      ...(lost ? [waitAbort(lost).then(() => 'lost' as const)] : []),
    ]);
    if (ended === 'lost') throw new Error('leader lease lost');
    log.info('shutting down', { graceMs: config.shutdownGraceMs });
    const grace = AbortSignal.timeout(Math.max(config.shutdownGraceMs, 1));
    const done = controller.stop();
    // In-flight Helm operations get the grace period, then are cancelled (the runner records
    // their end, so nothing is left pending).
    await Promise.race([done, waitAbort(grace)]);
    await controller.stop({ abortInFlight: true });
  } finally {
    await api?.close(Math.max(config.shutdownGraceMs, 1));
    await elector?.release().catch((err: unknown) => log.warn('lease not released', { error: err }));
    runner.close();
    await http.close();
  }
}

function waitAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  const log = createLogger({ level: config.logLevel, base: { component: COMPONENT } });
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
  try {
    await run(config, log, stop.signal);
    log.info('stopped');
    return 0;
  } catch (err) {
    // A standby told to stop while it waits for the Lease: an ordinary shutdown, not a failure.
    if (stop.signal.aborted && err === stop.signal.reason) {
      log.info('stopped while waiting for the leader lease');
      return 0;
    }
    log.error('controller failed', { error: err });
    return 1;
  }
}

process.exitCode = await main();
