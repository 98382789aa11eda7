package action

import (
	"context"
	"errors"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// RollbackRequest asks for a release to be rolled back to an earlier revision.
type RollbackRequest struct {
	// Name is the release name.
	Name string
	// Revision to roll back to; 0 is the revision before the latest.
	Revision int
	// Wait for the release's resources to be ready (kstatus) before succeeding.
	Wait bool
	// Timeout is given to Helm for each wait (hooks, resources); capped by ctx's deadline.
	Timeout time.Duration
	// MaxHistory is how many revisions are kept; older ones are deleted. 0 keeps all.
	MaxHistory int
	// DisableHooks skips the chart's hooks.
	DisableHooks bool
	// ServerSideApply chooses server-side (true) or client-side (false) apply; nil is Helm's
	// "auto": the method the target revision was applied with.
	ServerSideApply *bool
	// ForceConflicts takes over fields owned by other field managers (server-side apply).
	ForceConflicts bool
	// CleanupOnFail deletes objects the failed rollback created.
	CleanupOnFail bool
	// Owner is recorded on the new revision when the latest revision records no owner; nil
	// records none then.
	Owner *Owner
}

// Rollback makes a new revision of release req.Name from revision req.Revision (Helm rollback).
// It does not determine if there is a desire to perform the action.
//
// It fails, writing nothing, with RELEASE_NOT_FOUND when the release has no revision or was
// uninstalled, RELEASE_LOCKED when its latest revision is pending-*, and REVISION_NOT_FOUND
// when the target revision is not stored. A plain error means nothing was written.
//
// The new revision records the owner of the latest revision (or req.Owner when that records
// none), not the owner of the target revision, whose labels Helm copies.
func Rollback(ctx context.Context, cfg *Config, req RollbackRequest) (Result, error) {
	timeout, err := begin(ctx, req.Timeout)
	if err != nil {
		return Result{}, err
	}
	if req.Revision < 0 || req.MaxHistory < 0 {
		return Result{}, failure.New(failure.InvalidArgument, "revision and max history must not be negative")
	}
	latest, err := cfg.upgradable(req.Name)
	if err != nil {
		return Result{}, err
	}
	target := req.Revision
	if target == 0 {
		target = latest.Version - 1
	}
	if _, err := cfg.helm.Releases.Get(req.Name, target); errors.Is(err, driver.ErrReleaseNotFound) {
		return Result{}, failure.New(failure.RevisionNotFound, "release %q has no revision %d", req.Name, target)
	} else if err != nil {
		return Result{}, asFailure(err)
	}

	rb := action.NewRollback(cfg.helm)
	rb.Version = target
	rb.WaitStrategy, rb.WaitOptions, rb.Timeout = waitStrategy(req.Wait), cfg.waitOptions(ctx), timeout
	rb.MaxHistory = req.MaxHistory
	rb.DisableHooks = req.DisableHooks
	rb.ServerSideApply = applyMethod(req.ServerSideApply)
	rb.ForceConflicts = req.ForceConflicts
	rb.CleanupOnFail = req.CleanupOnFail

	owner := OwnerOf(latest)
	if owner.IsZero() && req.Owner != nil {
		owner = *req.Owner
	}
	cfg.recordOwner(req.Name, owner)

	op := cfg.operation(req.Name)
	err = rb.Run(req.Name)
	return op.finish(nil, err)
}
