package action

import (
	"context"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/release/common"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// UninstallRequest asks for a release to be uninstalled.
type UninstallRequest struct {
	// Name is the release name.
	Name string
	// Wait until the release's objects are gone before succeeding.
	Wait bool
	// Timeout is given to Helm for each wait (hooks, deletion); capped by ctx's deadline.
	Timeout time.Duration
	// KeepHistory keeps the release's records, marked uninstalled, instead of deleting them.
	KeepHistory bool
	// DisableHooks skips the chart's hooks.
	DisableHooks bool
}

// Uninstall deletes the objects of release req.Name and its records, or marks them
// uninstalled with KeepHistory (Helm uninstall). Objects annotated
// helm.sh/resource-policy: keep are left in place, as Helm does. It does not determine if there
// is a desire to perform the action.
//
// It fails with RELEASE_NOT_FOUND, writing nothing, when the release has no revision. A release
// already uninstalled with its history kept is a success that writes nothing when KeepHistory
// is set; without KeepHistory its records are deleted. A pending release may be uninstalled.
func Uninstall(ctx context.Context, cfg *Config, req UninstallRequest) (Result, error) {
	timeout, err := begin(ctx, req.Timeout)
	if err != nil {
		return Result{}, err
	}
	latest, err := cfg.latest(req.Name)
	if err != nil {
		return Result{}, asFailure(err)
	}
	if latest == nil {
		return Result{}, failure.New(failure.ReleaseNotFound, "release %q not found", req.Name)
	}
	op := cfg.operation(req.Name)
	if latest.Info.Status == common.StatusUninstalled && req.KeepHistory {
		return op.finish(latest, nil)
	}

	un := action.NewUninstall(cfg.helm)
	un.KeepHistory = req.KeepHistory
	un.DisableHooks = req.DisableHooks
	un.WaitStrategy, un.WaitOptions, un.Timeout = waitStrategy(req.Wait), cfg.waitOptions(ctx), timeout

	_, err = un.Run(req.Name)
	return op.finish(nil, err)
}
