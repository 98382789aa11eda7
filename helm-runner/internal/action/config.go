// Package action performs one Helm SDK operation per call on one release: state, install,
// upgrade, rollback, uninstall, test and unlock. Each function is a thin wrapper around the
// Helm action of the same name and does not determine if there is a desire to perform the
// action: the reconciler decides, this package executes and reports.
//
// Every mutating function returns a Result with the writes Helm made to release storage, as
// observed by a wrapping storage driver, and a plain error only when nothing was written. A
// failure after something was written is Result.Err: the caller must record it, not retry
// blindly.
package action

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	helmkube "helm.sh/helm/v4/pkg/kube"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/client-go/rest"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/helmvalues"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/render"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

// skipClientSchemaCheck turns off Helm's client-side OpenAPI check of rendered objects. Helm
// sends every create and apply with field validation Strict, so the API server rejects unknown
// or invalid fields anyway; the client-side check only asks whether the server supports that,
// and to answer it parses the group-version's whole OpenAPI v3 document on every operation
// (76% of the runner's CPU at 20 concurrent installs, measured with --debug-addr). The cost of
// skipping it: an object with an unknown field now fails at the server, after the pending
// revision was written (an Outcome), instead of before anything was written.
const skipClientSchemaCheck = true

// ConfigDigestLabel is the release label holding the config digest given to Install or Upgrade
// (Helm keeps release labels on its storage Secret, not in the release JSON).
const ConfigDigestLabel = "helm.project-planton.org/config-digest"

// FieldManager is the server-side apply field manager of every object Helm applies for the
// runner: the Helm CLI's, so releases stay manageable by the CLI and drift correction (which
// uses the same name) restores Helm's own fields.
const FieldManager = "helm"

var fieldManagerOnce sync.Once

// Config is Helm's configuration for operations on releases of one namespace, with release
// storage observed. Create one per call: it is cheap, and its Helm configuration is not safe for
// concurrent operations.
type Config struct {
	helm      *action.Configuration
	observer  *storage.Observer
	namespace string
	// clients supplies cached cluster capabilities; nil when built by NewConfigFrom.
	clients *kube.Clients
	// kube is Helm's kube client with the runner's waiter; nil when built by NewConfigFrom.
	kube *kube.HelmClient
	// renderer renders chart templates outside this process; nil: Helm renders in-process.
	renderer Renderer
}

// Renderer renders a chart's templates outside the runner's process (render.Isolated), so that
// a hostile chart cannot exhaust the runner. See Config.isolate.
type Renderer interface {
	Render(ctx context.Context, req render.Request) (map[string]string, error)
}

// ConfigOption changes a Config.
type ConfigOption func(*Config)

// WithRenderer makes installs, upgrades and renders (diff) run the chart's templates through r
// instead of in the runner's process; nil keeps Helm's in-process rendering.
func WithRenderer(r Renderer) ConfigOption {
	return func(c *Config) { c.renderer = r }
}

// ConfigsRenderingWith returns a constructor like NewConfig whose Configs render through r
// (WithRenderer), for server.Options.HelmConfig.
func ConfigsRenderingWith(r Renderer) func(clients *kube.Clients, namespace string, logger *slog.Logger) (*Config, error) {
	return func(clients *kube.Clients, namespace string, logger *slog.Logger) (*Config, error) {
		return newConfig(clients, namespace, logger, WithRenderer(r))
	}
}

// NewConfig returns a Config for releases in namespace, calling Kubernetes through clients
// (shared discovery, REST mapping and capabilities) and storing releases in Secrets, as the Helm
// CLI does. Helm's logs go to logger (nil: discarded) with values and error texts redacted.
// Templates are rendered in-process (see ConfigsRenderingWith).
func NewConfig(clients *kube.Clients, namespace string, logger *slog.Logger) (*Config, error) {
	return newConfig(clients, namespace, logger)
}

