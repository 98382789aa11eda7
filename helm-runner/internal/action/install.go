package action

import (
	"context"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/helmvalues"
)

// InstallRequest asks for a chart to be installed as a new release.
type InstallRequest struct {
	// Name is the release name.
	Name string
	// Chart is the loaded chart; it is not modified.
	Chart *chart.Chart
	// Values are the user-supplied values; nil is none. They are not modified.
	Values map[string]any
	// Wait for the release's resources to be ready (kstatus) before succeeding.
	Wait bool
	// Atomic uninstalls the release when the install fails (Helm's rollback-on-failure, which
	// also waits for resources).
	Atomic bool
	// Timeout is given to Helm for each wait (hooks, resources); capped by ctx's deadline.
	Timeout time.Duration
	// CreateNamespace creates the release namespace if it does not exist.
	CreateNamespace bool
	// DisableHooks skips the chart's hooks.
	DisableHooks bool
	// ServerSideApply chooses server-side (true) or client-side (false) apply; nil is Helm's
	// default for installs, server-side.
	ServerSideApply *bool
	// ConfigDigest is stored as the release label ConfigDigestLabel; at most 63 characters of
	// [A-Za-z0-9._-]. Empty: no label.
	ConfigDigest string
	// Description is recorded in the revision; empty: Helm's default.
	Description string
	// Owner is recorded on the revision (owner labels); nil records none.
	Owner *Owner
}

// Install installs req.Chart as a new release in cfg's namespace (Helm install). It does not
// determine if there is a desire to perform the action.
//
// It fails with RELEASE_EXISTS, writing nothing, when the release has a revision that is not
// uninstalled; a release uninstalled with its history kept is installed again as its next
// revision. A plain error means nothing was written; a failure after Helm wrote the pending
// revision is Result.Err (Result.Remediated when Atomic uninstalled it again).
func Install(ctx context.Context, cfg *Config, req InstallRequest) (Result, error) {
	timeout, err := begin(ctx, req.Timeout)
	if err != nil {
		return Result{}, err
	}
	ch, err := prepareChart(req.Chart)
	if err != nil {
		return Result{}, err
	}
	labels, err := configLabels(req.ConfigDigest, req.Owner, false)
	if err != nil {
		return Result{}, err
	}
	latest, err := cfg.latest(req.Name)
	if err != nil {
		return Result{}, asFailure(err)
	}
	if latest != nil && latest.Info.Status != common.StatusUninstalled {
		return Result{}, failure.New(failure.ReleaseExists,
			"release %q exists: revision %d is %s", req.Name, latest.Version, latest.Info.Status)
	}
	if err := cfg.useCachedCapabilities(ch, true); err != nil {
		return Result{}, err
	}

	in := action.NewInstall(cfg.helm)
	in.ReleaseName, in.Namespace = req.Name, cfg.namespace
	// Replace reuses the name of a release uninstalled with its history kept.
	in.Replace = latest != nil
	in.WaitStrategy, in.WaitOptions, in.Timeout = waitStrategy(req.Wait), cfg.waitOptions(ctx), timeout
	in.RollbackOnFailure = req.Atomic
	in.CreateNamespace = req.CreateNamespace
	in.DisableHooks = req.DisableHooks
	if req.ServerSideApply != nil {
		in.ServerSideApply = *req.ServerSideApply
	}
	in.Description = req.Description
	in.DisableOpenAPIValidation = skipClientSchemaCheck
	in.Labels = labels

	helmChart, pre := cfg.isolate(ctx, ch, req.Values, installing(req.Name, cfg.namespace), timeout)
	op := cfg.operation(req.Name)
	out, err := in.RunWithContext(context.WithoutCancel(ctx), helmChart, helmvalues.Copy(req.Values))
	rel, _ := out.(*rspb.Release)
	res, ferr := op.finish(rel, rendered(pre, err))
	if res.Err != nil && req.Atomic && strings.Contains(res.Err.Error(), "has been uninstalled due to rollback-on-failure") {
		res.Remediated = true
	}
	return res, ferr
}

// configLabels returns the release labels carrying configDigest and owner (ownerLabels; nil
// leaves the owner labels as they are). For an upgrade an empty digest removes the label the
// previous revision had (Helm deletes labels set to "null").
func configLabels(configDigest string, owner *Owner, upgrade bool) (map[string]string, error) {
	labels := ownerLabels(owner, upgrade)
	if labels == nil {
		labels = map[string]string{}
	}
	switch {
	case configDigest == "" && upgrade:
		labels[ConfigDigestLabel] = unsetLabel
	case configDigest == "":
	case len(validation.IsValidLabelValue(configDigest)) > 0 || configDigest == unsetLabel:
		return nil, failure.New(failure.InvalidArgument,
			"config digest %q: must be at most 63 characters of [A-Za-z0-9._-]", configDigest)
	default:
		labels[ConfigDigestLabel] = configDigest
	}
	if len(labels) == 0 {
		return nil, nil
	}
	return labels, nil
}
