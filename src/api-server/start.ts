// Wires the public gRPC API from the configuration: the serving certificate, TokenReview and
// SubjectAccessReview, the HelmRelease store, Diff and History through the runner, metrics.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import { HttpListWatchTransport } from '../kube/list-watch.js';
import type { ObjectReader } from '../kube/object-reader.js';
import { KubeRest } from '../kube/rest.js';
import type { Logger } from '../log.js';
import { createApiMetrics } from '../metrics/metrics.js';
import type { RunnerClient } from '../runner/client.js';
import { Authenticator, Authorizer } from './auth.js';
import { Preview } from './preview.js';
import { type ApiServer, startApiServer } from './server.js';
import { HelmReleaseService } from './service.js';
import { HelmReleaseStore } from './store.js';
import { ReloadingCertificate } from './tls.js';

/** How long a TokenReview answer is reused, and how many are kept. */
const TOKEN_CACHE_TTL_MS = 10_000;
const TOKEN_CACHE_ENTRIES = 4_096;
/** Bytes a slow Watch reader may leave unread before its stream is ended. */
const MAX_WATCH_BACKLOG_BYTES = 16 * 1024 * 1024;

export interface ApiDeps {
  readonly config: Config;
  readonly kubeConfig: KubeConfig;
  readonly runner: RunnerClient;
  readonly reader: ObjectReader;
  readonly registry: Registry;
  readonly log: Logger;
}

export async function startApi(d: ApiDeps): Promise<ApiServer> {
  const c = d.config;
  const log = d.log.child({ component: 'api' });
  const metrics = createApiMetrics(d.registry);
  const certificate = new ReloadingCertificate({
    certFile: c.apiTlsCert,
    keyFile: c.apiTlsKey,
    refreshMs: c.apiTlsReloadMs,
    onLoad: (notAfter) => {
      metrics.certificateExpiry.set(notAfter.getTime() / 1000);
      log.info('serving certificate loaded', { notAfter: notAfter.toISOString() });
    },
    onError: (err) => log.warn('serving certificate not reloaded: the previous one is kept', { error: err }),
  });
  await certificate.load();
  certificate.watch();
  const rest = new KubeRest(d.kubeConfig);
  const service = new HelmReleaseService({
    store: new HelmReleaseStore(rest, new HttpListWatchTransport(d.kubeConfig)),
    authn: new Authenticator(rest, { audiences: c.apiTokenAudiences, cacheTtlMs: TOKEN_CACHE_TTL_MS, cacheEntries: TOKEN_CACHE_ENTRIES }),
    authz: new Authorizer(rest),
    preview: new Preview({
      runner: d.runner,
      reader: d.reader,
      tenancy: {
        defaultServiceAccount: c.defaultServiceAccount,
        controllerIdentityNamespaces: c.controllerIdentityNamespaces,
        noCrossNamespaceRefs: c.noCrossNamespaceRefs,
      },
      allowInsecureHttp: c.allowInsecureHttp,
    }),
    log,
    options: { callTimeoutMs: c.apiCallTimeoutMs, maxWatches: c.apiMaxWatches, maxWatchBacklogBytes: MAX_WATCH_BACKLOG_BYTES },
    observe: (method, code, seconds) => metrics.requestDuration.observe({ method, code }, seconds),
    watchesOpen: (n) => metrics.watches.set(n),
  });
  const server = await startApiServer({
    address: c.apiAddr.startsWith(':') ? `0.0.0.0${c.apiAddr}` : c.apiAddr,
    certificate,
    service,
    maxMessageBytes: c.apiMaxMessageBytes,
    maxConcurrentStreams: c.apiMaxConcurrentStreams,
    log,
  });
  log.info('serving the gRPC API', { address: server.address });
  return server;
}