func newConfig(clients *kube.Clients, namespace string, logger *slog.Logger, opts ...ConfigOption) (*Config, error) {
	fieldManagerOnce.Do(func() {
		if helmkube.ManagedFieldsManager == "" {
			helmkube.ManagedFieldsManager = FieldManager
		}
	})
	var handler slog.Handler = slog.DiscardHandler
	if logger != nil {
		handler = redactingHandler{logger.Handler()}
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(handler))
	if err := cfg.Init(clients, namespace, "secret"); err != nil {
		return nil, failure.Wrap(failure.Internal, err, "initialise Helm")
	}
	kc, ok := cfg.KubeClient.(*helmkube.Client)
	if !ok {
		return nil, failure.New(failure.Internal, "initialise Helm: kube client of type %T", cfg.KubeClient)
	}
	// Helm's kube client takes its default namespace from the kubeconfig loader; the clients
	// serve every namespace, so set the release namespace here.
	kc.Namespace = namespace
	// Helm's waits use the runner's waiter (see kube.HelmClient).
	hc := clients.HelmClient(kc)
	cfg.KubeClient = hc
	c := NewConfigFrom(cfg, namespace, opts...)
	c.clients, c.kube = clients, hc
	return c, nil
}

// NewConfigFrom wraps an initialised Helm configuration (tests: Helm's memory driver and fake
// kube client), observing its release storage from now on.
func NewConfigFrom(cfg *action.Configuration, namespace string, opts ...ConfigOption) *Config {
	obs := storage.NewObserver(cfg.Releases.Driver)
	cfg.Releases.Driver = obs
	c := &Config{helm: cfg, observer: obs, namespace: namespace}
	for _, o := range opts {
		o(c)
	}
	return c
}

// useCachedCapabilities gives Helm the cluster capabilities cached per identity, so that it
// does not invalidate and re-read discovery for every operation. A chart with CRDs to install
// is left to Helm, which reads discovery again once the CRDs exist.
func (c *Config) useCachedCapabilities(ch *chart.Chart, installsCRDs bool) error {
	if c.clients == nil || (installsCRDs && len(ch.CRDObjects()) > 0) {
		return nil
	}
	caps, err := c.clients.Capabilities()
	if err != nil {
		return asFailure(fmt.Errorf("read cluster capabilities: %w", err))
	}
	c.helm.Capabilities = caps
	return nil
}

// isolate prepares ch (the operation's private copy) for Helm. Without a renderer it returns
// ch: Helm renders it in-process. With one it returns a stubbed copy (render.Stub) whose
// templates return what the renderer renders from ch for release, and makes every release
// record Helm writes through c store ch's templates, not the stubs. Helm then does everything
// else (dependencies, schema, hooks, NOTES, manifest order, storage) itself, and no template
// code of the chart runs in this process.
//
// The render happens when Helm first executes a stub, so it sees the capabilities Helm renders
// with (read after the chart's CRDs were installed). Helm reports a failing stub inside its own
// template error; the caller reports pre.Err() instead (see rendered).
func (c *Config) isolate(ctx context.Context, ch *chart.Chart, values map[string]any, release common.ReleaseOptions,
	timeout time.Duration) (*chart.Chart, *render.Prerender) {
	if c.renderer == nil {
		return ch, nil
	}
	stubbed := render.Stub(ch)
	values = helmvalues.Copy(values)
	pre := render.NewPrerender(func() (map[string]string, error) {
		cluster, err := c.lookupConfig()
		if err != nil {
			return nil, err
		}
		return c.renderer.Render(ctx, render.Request{
			Chart: ch, Values: values, Release: release, Capabilities: c.helm.Capabilities, Cluster: cluster, Timeout: timeout,
		})
	})
	c.helm.CustomTemplateFuncs = pre.Funcs()
	c.observer.RestoreChart(stubbed.Restore)
	return stubbed.Chart, pre
}

// installing is what templates see as .Release when Helm installs release name (Helm's
// install renders revision 1 even when it replaces an uninstalled release).
func installing(name, namespace string) common.ReleaseOptions {
	return common.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
}

// upgrading is what templates see as .Release when Helm upgrades the release whose latest
// revision is latest.
func upgrading(name string, latest *rspb.Release) common.ReleaseOptions {
	return common.ReleaseOptions{Name: name, Namespace: latest.Namespace, Revision: latest.Version + 1, IsUpgrade: true}
}

// rendered is Helm's error of an operation that used pre, with the render's own failure in
// place of Helm's wrapping of it.
func rendered(pre *render.Prerender, err error) error {
	if perr := pre.Err(); err != nil && perr != nil {
		return perr
	}
	return err
}

// lookupConfig is the REST config Helm's engine would give `lookup`: the identity's, when Helm
// talks to a cluster at all.
func (c *Config) lookupConfig() (*rest.Config, error) {
	if c.helm.RESTClientGetter == nil {
		return nil, nil
	}
	cfg, err := c.helm.RESTClientGetter.ToRESTConfig()
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "REST config for lookups")
	}
	return cfg, nil
}
