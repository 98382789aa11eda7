package action

import (
	"context"

	"helm.sh/helm/v4/pkg/release/common"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// UnlockDescription is the description Unlock records in the revision it marks failed.
const UnlockDescription = "unlocked: left pending by an interrupted operation"

// UnlockRequest asks for a release stuck in a pending status to be marked failed.
type UnlockRequest struct {
	// Name is the release name.
	Name string
	// Revision is expected to be the latest revision, and pending.
	Revision int
}

// Unlock marks the latest revision of release req.Name, left pending-* by a process that died
// during an operation, as failed, so that it can be upgraded or rolled back again. It does not
// determine if there is a desire to perform the action, nor whether an operation of this
// process still holds the release: the caller must know that none does.
//
// It fails, writing nothing, with RELEASE_NOT_FOUND when the release has no revision and with
// PRECONDITION_FAILED when the latest revision is not req.Revision or is not pending.
func Unlock(ctx context.Context, cfg *Config, req UnlockRequest) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, failure.Wrap(failure.ReasonOf(err), err, "")
	}
	latest, err := cfg.latest(req.Name)
	if err != nil {
		return Result{}, asFailure(err)
	}
	switch {
	case latest == nil:
		return Result{}, failure.New(failure.ReleaseNotFound, "release %q not found", req.Name)
	case latest.Version != req.Revision:
		return Result{}, failure.New(failure.PreconditionFailed,
			"release %q: latest revision is %d, not %d", req.Name, latest.Version, req.Revision)
	case !latest.Info.Status.IsPending():
		return Result{}, failure.New(failure.PreconditionFailed,
			"release %q: revision %d is %s, not pending", req.Name, latest.Version, latest.Info.Status)
	}
	op := cfg.operation(req.Name)
	latest.SetStatus(common.StatusFailed, UnlockDescription)
	err = cfg.helm.Releases.Update(latest)
	return op.finish(latest, err)
}
