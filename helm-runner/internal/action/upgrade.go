package action

import (
	"context"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/helmvalues"
)

// UpgradeRequest asks for an existing release to be upgraded.
type UpgradeRequest struct {
	// Name is the release name.
	Name string
	// Chart is the loaded chart; it is not modified.
	Chart *chart.Chart
	// Values replace the previous revision's values entirely (Helm's --reset-values); nil is
	// none. They are not modified.
	Values map[string]any
	// Wait for the release's resources to be ready (kstatus) before succeeding.
	Wait bool
	// Atomic rolls back to the last successful revision when the upgrade fails (Helm's
	// rollback-on-failure, which also waits for resources).
	Atomic bool
	// Timeout is given to Helm for each wait (hooks, resources) of the upgrade and of the
	// rollback after a failure; capped by ctx's deadline.
	Timeout time.Duration
	// MaxHistory is how many revisions are kept; older ones are deleted (and reported in
	// Writes). 0 keeps all.
	MaxHistory int
	// DisableHooks skips the chart's hooks.
	DisableHooks bool
	// ServerSideApply chooses server-side (true) or client-side (false) apply; nil is Helm's
	// "auto": the method the previous revision was applied with.
	ServerSideApply *bool
	// ForceConflicts takes over fields owned by other field managers (server-side apply).
	ForceConflicts bool
	// CleanupOnFail deletes objects the failed upgrade created.
	CleanupOnFail bool
	// ConfigDigest is stored as the release label ConfigDigestLabel; empty removes it.
	ConfigDigest string
	// Description is recorded in the revision; empty: Helm's default.
	Description string
	// Owner is recorded on the new revision (owner labels), and on the revision made by the
	// rollback after a failed Atomic upgrade (which would otherwise copy the labels of the
	// revision it returns to); nil leaves the owner labels as Helm copies them.
	Owner *Owner
}

// Upgrade upgrades release req.Name to a new revision of req.Chart with req.Values (Helm
// upgrade). It does not determine if there is a desire to perform the action.
//
// It fails, writing nothing, with RELEASE_NOT_FOUND when the release has no revision or was
// uninstalled, and with RELEASE_LOCKED when its latest revision is pending-*. A plain error
// means nothing was written; a failure after Helm wrote the pending revision is Result.Err
// (Result.Remediated when Atomic rolled it back).
func Upgrade(ctx context.Context, cfg *Config, req UpgradeRequest) (Result, error) {
	timeout, err := begin(ctx, req.Timeout)
	if err != nil {
		return Result{}, err
	}
	ch, err := prepareChart(req.Chart)
	if err != nil {
		return Result{}, err
	}
	labels, err := configLabels(req.ConfigDigest, req.Owner, true)
	if err != nil {
		return Result{}, err
	}
	if req.MaxHistory < 0 {
		return Result{}, failure.New(failure.InvalidArgument, "max history must not be negative")
	}
	latest, err := cfg.upgradable(req.Name)
	if err != nil {
		return Result{}, err
	}
	if err := cfg.useCachedCapabilities(ch, false); err != nil {
		return Result{}, err
	}

	up := action.NewUpgrade(cfg.helm)
	up.Namespace = cfg.namespace
	up.WaitStrategy, up.WaitOptions, up.Timeout = waitStrategy(req.Wait), cfg.waitOptions(ctx), timeout
	up.RollbackOnFailure = req.Atomic
	up.ResetValues = true
	up.MaxHistory = req.MaxHistory
	up.DisableHooks = req.DisableHooks
	up.ServerSideApply = applyMethod(req.ServerSideApply)
	up.ForceConflicts = req.ForceConflicts
	up.CleanupOnFail = req.CleanupOnFail
	up.Description = req.Description
	up.DisableOpenAPIValidation = skipClientSchemaCheck
	up.Labels = labels

	if req.Owner != nil {
		cfg.recordOwner(req.Name, *req.Owner)
	}
	helmChart, pre := cfg.isolate(ctx, ch, req.Values, upgrading(req.Name, latest), timeout)
	op := cfg.operation(req.Name)
	out, err := up.RunWithContext(context.WithoutCancel(ctx), req.Name, helmChart, helmvalues.Copy(req.Values))
	rel, _ := out.(*rspb.Release)
	res, ferr := op.finish(rel, rendered(pre, err))
	if res.Err != nil && req.Atomic && strings.Contains(res.Err.Error(), "has been rolled back due to rollback-on-failure") {
		res.Remediated = true
	}
	return res, ferr
}

// upgradable returns the latest revision of name when a new revision may be made from it:
// RELEASE_NOT_FOUND when there is none or it is uninstalled, RELEASE_LOCKED when it is
// pending.
func (c *Config) upgradable(name string) (*rspb.Release, error) {
	latest, err := c.latest(name)
	if err != nil {
		return nil, asFailure(err)
	}
	if latest == nil || latest.Info.Status == common.StatusUninstalled {
		return nil, failure.New(failure.ReleaseNotFound, "release %q not found", name)
	}
	if latest.Info.Status.IsPending() {
		return nil, failure.New(failure.ReleaseLocked,
			"release %q is locked: revision %d is %s", name, latest.Version, latest.Info.Status)
	}
	return latest, nil
}

// applyMethod is Helm's server-side apply setting for upgrades and rollbacks: "auto" (as the
// previous revision) when unset.
func applyMethod(serverSide *bool) string {
	if serverSide == nil {
		return "auto"
	}
	return strconv.FormatBool(*serverSide)
}
