package storage

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	helmstorage "helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage/storagetest"
)

func rel(version int, status common.Status) *rspb.Release {
	return &rspb.Release{
		Name:    "app",
		Version: version,
		Info:    &rspb.Info{Status: status},
		Chart:   &chart.Chart{Metadata: &chart.Metadata{Name: "plain", Version: fmt.Sprintf("1.%d.0", version)}},
	}
}

func key(version int) string { return fmt.Sprintf("sh.helm.release.v1.app.v%d", version) }

// summary drops the times, which differ on every run.
func summary(ws []Write) []Write {
	out := make([]Write, len(ws))
	for i, w := range ws {
		if w.Time.IsZero() {
			w.Action = "write without time"
		}
		w.Time = zero
		out[i] = w
	}
	return out
}

func TestObserver(t *testing.T) {
	tests := []struct {
		name   string
		faulty *storagetest.Faulty
		want   []Write
	}{
		{
			name: "successful writes are recorded in order",
			want: []Write{
				{Create, 1, common.StatusPendingInstall, "1.1.0", zero},
				{Update, 1, common.StatusDeployed, "1.1.0", zero},
				{Create, 2, common.StatusPendingUpgrade, "1.2.0", zero},
				{Delete, 1, common.StatusDeployed, "1.1.0", zero},
			},
		},
		{
			name:   "a failed update is not recorded",
			faulty: &storagetest.Faulty{FailUpdate: 1},
			want: []Write{
				{Create, 1, common.StatusPendingInstall, "1.1.0", zero},
				{Create, 2, common.StatusPendingUpgrade, "1.2.0", zero},
				{Delete, 1, common.StatusPendingInstall, "1.1.0", zero},
			},
		},
		{
			name:   "a failed create or delete is not recorded",
			faulty: &storagetest.Faulty{FailCreate: 2, FailDelete: 1},
			want: []Write{
				{Create, 1, common.StatusPendingInstall, "1.1.0", zero},
				{Update, 1, common.StatusDeployed, "1.1.0", zero},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faulty := tt.faulty
			if faulty == nil {
				faulty = &storagetest.Faulty{}
			}
			faulty.Driver = driver.NewMemory()
			o := NewObserver(faulty)
			r1 := rel(1, common.StatusPendingInstall)
			_ = o.Create(key(1), r1)
			r1u := rel(1, common.StatusDeployed)
			_ = o.Update(key(1), r1u)
			_ = o.Create(key(2), rel(2, common.StatusPendingUpgrade))
			_, _ = o.Delete(key(1))
			// Helm keeps mutating the release it wrote: the write must keep what was written.
			r1.Info.Status, r1u.Info.Status = common.StatusFailed, common.StatusFailed
			if got := summary(o.Writes()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("writes:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

var zero = Write{}.Time

func TestObserverIsSafeForConcurrentWrites(t *testing.T) {
	o := NewObserver(driver.NewMemory())
	var wg sync.WaitGroup
	for i := 1; i <= 50; i++ {
		wg.Go(func() { _ = o.Create(key(i), rel(i, common.StatusDeployed)) })
	}
	wg.Wait()
	if n := len(o.Writes()); n != 50 || o.Len() != 50 {
		t.Fatalf("recorded %d writes (Len %d), want 50", n, o.Len())
	}
}

func TestObserverPassesErrorsThrough(t *testing.T) {
	o := NewObserver(&storagetest.Faulty{Driver: driver.NewMemory(), FailCreate: 1})
	if err := o.Create(key(1), rel(1, common.StatusPendingInstall)); !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("Create error = %v, want the driver's", err)
	}
	if _, err := o.Delete(key(9)); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatalf("Delete error = %v, want not found", err)
	}
	if len(o.Writes()) != 0 {
		t.Fatalf("failed writes recorded: %+v", o.Writes())
	}
}

func TestInstallWritesThroughObserver(t *testing.T) {
	ch, err := loader.Load(filepath.Join("..", "..", "..", "test", "charts", "plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	o := NewObserver(driver.NewMemory())
	cfg := action.NewConfiguration()
	cfg.Releases = helmstorage.Init(o)
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	cfg.Capabilities = chartcommon.DefaultCapabilities

	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = "app", "default"
	install.WaitStrategy = "hookOnly"
	if _, err := install.Run(ch, nil); err != nil {
		t.Fatal(err)
	}
	want := []Write{
		{Create, 1, common.StatusPendingInstall, "1.0.0", zero},
		{Update, 1, common.StatusDeployed, "1.0.0", zero},
	}
	if got := summary(o.Writes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("install writes:\n got %+v\nwant %+v", got, want)
	}
}

func TestObserverRestoresCharts(t *testing.T) {
	original := &chart.Chart{Metadata: &chart.Metadata{Name: "plain", Version: "1.0.0"},
		Templates: []*chartcommon.File{{Name: "templates/cm.yaml", Data: []byte("kind: ConfigMap")}}}
	stub := &chart.Chart{Metadata: original.Metadata,
		Templates: []*chartcommon.File{{Name: "templates/cm.yaml", Data: []byte("{{ stub }}")}}}
	mem := driver.NewMemory()
	obs := NewObserver(mem)
	obs.RestoreChart(func(c *chart.Chart) *chart.Chart {
		if c == stub {
			return original
		}
		return c
	})
	written := rel(1, common.StatusPendingInstall)
	written.Chart = stub
	if err := obs.Create(key(1), written); err != nil {
		t.Fatal(err)
	}
	written.Info.Status = common.StatusDeployed
	if err := obs.Update(key(1), written); err != nil {
		t.Fatal(err)
	}
	other := rel(2, common.StatusPendingRollback)
	if err := obs.Create(key(2), other); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  string
		want *chart.Chart
	}{{key(1), original}, {key(2), other.Chart}} {
		got, err := mem.Get(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.(*rspb.Release); r.Chart != tt.want {
			t.Errorf("%s stored with another chart: %+v", tt.key, r.Chart.Templates)
		}
	}
	if written.Chart != stub {
		t.Error("the caller's release must keep its own chart")
	}
	if s := summary(obs.Writes()); len(s) != 3 || s[1].Status != common.StatusDeployed {
		t.Errorf("writes = %+v", s)
	}
}
