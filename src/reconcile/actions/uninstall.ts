// uninstall: removes the release and its history (Helm uninstall), either as the remediation of
// a failed install/upgrade or because the HelmRelease was deleted. Objects annotated
// `helm.sh/resource-policy: keep` stay.
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';

export async function uninstall(ctx: ActionContext): Promise<ActionResult> {
  const { spec } = ctx;
  const res = await ctx.runner.uninstall(
    { release: ctx.release, wait: spec.wait, timeout: timeoutOf(spec) },
    callOpts(ctx, deadlineFor(spec, false)),
  );
  const state = res.state ? { state: res.state } : {};
  if (res.outcome?.succeeded) {
    return { action: 'uninstall', succeeded: true, reason: Reason.UninstallSucceeded, message: 'uninstalled the release', ...state };
  }
  return { action: 'uninstall', succeeded: false, reason: Reason.UninstallFailed, message: `uninstall failed: ${res.outcome?.message ?? ''}`, ...state };
}
