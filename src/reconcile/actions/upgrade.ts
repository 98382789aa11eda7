// upgrade: a new revision of an existing release (Helm upgrade). With atomic, a failed upgrade is
// rolled back by the same operation (Outcome.remediated).
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';

export async function upgrade(ctx: ActionContext): Promise<ActionResult> {
  const { spec } = ctx;
  const res = await ctx.runner.upgrade(
    {
      release: ctx.release,
      chart: ctx.chart,
      values: ctx.values,
      wait: spec.wait,
      atomic: spec.atomic,
      timeout: timeoutOf(spec),
      maxHistory: spec.maxHistory,
      configDigest: ctx.configDigest,
      cleanupOnFail: true,
      // The HelmRelease is the source of truth: fields someone changed with kubectl (owned by
      // kubectl's field manager) are taken back, as Helm 3's three-way merge did.
      forceConflicts: true,
    },
    callOpts(ctx, deadlineFor(spec, spec.atomic)),
  );
  const chart = `${spec.name}@${spec.version}`;
  const base = { action: 'upgrade', counter: 'upgrade', attempted: true, ...(res.state ? { state: res.state } : {}) } as const;
  if (res.outcome?.succeeded) {
    return { ...base, succeeded: true, reason: Reason.UpgradeSucceeded, message: `upgraded to ${chart}` };
  }
  return {
    ...base,
    succeeded: false,
    reason: Reason.UpgradeFailed,
    message: `upgrade to ${chart} failed: ${res.outcome?.message ?? 'no outcome'}`,
    remediated: res.outcome?.remediated ?? false,
  };
}
