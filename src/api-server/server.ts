// The gRPC server of the public API: HelmReleaseService, the gRPC health checking protocol and
// server reflection (so grpcurl works), over TLS only, with bounded message sizes, concurrent
// streams per connection and watches, and a graceful drain on shutdown.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { HelmReleaseServiceService } from '../gen/planton/helm/v1/helm_release_service.js';
import type { Logger } from '../log.js';
import type { HelmReleaseService } from './service.js';
import type { ReloadingCertificate } from './tls.js';

export const SERVICE_NAME = 'planton.helm.v1.HelmReleaseService';

const SERVICE_PROTO = 'planton/helm/v1/helm_release_service.proto';

/**
 * proto/ of the repository (and of the image, which copies it next to dist/): what reflection
 * describes. Found upwards from this module, wherever the build put it.
 */
function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'proto', SERVICE_PROTO))) return join(dir, 'proto');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`${SERVICE_PROTO} not found above ${fileURLToPath(import.meta.url)}: server reflection needs the proto files`);
}

export interface ApiServerOptions {
  /** host:port; port 0 picks a free one. */
  readonly address: string;
  readonly certificate: ReloadingCertificate;
  readonly service: HelmReleaseService;
  readonly maxMessageBytes: number;
  readonly maxConcurrentStreams: number;
  readonly log: Logger;
}

export interface ApiServer {
  /** The address bound, with the port chosen. */
  readonly address: string;
  /** Stops taking calls, ends watches, lets unary calls finish for up to `graceMs`, then closes. */
  close(graceMs: number): Promise<void>;
}

export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const server = new Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    // A page of 1000 HelmReleases with their status.
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_concurrent_streams': o.maxConcurrentStreams,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
  });
  server.addService(HelmReleaseServiceService, o.service.implementation());
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  const reflected = loadSync([SERVICE_PROTO], { includeDirs: [protoDir()] });
  new ReflectionService(reflected).addToServer(server);

  const port = await new Promise<number>((ok, fail) => {
    server.bindAsync(o.address, o.certificate.credentials(), (err, p) => (err ? fail(err) : ok(p)));
  });
  const host = o.address.slice(0, o.address.lastIndexOf(':'));
  const address = `${host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    address,
    close(graceMs: number): Promise<void> {
      closing ??= (async () => {
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(SERVICE_NAME, 'NOT_SERVING');
        o.service.drain();
        await new Promise<void>((done) => {
          const timer = setTimeout(() => {
            o.log.warn('API calls still running at the end of the grace period: closing them', { graceMs });
            server.forceShutdown();
            done();
          }, Math.max(graceMs, 1));
          server.tryShutdown(() => {
            clearTimeout(timer);
            done();
          });
        });
        o.certificate.close();
      })();
      return closing;
    },
  };
}
