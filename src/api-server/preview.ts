// What the API asks helm-runner: Diff (what installing or upgrading a spec would change, object
// by object, without writing anything) and History (the release's revisions as Helm keeps
// them). Both act as the release itself would: its ServiceAccount under the tenancy policy, its
// values resolved the way the reconciler resolves them, every secret string scrubbed.
import { durationMs, type HelmReleaseSpec } from '../api/helm-release.js';
import type { ObjectReader } from '../kube/object-reader.js';
import { chartRefOf } from '../reconcile/chart-ref.js';
import { AuthSecretError } from '../reconcile/errors.js';
import { Redactor } from '../reconcile/redaction.js';
import { releaseRefOf, type ReleaseOwnerRef } from '../reconcile/release-ref.js';
import { helmStatus } from '../reconcile/state.js';
import { crossNamespaceRefusal, releaseIdentity, type TenancyPolicy } from '../reconcile/tenancy.js';
import { InvalidValuesError, resolveValues, ValuesSourceNotFoundError } from '../reconcile/values.js';
import type { ReleaseRevision, RunnerClient } from '../runner/client.js';
import { RunnerError } from '../runner/errors.js';
import { ChangeType as RunnerChangeType } from '../gen/planton/helmrunner/v1/runner.js';
import type { ReleaseHistoryEntry } from '../gen/planton/helm/v1/helm_release.js';
import { ChangeType, type DiffResponse, type ObjectDiff } from '../gen/planton/helm/v1/helm_release_service.js';
import { ApiError, Code, fromRunner } from './errors.js';

export interface PreviewDeps {
  readonly runner: RunnerClient;
  readonly reader: ObjectReader;
  readonly tenancy: TenancyPolicy;
  readonly allowInsecureHttp: boolean;
}

const CHANGE = new Map<number, ChangeType>([
  [RunnerChangeType.CREATE, ChangeType.CREATE],
  [RunnerChangeType.UPDATE, ChangeType.UPDATE],
  [RunnerChangeType.DELETE, ChangeType.DELETE],
  [RunnerChangeType.UNCHANGED, ChangeType.UNCHANGED],
]);

/** Most revisions History returns (Helm keeps `maxHistory`, 5 by default). */
const MAX_HISTORY = 256;

export class Preview {
  readonly #d: PreviewDeps;

  constructor(deps: PreviewDeps) {
    this.#d = deps;
  }

  /** What applying `spec` for the HelmRelease `owner` would change; unchanged objects left out. */
  async diff(owner: ReleaseOwnerRef, spec: HelmReleaseSpec, signal: AbortSignal): Promise<DiffResponse> {
    this.#refuse(owner, spec);
    const redactor = new Redactor();
    let values: Record<string, unknown>;
    let chart;
    try {
      values = (await resolveValues(spec.valuesFrom, spec.values, this.#d.reader.valuesSource(owner.namespace), redactor)).values;
      chart = await chartRefOf(spec, owner.namespace, { reader: this.#d.reader, allowInsecureHttp: this.#d.allowInsecureHttp }, redactor);
    } catch (err) {
      throw this.#inputError(err, redactor);
    }
    const release = releaseRefOf(owner, spec, this.#d.tenancy, redactor);
    const timeoutMs = durationMs(spec.timeout);
    try {
      const res = await this.#d.runner.diff(
        { release, chart, values, timeout: { seconds: Math.ceil(timeoutMs / 1000), nanos: 0 } },
        { deadlineMs: timeoutMs + 10_000, signal },
      );
      const objects: ObjectDiff[] = [];
      for (const o of res.objects) {
        const change = CHANGE.get(o.change) ?? ChangeType.UNSPECIFIED;
        if (change === ChangeType.UNCHANGED) continue;
        objects.push({
          apiVersion: o.apiVersion,
          kind: o.kind,
          namespace: o.namespace,
          name: o.name,
          change,
          fields: o.fields.map((f) => ({ path: f.path, desired: f.desired, live: f.live, redacted: f.redacted })),
        });
      }
      return { install: res.install, chartVersion: spec.version, objects };
    } catch (err) {
      if (err instanceof RunnerError) throw fromRunner(err, 'diff');
      throw err;
    }
  }

  /** The release's revisions, newest first (empty when it is not installed). */
  async history(owner: ReleaseOwnerRef, spec: HelmReleaseSpec, limit: number, signal: AbortSignal): Promise<ReleaseHistoryEntry[]> {
    const release = releaseRefOf(owner, spec, this.#d.tenancy, new Redactor());
    const historyLimit = limit > 0 ? Math.min(limit, MAX_HISTORY) : MAX_HISTORY;
    try {
      const res = await this.#d.runner.getReleaseState({ release, historyLimit }, { deadlineMs: 30_000, signal });
      return [...res.history].sort((a, b) => b.revision - a.revision).slice(0, historyLimit).map(historyEntry);
    } catch (err) {
      if (err instanceof RunnerError) {
        if (err.reason === 'RELEASE_NOT_FOUND') return [];
        throw fromRunner(err, 'history');
      }
      throw err;
    }
  }

  // The preflight refusals of the reconciler, as errors: a diff that the controller would never
  // act on says why instead of rendering.
  #refuse(owner: ReleaseOwnerRef, spec: HelmReleaseSpec): void {
    const cross = crossNamespaceRefusal(spec, owner.namespace, this.#d.tenancy);
    if (cross) throw new ApiError(Code.FAILED_PRECONDITION, cross);
    const identity = releaseIdentity(spec, owner.namespace, this.#d.tenancy);
    if (identity.kind === 'refused') throw new ApiError(Code.FAILED_PRECONDITION, identity.message);
    if (spec.repo.startsWith('http://') && !this.#d.allowInsecureHttp) {
      throw new ApiError(Code.FAILED_PRECONDITION, `repository ${spec.repo} uses plain HTTP, which this controller refuses; use https:// or oci://`);
    }
  }

  #inputError(err: unknown, redactor: Redactor): ApiError {
    const message = redactor.scrub(err instanceof Error ? err.message : String(err));
    if (err instanceof ValuesSourceNotFoundError || err instanceof AuthSecretError) return new ApiError(Code.FAILED_PRECONDITION, message);
    if (err instanceof InvalidValuesError) return new ApiError(Code.INVALID_ARGUMENT, message);
    return new ApiError(Code.UNAVAILABLE, `reading the values sources: ${message}`);
  }
}

function historyEntry(h: ReleaseRevision): ReleaseHistoryEntry {
  return {
    revision: h.revision,
    chartVersion: h.chartVersion,
    appVersion: h.appVersion,
    status: helmStatus(h.status),
    valuesDigest: h.valuesDigest,
    ...(h.deployedTime ? { deployedAt: h.deployedTime } : {}),
    testResult: h.tests?.ran ? (h.tests.succeeded ? 'Succeeded' : 'Failed') : '',
  };
}
