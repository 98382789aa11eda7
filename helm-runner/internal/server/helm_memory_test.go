package server

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	helmaction "helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	helmstorage "helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
)

// helmMemory is release storage in Helm's memory driver with Helm's fake kube client, shared by
// every call of one runner (Options.HelmConfig): the runner's handlers and Helm's actions run for
// real, and nothing reaches a cluster.
type helmMemory struct {
	mem  *driver.Memory
	kube *kubefake.FailingKubeClient
}

func newHelmMemory() *helmMemory {
	mem := driver.NewMemory()
	mem.SetNamespace(testNamespace)
	return &helmMemory{
		mem:  mem,
		kube: &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
	}
}

// use makes a runner keep its releases in h.
func (h *helmMemory) use(o *Options) { o.HelmConfig = h.config }

func (h *helmMemory) config(_ *kube.Clients, namespace string, log *slog.Logger) (*action.Config, error) {
	cfg := helmaction.NewConfiguration(helmaction.ConfigurationSetLogger(log.Handler()))
	h.mem.SetNamespace(namespace)
	cfg.Releases = helmstorage.Init(h.mem)
	cfg.Releases.SetLogger(log.Handler())
	cfg.KubeClient = h.kube
	cfg.Capabilities = chartcommon.DefaultCapabilities.Copy()
	return action.NewConfigFrom(cfg, namespace), nil
}

// records describes every stored revision of release name, oldest first, with its status and
// labels: what a refused call must leave as it was.
func (h *helmMemory) records(t *testing.T, name string) []string {
	t.Helper()
	all, err := h.mem.Query(map[string]string{"name": name, "owner": "helm"})
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range all {
		rel, ok := r.(*rspb.Release)
		if !ok {
			t.Fatalf("stored release of type %T", r)
		}
		out = append(out, fmt.Sprintf("%d %s %v", rel.Version, rel.Info.Status, rel.Labels))
	}
	slices.Sort(out)
	return out
}

// logBuffer collects a runner's log lines (JSON, debug level and up).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// use makes a runner log into l.
func (l *logBuffer) use(o *Options) {
	o.Log = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
