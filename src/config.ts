// The reconciler's configuration, parsed once at start-up from command-line flags (with a few
// environment fallbacks that Kubernetes sets) and passed down; nothing else reads process.env.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { durationMs } from './api/helm-release.js';

const HostPort = z
  .string()
  .regex(/^[^\s:]*:\d{1,5}$/, 'must be host:port, for example 127.0.0.1:8080 or :8080');

const Config = z.strictObject({
  kubeconfig: z.string().optional(),
  runnerAddress: z.string().min(1),
  httpAddr: HostPort,
  concurrency: z.coerce.number().int().min(1).max(200),
  leaderElect: z.boolean(),
  leaderElectionNamespace: z.string().min(1),
  leaderElectionId: z.string().min(1),
  identity: z.string().min(1),
  allowInsecureHttp: z.boolean(),
  defaultServiceAccount: z.string(),
  controllerIdentityNamespaces: z.array(z.string().min(1)),
  noCrossNamespaceRefs: z.boolean(),
  labelSelector: z.string(),
  watchNamespace: z.string(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
  shutdownGraceMs: z.number().int().min(0),
  apiAddr: z.union([z.literal(''), HostPort]),
  apiTlsCert: z.string(),
  apiTlsKey: z.string(),
  apiTlsReloadMs: z.number().int().min(1_000),
  apiTokenAudiences: z.array(z.string().min(1)),
  apiMaxMessageBytes: z.coerce.number().int().min(64 * 1024).max(64 * 1024 * 1024),
  apiMaxConcurrentStreams: z.coerce.number().int().min(1).max(10_000),
  apiMaxWatches: z.coerce.number().int().min(1).max(100_000),
  apiCallTimeoutMs: z.number().int().min(1_000),
}).refine((c) => c.apiAddr === '' || (c.apiTlsCert !== '' && c.apiTlsKey !== ''), {
  message: 'the gRPC API serves TLS only: give --api-tls-cert and --api-tls-key with --api-addr',
  path: ['apiAddr'],
});
export type Config = z.output<typeof Config>;

export const USAGE = `planton-helm-controller: keeps Helm releases equal to HelmRelease objects.

Flags:
  --kubeconfig PATH                  kubeconfig (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)
  --runner-address ADDR              helm-runner gRPC address (default unix:///var/run/helm-runner/runner.sock)
  --http-addr HOST:PORT              /metrics, /healthz, /readyz (default :8080)
  --concurrency N                    HelmReleases reconciled at once (default 10)
  --leader-elect=false               do not take the Lease (run only one replica then)
  --leader-election-namespace NS     namespace of the Lease (default $POD_NAMESPACE, else default)
  --leader-election-id NAME          name of the Lease (default planton-helm-controller)
  --identity ID                      this replica's Lease holder identity (default hostname_pid)
  --allow-insecure-http              allow http:// and plain-HTTP OCI repositories (tests, demos)
  --default-service-account NAME     ServiceAccount (of the HelmRelease's namespace) to impersonate for
                                     releases that name none
  --controller-identity-namespaces NS,NS
                                     namespaces whose HelmReleases that name no ServiceAccount act as the
                                     controller itself; '*' every namespace (default: '*' without
                                     --default-service-account, none with it); elsewhere such releases
                                     use the default ServiceAccount, or stall with ServiceAccountRequired
  --no-cross-namespace-refs          refuse targetNamespace and dependsOn outside the HelmRelease's
                                     namespace (Stalled CrossNamespaceRefused)
  --label-selector SELECTOR          only HelmReleases with these labels (sharding)
  --watch-namespace NS               only this namespace (default: all)
  --log-level debug|info|warn|error  (default info)
  --shutdown-grace DURATION          time in-flight Helm operations get on SIGTERM (default 30s)

The public gRPC API (HelmReleaseService, health, reflection), on every replica; TLS only:
  --api-addr HOST:PORT               serve it here (default: not served)
  --api-tls-cert FILE                PEM serving certificate (chain); re-read when it changes
  --api-tls-key FILE                 PEM private key of the certificate
  --api-tls-reload-interval DURATION how often the files are re-read (default 30s)
  --api-token-audiences AUD,AUD      audiences a caller's token must carry (default: the API server's)
  --api-max-message-bytes N          largest request accepted (default 4194304)
  --api-max-concurrent-streams N     concurrent calls per connection (default 100)
  --api-max-watches N                Watch streams served at once (default 1000)
  --api-call-timeout DURATION        longest a unary call may run (default 2m)
`;

/** Parses flags; throws an Error whose message names the bad flag. */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Config {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      kubeconfig: { type: 'string' },
      'runner-address': { type: 'string', default: 'unix:///var/run/helm-runner/runner.sock' },
      'http-addr': { type: 'string', default: ':8080' },
      concurrency: { type: 'string', default: '10' },
      'leader-elect': { type: 'string', default: 'true' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string', default: 'planton-helm-controller' },
      identity: { type: 'string' },
      'allow-insecure-http': { type: 'boolean', default: false },
      'default-service-account': { type: 'string', default: '' },
      'controller-identity-namespaces': { type: 'string' },
      'no-cross-namespace-refs': { type: 'boolean', default: false },
      'label-selector': { type: 'string', default: '' },
      'watch-namespace': { type: 'string', default: '' },
      'log-level': { type: 'string', default: 'info' },
      'shutdown-grace': { type: 'string', default: '30s' },
      'api-addr': { type: 'string', default: '' },
      'api-tls-cert': { type: 'string', default: '' },
      'api-tls-key': { type: 'string', default: '' },
      'api-tls-reload-interval': { type: 'string', default: '30s' },
      'api-token-audiences': { type: 'string', default: '' },
      'api-max-message-bytes': { type: 'string', default: String(4 * 1024 * 1024) },
      'api-max-concurrent-streams': { type: 'string', default: '100' },
      'api-max-watches': { type: 'string', default: '1000' },
      'api-call-timeout': { type: 'string', default: '2m' },
    },
  });
  const grace = durationMs(values['shutdown-grace']);
  const ms = (v: string): number => {
    const d = durationMs(v);
    return Number.isNaN(d) ? -1 : d;
  };
  const parsed = Config.safeParse({
    kubeconfig: values.kubeconfig ?? env['KUBECONFIG'],
    runnerAddress: values['runner-address'],
    httpAddr: values['http-addr'],
    concurrency: values.concurrency,
    leaderElect: parseBool(values['leader-elect'], '--leader-elect'),
    leaderElectionNamespace: values['leader-election-namespace'] ?? env['POD_NAMESPACE'] ?? 'default',
    leaderElectionId: values['leader-election-id'],
    identity: values.identity ?? `${env['POD_NAME'] ?? hostname()}_${process.pid}`,
    allowInsecureHttp: values['allow-insecure-http'],
    defaultServiceAccount: values['default-service-account'],
    controllerIdentityNamespaces: splitList(values['controller-identity-namespaces'] ?? (values['default-service-account'] ? '' : '*')),
    noCrossNamespaceRefs: values['no-cross-namespace-refs'],
    labelSelector: values['label-selector'],
    watchNamespace: values['watch-namespace'],
    logLevel: values['log-level'],
    shutdownGraceMs: Number.isNaN(grace) ? -1 : grace,
    apiAddr: values['api-addr'],
    apiTlsCert: values['api-tls-cert'],
    apiTlsKey: values['api-tls-key'],
    apiTlsReloadMs: ms(values['api-tls-reload-interval']),
    apiTokenAudiences: splitList(values['api-token-audiences']),
    apiMaxMessageBytes: values['api-max-message-bytes'],
    apiMaxConcurrentStreams: values['api-max-concurrent-streams'],
    apiMaxWatches: values['api-max-watches'],
    apiCallTimeoutMs: ms(values['api-call-timeout']),
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
      shutdownGraceMs: 'shutdown-grace',
      apiTlsReloadMs: 'api-tls-reload-interval',
      apiCallTimeoutMs: 'api-call-timeout',
    };
    throw new Error(
      parsed.error.issues
        .map((i) => {
          const field = String(i.path[0] ?? '');
          return `--${names[field] ?? field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`;
        })
        .join('; '),
    );
  }
  return parsed.data;
}

/** `a, b,c` → ['a', 'b', 'c']; '' → []. */
function splitList(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function parseBool(v: string, flag: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`${flag}: must be true or false`);
}

/** `host:port` → listen arguments; an empty host means every interface. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i) || '0.0.0.0', port: Number(addr.slice(i + 1)) };
}
