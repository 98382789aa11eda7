// The API's serving certificate, read from files and reloaded when they change (cert-manager
// and kubelet rotate a mounted Secret by swapping a symlink). A new pair is published only once
// both files parse and the key matches the certificate, so a rotation caught half-written keeps
// the previous pair serving instead of failing every handshake.
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';

type Listener = experimental.IdentityCertificateUpdateListener;

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the files are read again. */
  readonly refreshMs: number;
  /** Called when a pair is loaded (expiry for the metric) or a reload fails (kept serving the old). */
  readonly onLoad?: (notAfter: Date) => void;
  readonly onError?: (err: Error) => void;
}

export class ReloadingCertificate implements experimental.CertificateProvider {
  readonly #files: CertificateFiles;
  readonly #listeners = new Set<Listener>();
  #current: { certificate: Buffer; privateKey: Buffer } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(files: CertificateFiles) {
    this.#files = files;
  }

  /** Reads the pair once; rejects when it cannot be used (the server must not start without one). */
  async load(): Promise<void> {
    const [certificate, privateKey] = await Promise.all([readFile(this.#files.certFile), readFile(this.#files.keyFile)]);
    const opts: SecureContextOptions = { cert: certificate, key: privateKey };
    createSecureContext(opts); // throws when the key does not match the certificate
    const notAfter = new Date(new X509Certificate(certificate).validTo);
    const changed = !this.#current || !this.#current.certificate.equals(certificate) || !this.#current.privateKey.equals(privateKey);
    this.#current = { certificate, privateKey };
    if (changed) {
      this.#files.onLoad?.(notAfter);
      for (const l of this.#listeners) l(this.#current);
    }
  }

  /** Starts re-reading the files every `refreshMs`. */
  watch(): void {
    this.#timer ??= setInterval(() => {
      this.load().catch((err: unknown) => this.#files.onError?.(err instanceof Error ? err : new Error(String(err))));
    }, this.#files.refreshMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Server credentials that serve the latest good pair (TLS only; no client certificates). */
  credentials(): ServerCredentials {
    // grpc-js names its first parameter after the CA but uses it as the identity provider; the
    // second (null here) is the CA for client certificates, which this server does not ask for.
    return experimental.createCertificateProviderServerCredentials(this, null, false);
  }

  addIdentityCertificateListener(listener: Listener): void {
    this.#listeners.add(listener);
    // Later, not now: grpc-js registers its own watcher only after adding this listener, and
    // an update delivered before that is lost (the server would refuse every handshake).
    setImmediate(() => {
      if (this.#current && this.#listeners.has(listener)) listener(this.#current);
    });
  }
  removeIdentityCertificateListener(listener: Listener): void {
    this.#listeners.delete(listener);
  }
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}
