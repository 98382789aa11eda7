// rollback: remediation of a failed upgrade (or failed tests): a new revision made from the last
// revision that deployed successfully.
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';

export async function rollback(ctx: ActionContext, toRevision: number): Promise<ActionResult> {
  const { spec } = ctx;
  const res = await ctx.runner.rollback(
    { release: ctx.release, revision: toRevision, wait: spec.wait, timeout: timeoutOf(spec), maxHistory: spec.maxHistory, cleanupOnFail: true, forceConflicts: true },
    callOpts(ctx, deadlineFor(spec, false)),
  );
  const state = res.state ? { state: res.state } : {};
  if (res.outcome?.succeeded) {
    return { action: 'rollback', succeeded: true, reason: Reason.RollbackSucceeded, message: `rolled back to revision ${toRevision}`, ...state };
  }
  return { action: 'rollback', succeeded: false, reason: Reason.RollbackFailed, message: `rollback to revision ${toRevision} failed: ${res.outcome?.message ?? ''}`, ...state };
}
