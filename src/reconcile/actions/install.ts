// install: the first revision of a release (Helm install). With atomic, a failed install is
// uninstalled by the same operation (Outcome.remediated).
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';

export async function install(ctx: ActionContext): Promise<ActionResult> {
  const { spec } = ctx;
  const res = await ctx.runner.install(
    {
      release: ctx.release,
      chart: ctx.chart,
      values: ctx.values,
      wait: spec.wait,
      atomic: spec.atomic,
      timeout: timeoutOf(spec),
      createNamespace: spec.createNamespace,
      configDigest: ctx.configDigest,
    },
    callOpts(ctx, deadlineFor(spec, spec.atomic)),
  );
  const chart = `${spec.name}@${spec.version}`;
  const base = { action: 'install', counter: 'install', attempted: true, ...(res.state ? { state: res.state } : {}) } as const;
  if (res.outcome?.succeeded) {
    return { ...base, succeeded: true, reason: Reason.InstallSucceeded, message: `installed ${chart}` };
  }
  return {
    ...base,
    succeeded: false,
    reason: Reason.InstallFailed,
    message: `install of ${chart} failed: ${res.outcome?.message ?? 'no outcome'}`,
    remediated: res.outcome?.remediated ?? false,
  };
}
