// unlock: a release left pending-* by an operation that died is marked failed, so that it can be
// upgraded or rolled back again (the next reconcile decides which).
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts } from './action.js';

export async function unlock(ctx: ActionContext, revision: number): Promise<ActionResult> {
  const res = await ctx.runner.unlock({ release: ctx.release, revision }, callOpts(ctx, 60_000));
  const state = res.state ? { state: res.state } : {};
  if (res.outcome?.succeeded) {
    return { action: 'unlock', succeeded: true, reason: Reason.Unlocked, message: `revision ${revision} was left pending by an interrupted operation and is now marked failed`, ...state };
  }
  return { action: 'unlock', succeeded: false, reason: Reason.UnlockFailed, message: `unlock of revision ${revision} failed: ${res.outcome?.message ?? ''}`, ...state };
}
