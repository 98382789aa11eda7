package action

import (
	"context"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

// Result is how an operation that wrote release storage ended.
type Result struct {
	// Writes are the writes Helm made to release storage during the operation, in order.
	Writes []storage.Write
	// Release is the latest revision after the operation; nil when the release no longer
	// exists.
	Release *rspb.Release
	// State summarises Release (State.Exists is false when Release is nil).
	State State
	// Err is why the operation failed after writing storage; nil when it succeeded.
	Err *failure.Error
	// Remediated is true when a failed install or upgrade was undone in the same operation
	// (rollback-on-failure): the release was uninstalled, or rolled back to the previous
	// successful revision.
	Remediated bool
	// Tests holds one result per test hook (Test only), in the order they ran; hooks that did
	// not run this time come last with phase Unknown.
	Tests []TestResult
}

// Succeeded reports whether the operation did what it was asked to do.
func (r Result) Succeeded() bool { return r.Err == nil }

// TestResult is how one test hook ended.
type TestResult struct {
	// Name is the hook object's name.
	Name string
	// Phase is Helm's phase of the hook: Succeeded, Failed, Running (did not finish) or
	// Unknown (did not run).
	Phase rspb.HookPhase
	// Started and Completed are zero when the hook did not start or complete.
	Started   time.Time
	Completed time.Time
	// Info is a short detail for a failed hook (the failure Helm reported), never pod logs.
	Info string
}

// begin validates an operation's timeout against ctx and returns the timeout to give Helm:
// at most the time left before ctx's deadline. Helm applies it to each wait (hooks, resources)
// of the operation, as its CLI does. It fails with INVALID_ARGUMENT for a non-positive
// timeout, and with TIMEOUT or CANCELLED when ctx is already done.
func begin(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, failure.Wrap(failure.ReasonOf(err), err, "before the operation started")
	}
	if timeout <= 0 {
		return 0, failure.New(failure.InvalidArgument, "timeout must be positive, got %s", timeout)
	}
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < timeout {
			timeout = left
		}
	}
	return timeout, nil
}

// waitStrategy is Helm's kstatus watcher strategy when waiting for resources, else waiting for
// hooks only. Helm fails when no strategy is set. Both get the runner's waiter (kube.HelmClient:
// kstatus readiness of the release's own objects, read by name), not Helm's watcher.
func waitStrategy(wait bool) helmkube.WaitStrategy {
	if wait {
		return helmkube.StatusWatcherStrategy
	}
	return helmkube.HookOnlyStrategy
}

// waitOptions make every wait of the operation (hooks, resources, deletions) end when ctx ends:
// the runner's waiter through the kube client, Helm's own waiters through the options.
//
// ctx is passed this way and not to Helm's RunWithContext: on cancellation RunWithContext
// returns at once but leaves the operation running in a goroutine that goes on writing release
// storage (and, for upgrades, fails the release a second time and may roll it back twice).
// Cancelling the waits instead makes Helm fail the operation in the calling goroutine, so every
// write is over, and observed, when the function returns.
func (c *Config) waitOptions(ctx context.Context) []helmkube.WaitOption {
	if c.kube != nil {
		c.kube.SetWaitContext(ctx)
	}
	return []helmkube.WaitOption{helmkube.WithWaitContext(ctx)}
}

// operation is one call on one release: what it writes is observed from its start on.
type operation struct {
	cfg   *Config
	name  string
	mark  int
	start time.Time
}

func (c *Config) operation(name string) operation {
	return operation{cfg: c, name: name, mark: c.observer.Len(), start: time.Now()}
}

// finish builds the outcome: a plain error when the operation failed without writing, else a
// Result with the writes and the release as it is now (fallback when storage cannot be read).
func (o operation) finish(fallback *rspb.Release, err error) (Result, error) {
	writes := o.cfg.observer.Writes()[o.mark:]
	if err != nil && len(writes) == 0 {
		return Result{}, asFailure(err)
	}
	res := Result{Writes: writes, Release: fallback}
	if latest, lerr := o.cfg.latest(o.name); lerr == nil {
		res.Release = latest
	}
	res.State = StateOf(res.Release)
	if err != nil {
		res.Err = asFailure(err)
		if res.Err.Reason == failure.KubernetesAPIError && o.failedHook(res.Release) {
			res.Err.Reason = failure.HookFailed
		}
	}
	return res, nil
}

// failedHook reports whether a hook of rel (other than a test) failed during the operation:
// Helm returns the bare wait error for rollback and delete hooks, so their failure is only
// visible in the hook's recorded phase.
func (o operation) failedHook(rel *rspb.Release) bool {
	if rel == nil {
		return false
	}
	for _, h := range rel.Hooks {
		if h.LastRun.Phase == rspb.HookPhaseFailed && !h.LastRun.StartedAt.Before(o.start) && !isTestHook(h) {
			return true
		}
	}
	return false
}
