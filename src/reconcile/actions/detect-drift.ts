// detectDrift: an observation, not an action: which objects of the latest deployed revision
// differ from the cluster (server-side apply dry run), ignoring the spec's rules.
import type { HelmReleaseSpec } from '../../api/helm-release.js';
import type { DetectDriftResponse, ReleaseRefInput, RunnerClient } from '../../runner/client.js';
import { type ActionContext, callOpts, deadlineFor, timeoutOf } from './action.js';

export function ignoreRules(spec: HelmReleaseSpec) {
  return spec.driftDetection.ignore.map((r) => ({ paths: r.paths, ...(r.target ? { target: r.target } : {}) }));
}

export function detectDrift(
  runner: RunnerClient,
  spec: HelmReleaseSpec,
  release: ReleaseRefInput,
  call: Pick<ActionContext, 'signal' | 'reconcileId'>,
): Promise<DetectDriftResponse> {
  return runner.detectDrift(
    { release, ignore: ignoreRules(spec), timeout: timeoutOf(spec) },
    callOpts(call, deadlineFor(spec, false)),
  );
}
