// test: runs the chart's test hooks against the latest revision (Helm test). A failure counts
// against the retries of the upgrade (or install) that made the revision, unless the spec says
// to ignore test failures.
import { Reason } from '../conditions.js';
import { type ActionContext, type ActionResult, callOpts, deadlineFor, timeoutOf } from './action.js';

export async function test(ctx: ActionContext, revision: number): Promise<ActionResult> {
  const res = await ctx.runner.test(
    { release: ctx.release, timeout: timeoutOf(ctx.spec) },
    callOpts(ctx, deadlineFor(ctx.spec, false)),
  );
  const counter = revision <= 1 ? 'install' : 'upgrade';
  if (res.outcome?.succeeded) {
    return { action: 'test', counter, succeeded: true, testResult: 'Succeeded', reason: Reason.TestSucceeded, message: `tests of revision ${revision} passed` };
  }
  const failed = res.results.filter((r) => r.phase !== 3).map((r) => r.name);
  return {
    action: 'test',
    counter,
    // An ignored failure is reported (TestSuccess False, a Warning event) but the release stays
    // successful.
    succeeded: ctx.spec.test.ignoreFailures,
    testResult: 'Failed',
    reason: Reason.TestFailed,
    message: `tests of revision ${revision} failed${ctx.spec.test.ignoreFailures ? ' (ignored: test.ignoreFailures is true)' : ''}${failed.length > 0 ? ` (${failed.join(', ')})` : ''}: ${res.outcome?.message ?? ''}`.trim(),
  };
}
