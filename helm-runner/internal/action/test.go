package action

import (
	"cmp"
	"context"
	"slices"
	"time"

	"helm.sh/helm/v4/pkg/action"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// TestRequest asks for a release's tests to be run.
type TestRequest struct {
	// Name is the release name.
	Name string
	// Timeout is given to Helm for each test hook; capped by ctx's deadline.
	Timeout time.Duration
}

// Test runs the test hooks of release req.Name's latest revision and records their results in
// that revision (Helm test). It does not determine if there is a desire to perform the action.
//
// Result.Tests has one entry per test hook; Result.Err has reason TEST_FAILED when a hook
// failed. It fails, writing nothing, with RELEASE_NOT_FOUND when the release has no revision or
// was uninstalled and RELEASE_LOCKED when its latest revision is pending-*.
func Test(ctx context.Context, cfg *Config, req TestRequest) (Result, error) {
	timeout, err := begin(ctx, req.Timeout)
	if err != nil {
		return Result{}, err
	}
	if _, err := cfg.upgradable(req.Name); err != nil {
		return Result{}, err
	}

	rt := action.NewReleaseTesting(cfg.helm)
	rt.Namespace = cfg.namespace
	rt.Timeout = timeout
	rt.WaitOptions = cfg.waitOptions(ctx)

	op := cfg.operation(req.Name)
	out, shutdown, err := rt.Run(req.Name)
	// Deletes the hooks whose delete policy asks for it. Its error does not change how the
	// tests ended, which is already recorded in the release.
	_ = shutdown()
	rel, _ := out.(*rspb.Release)
	res, ferr := op.finish(rel, err)
	if ferr != nil {
		return res, ferr
	}
	if res.Release != nil {
		rel = res.Release
	}
	res.Tests = testResults(rel, op.start, err)
	for _, t := range res.Tests {
		if t.Phase == rspb.HookPhaseFailed {
			res.Err = failure.New(failure.TestFailed, "test %s failed", t.Name)
			if err != nil {
				res.Err = failure.Wrap(failure.TestFailed, err, "test %s failed", t.Name)
			}
			break
		}
	}
	return res, nil
}

// testResults lists the test hooks of rel: those that ran since start in the order they ran,
// then the others as Unknown. runErr, Helm's error, is the detail of the failed hook.
func testResults(rel *rspb.Release, start time.Time, runErr error) []TestResult {
	if rel == nil {
		return nil
	}
	var ran, notRun []TestResult
	for _, h := range rel.Hooks {
		if !isTestHook(h) {
			continue
		}
		if h.LastRun.StartedAt.Before(start) {
			notRun = append(notRun, TestResult{Name: h.Name, Phase: rspb.HookPhaseUnknown})
			continue
		}
		r := TestResult{Name: h.Name, Phase: h.LastRun.Phase, Started: h.LastRun.StartedAt, Completed: h.LastRun.CompletedAt}
		if r.Phase == rspb.HookPhaseFailed && runErr != nil {
			r.Info = asFailure(runErr).Error()
		}
		ran = append(ran, r)
	}
	slices.SortStableFunc(ran, func(a, b TestResult) int { return a.Started.Compare(b.Started) })
	slices.SortStableFunc(notRun, func(a, b TestResult) int { return cmp.Compare(a.Name, b.Name) })
	return append(ran, notRun...)
}
