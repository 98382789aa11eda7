// correct-drift: re-applies only the objects that differ from the latest deployed revision's
// manifest (no new revision).
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';
import { ignoreRules } from './detect-drift.js';

export async function correctDrift(ctx: ActionContext): Promise<ActionResult> {
  const res = await ctx.runner.correctDrift(
    // forceConflicts: a field changed with kubectl belongs to kubectl's field manager; without
    // force the re-apply fails with a conflict on exactly the fields that drifted.
    { release: ctx.release, ignore: ignoreRules(ctx.spec), timeout: timeoutOf(ctx.spec), forceConflicts: true },
    callOpts(ctx, deadlineFor(ctx.spec, false)),
  );
  const corrected = res.objects.filter((o) => o.corrected);
  const names = corrected.map((o) => `${o.drift?.kind ?? ''}/${o.drift?.name ?? ''}`);
  if (res.outcome?.succeeded) {
    return { action: 'correct-drift', succeeded: true, reason: Reason.DriftCorrected, message: `re-applied ${corrected.length} drifted object(s): ${names.join(', ')}` };
  }
  const failed = res.objects.filter((o) => !o.corrected).map((o) => `${o.drift?.kind ?? ''}/${o.drift?.name ?? ''}: ${o.error}`);
  return {
    action: 'correct-drift',
    succeeded: false,
    reason: Reason.DriftCorrectionFailed,
    // The outcome's message is the first object's error, already in `failed`: not repeated.
    message: `drift correction failed: ${failed.length > 0 ? failed.join('; ') : (res.outcome?.message ?? '')}`.trim(),
  };
}
