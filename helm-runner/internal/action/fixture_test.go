package action

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	helmstorage "helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage/storagetest"
)

const testNamespace = "apps"

// fakeCluster is Helm's memory driver behind a fault-injecting driver, and Helm's fake kube
// client, whose errors tests set.
type fakeCluster struct {
	storage *storagetest.Faulty
	kube    *kubefake.FailingKubeClient
}

func newFakeCluster() *fakeCluster {
	mem := driver.NewMemory()
	mem.SetNamespace(testNamespace)
	return &fakeCluster{
		storage: &storagetest.Faulty{Driver: mem},
		kube:    &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
	}
}

// config returns a fresh Config over the cluster, as the server makes one per call.
func (f *fakeCluster) config() *Config {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	cfg.Releases = helmstorage.Init(f.storage)
	cfg.KubeClient = f.kube
	cfg.Capabilities = chartcommon.DefaultCapabilities.Copy()
	return NewConfigFrom(cfg, testNamespace)
}

// loadChart loads a published test chart from test/charts.
func loadChart(t *testing.T, name, version string) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "..", "..", "test", "charts", name, version))
	if err != nil {
		t.Fatalf("load chart %s %s: %v", name, version, err)
	}
	return ch
}

// memChart builds a chart in memory with the given templates (file name under templates/ to
// content).
func memChart(name, version string, templates map[string]string) *chart.Chart {
	ch := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version},
		Values:   map[string]any{},
	}
	for file, body := range templates {
		ch.Templates = append(ch.Templates, &chartcommon.File{Name: "templates/" + file, Data: []byte(body)})
	}
	return ch
}

// write is a storage write without its time, for comparisons.
type write struct {
	Action   storage.Action
	Revision int
	Status   common.Status
}

func writesOf(ws []storage.Write) []write {
	out := make([]write, len(ws))
	for i, w := range ws {
		out[i] = write{w.Action, w.Revision, w.Status}
	}
	return out
}

func asRelease(t *testing.T, r release.Releaser) *rspb.Release {
	t.Helper()
	rel, ok := r.(*rspb.Release)
	if !ok {
		t.Fatalf("release of type %T", r)
	}
	return rel
}
