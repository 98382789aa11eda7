// uninstall-previous: once the release the spec names now is Ready, removes a release this
// HelmRelease installed under an earlier releaseName or targetNamespace (install the new one,
// then uninstall the old one). Only a release that records this HelmRelease as its owner is
// uninstalled; one that no longer exists, or that records another owner or none, is dropped from
// the list and left alone.
import type { PreviousRelease } from '../../api/helm-release.js';
import type { ReleaseRefInput } from '../../runner/client.js';
import { Reason } from '../conditions.js';
import { describeOwner } from '../state.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';

const STATE_DEADLINE_MS = 30_000;

export async function uninstallPrevious(ctx: ActionContext, previous: PreviousRelease): Promise<ActionResult> {
  const { spec } = ctx;
  const release: ReleaseRefInput = { ...ctx.release, name: previous.name, namespace: previous.namespace };
  const where = `${previous.namespace}/${previous.name}`;
  const base = { action: 'uninstall-previous', previous } as const;
  const got = await ctx.runner.getReleaseState({ release, historyLimit: 1 }, callOpts(ctx, STATE_DEADLINE_MS));
  const state = got.state;
  if (!state?.exists) {
    return { ...base, succeeded: true, reason: Reason.PreviousReleaseLeft, message: `previous release ${where} is no longer installed` };
  }
  const self = ctx.release.owner;
  if (!state.owner || state.owner.uid !== self?.uid) {
    const who = state.owner ? `it is owned by HelmRelease ${describeOwner(state.owner)}` : 'it records no owner';
    return { ...base, succeeded: true, reason: Reason.PreviousReleaseLeft, message: `previous release ${where} left installed: ${who}` };
  }
  const res = await ctx.runner.uninstall(
    { release, wait: spec.wait, timeout: timeoutOf(spec) },
    callOpts(ctx, deadlineFor(spec, false)),
  );
  if (res.outcome?.succeeded) {
    return { ...base, succeeded: true, reason: Reason.PreviousReleaseUninstalled, message: `uninstalled previous release ${where} (releaseName or targetNamespace changed)` };
  }
  return { ...base, succeeded: false, reason: Reason.UninstallFailed, message: `uninstall of previous release ${where} failed: ${res.outcome?.message ?? ''}` };
}
