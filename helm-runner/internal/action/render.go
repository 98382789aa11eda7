package action

import (
	"context"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/helmvalues"
)

// Rendered is a chart rendered as the next install or upgrade of a release would render it,
// next to the manifest of the release's current revision.
type Rendered struct {
	// Manifest is the new manifest (hooks excluded, as in a release's manifest).
	Manifest string
	// Current is the latest revision's manifest; "" when the release does not exist.
	Current string
	// Install is true when the release does not exist (or was uninstalled): the new manifest
	// would be installed, not upgraded to.
	Install bool
}

// Render renders the chart with values for release name, as an install when the release does
// not exist and as an upgrade otherwise (Helm's server-side dry run: lookups and capabilities
// come from the cluster). It does not determine whether an install or upgrade is wanted, and it
// writes nothing to release storage or the cluster.
func Render(ctx context.Context, cfg *Config, name string, ch *chart.Chart, values map[string]any) (Rendered, error) {
	if err := ctx.Err(); err != nil {
		return Rendered{}, asFailure(err)
	}
	ch, err := prepareChart(ch)
	if err != nil {
		return Rendered{}, err
	}
	latest, err := cfg.latest(name)
	if err != nil {
		return Rendered{}, asFailure(err)
	}
	if err := cfg.useCachedCapabilities(ch, false); err != nil {
		return Rendered{}, err
	}
	if latest == nil || latest.Info.Status == common.StatusUninstalled {
		in := action.NewInstall(cfg.helm)
		in.ReleaseName, in.Namespace = name, cfg.namespace
		in.DryRunStrategy = action.DryRunServer
		in.DisableOpenAPIValidation = skipClientSchemaCheck
		in.Replace = latest != nil
		in.WaitStrategy = waitStrategy(false)
		helmChart, pre := cfg.isolate(ctx, ch, values, installing(name, cfg.namespace), 0)
		out, err := in.RunWithContext(ctx, helmChart, helmvalues.Copy(values))
		if err := rendered(pre, err); err != nil {
			return Rendered{}, asFailure(err)
		}
		rel, _ := out.(*rspb.Release)
		return Rendered{Manifest: manifestOf(rel), Install: true}, nil
	}
	up := action.NewUpgrade(cfg.helm)
	up.Namespace = cfg.namespace
	up.DryRunStrategy = action.DryRunServer
	up.DisableOpenAPIValidation = skipClientSchemaCheck
	up.ResetValues = true
	up.WaitStrategy = waitStrategy(false)
	helmChart, pre := cfg.isolate(ctx, ch, values, upgrading(name, latest), 0)
	out, err := up.RunWithContext(ctx, name, helmChart, helmvalues.Copy(values))
	if err := rendered(pre, err); err != nil {
		return Rendered{}, asFailure(err)
	}
	rel, _ := out.(*rspb.Release)
	return Rendered{Manifest: manifestOf(rel), Current: latest.Manifest}, nil
}

func manifestOf(rel *rspb.Release) string {
	if rel == nil {
		return ""
	}
	return rel.Manifest
}
