// The chart reference a HelmRelease asks the runner to pull: repository, chart, version, and the
// repository credentials and CA read from the HelmRelease's own namespace. Every credential read
// is added to the reconcile's Redactor, so that no message quotes it.
import type { HelmReleaseSpec } from '../api/helm-release.js';
import type { ObjectReader } from '../kube/object-reader.js';
import type { ChartRefInput } from '../runner/client.js';
import { AuthSecretError } from './errors.js';
import type { Redactor } from './redaction.js';

export interface ChartRefDeps {
  readonly reader: Pick<ObjectReader, 'read'>;
  /** The controller's --allow-insecure-http. */
  readonly allowInsecureHttp: boolean;
}

/** The chart to pull and how; repository credentials are added to `redactor`. */
export async function chartRefOf(spec: HelmReleaseSpec, namespace: string, deps: ChartRefDeps, redactor: Redactor): Promise<ChartRefInput> {
  const chart: { -readonly [K in keyof ChartRefInput]: ChartRefInput[K] } = {
    repo: spec.repo,
    name: spec.name,
    version: spec.version,
    allowInsecureHttp: deps.allowInsecureHttp,
  };
  const secretRef = spec.auth?.secretRef?.name;
  if (secretRef) {
    const s = await deps.reader.read('Secret', namespace, secretRef);
    if (!s.data) throw new AuthSecretError(`repository credentials Secret ${secretRef} not found`);
    const docker = s.data['.dockerconfigjson'];
    const username = s.data['username'];
    const password = s.data['password'];
    for (const v of [docker, username, password]) if (v !== undefined) redactor.add(v);
    if (docker !== undefined) redactor.addValues(dockerAuthsOf(docker));
    if (docker !== undefined) {
      chart.credentials = { kind: { $case: 'dockerConfigJson', value: Buffer.from(docker) } };
    } else if (username !== undefined && password !== undefined) {
      chart.credentials = { kind: { $case: 'basicAuth', value: { username, password } } };
    } else {
      throw new AuthSecretError(`Secret ${secretRef} has neither username and password nor .dockerconfigjson`);
    }
  }
  const caRef = spec.auth?.caSecretRef?.name;
  if (caRef) {
    const s = await deps.reader.read('Secret', namespace, caRef);
    const ca = s.data?.['ca.crt'];
    if (ca === undefined) throw new AuthSecretError(`CA Secret ${caRef} not found or has no ca.crt`);
    chart.caBundle = Buffer.from(ca);
  }
  return chart;
}

/**
 * The credentials inside a `.dockerconfigjson` (each registry's `auth`, `username`, `password`
 * and `identitytoken`, and the decoded `user:password`), for the redactor; nothing when it does
 * not parse.
 */
function dockerAuthsOf(docker: string): string[] {
  try {
    const doc = JSON.parse(docker) as { auths?: Record<string, Record<string, unknown>> };
    const out: string[] = [];
    for (const entry of Object.values(doc.auths ?? {})) {
      for (const k of ['auth', 'username', 'password', 'identitytoken', 'registrytoken']) {
        const v = entry[k];
        if (typeof v === 'string') out.push(v);
      }
      if (typeof entry['auth'] === 'string') out.push(...Buffer.from(entry['auth'], 'base64').toString('utf8').split(':'));
    }
    return out;
  } catch {
    return [];
  }
}
