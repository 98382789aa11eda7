package action

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/render"
)

// TestMain lets the test binary serve as the render worker, as the runner's binary does, so
// that these tests render in real worker processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == render.WorkerCommand {
		os.Exit(render.RunWorker(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func isolatedRenderer(t *testing.T) *render.Isolated {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.NewIsolated(render.Worker{Path: exe, Args: []string{render.WorkerCommand}},
		render.Limits{Memory: 256 << 20, Time: time.Minute, Output: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// isolatedConfig is f.config() rendering through r.
func (f *fakeCluster) isolatedConfig(r Renderer) *Config {
	c := f.config()
	c.renderer = r
	return c
}

// umbrellaChart is test/charts/umbrella with its subchart (test/charts/plain 1.0.0) in place,
// as `helm dependency build` leaves it.
func umbrellaChart(t *testing.T) *chart.Chart {
	ch := loadChart(t, "umbrella", "1.0.0")
	ch.SetDependencies(loadChart(t, "plain", "1.0.0"))
	return ch
}

// Charts with CRDs need a cluster (Helm's fake kube client cannot install them): see
// isolated_integration_test.go.

// sameRelease fails unless the isolated operation's release is what Helm made in-process:
// manifest, hooks, notes, values and, as stored, the original chart's templates.
func sameRelease(t *testing.T, isolated, inProcess *rspb.Release, original *chart.Chart) {
	t.Helper()
	if isolated.Manifest != inProcess.Manifest {
		t.Errorf("manifest:\n%s\nin-process:\n%s", isolated.Manifest, inProcess.Manifest)
	}
	if isolated.Info.Notes != inProcess.Info.Notes {
		t.Errorf("notes %q, in-process %q", isolated.Info.Notes, inProcess.Info.Notes)
	}
	if len(isolated.Hooks) != len(inProcess.Hooks) {
		t.Fatalf("%d hooks, in-process %d", len(isolated.Hooks), len(inProcess.Hooks))
	}
	for i, h := range isolated.Hooks {
		w := inProcess.Hooks[i]
		if h.Path != w.Path || h.Manifest != w.Manifest || !reflect.DeepEqual(h.Events, w.Events) {
			t.Errorf("hook %d = %s %v, in-process %s %v", i, h.Path, h.Events, w.Path, w.Events)
		}
	}
	if !reflect.DeepEqual(isolated.Chart.Templates, original.Templates) {
		t.Errorf("stored chart templates are not the original chart's: %v", templateNames(isolated.Chart))
	}
	for _, f := range isolated.Chart.Templates {
		if strings.Contains(string(f.Data), render.FuncName) {
			t.Errorf("stored template %s is a stub", f.Name)
		}
	}
}

func templateNames(ch *chart.Chart) []string {
	var names []string
	for _, f := range ch.Templates {
		names = append(names, f.Name+"="+string(f.Data))
	}
	return names
}

// stored reads the latest revision as `helm get` does, from release storage.
func stored(t *testing.T, c *Config, name string) *rspb.Release {
	t.Helper()
	out, err := action.NewGet(c.helm).Run(name)
	if err != nil {
		t.Fatal(err)
	}
	return asRelease(t, out)
}

func TestIsolatedInstallIsHelmsInstall(t *testing.T) {
	t.Parallel()
	r := isolatedRenderer(t)
	tests := []struct {
		name   string
		chart  func(t *testing.T) *chart.Chart
		values map[string]any
	}{
		{"the plain chart", func(t *testing.T) *chart.Chart { return loadChart(t, "plain", "1.0.0") },
			map[string]any{"message": "hi", "labels": map[string]any{"team": "a"}}},
		{"a chart with a subchart given values", umbrellaChart, nil},
		{"a chart with hooks", func(t *testing.T) *chart.Chart { return loadChart(t, "hooks", "1.0.0") }, nil},
		{"a chart with a values schema", func(t *testing.T) *chart.Chart { return loadChart(t, "schema", "1.0.0") },
			map[string]any{"replicaCount": float64(2), "mode": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plainCluster, isoCluster := newFakeCluster(), newFakeCluster()
			want, err := Install(context.Background(), plainCluster.config(), InstallRequest{
				Name: "app", Chart: tt.chart(t), Values: tt.values, Timeout: time.Minute,
			})
			if err != nil || want.Err != nil {
				t.Fatalf("in-process install: %v / %v", err, want.Err)
			}
			original := tt.chart(t)
			cfg := isoCluster.isolatedConfig(r)
			got, err := Install(context.Background(), cfg, InstallRequest{
				Name: "app", Chart: original, Values: tt.values, Timeout: time.Minute,
			})
			if err != nil || got.Err != nil {
				t.Fatalf("isolated install: %v / %v", err, got.Err)
			}
			if !reflect.DeepEqual(writesOf(got.Writes), writesOf(want.Writes)) {
				t.Fatalf("writes %+v, in-process %+v", writesOf(got.Writes), writesOf(want.Writes))
			}
			sameRelease(t, stored(t, cfg, "app"), stored(t, plainCluster.config(), "app"), original)
		})
	}
}

func TestIsolatedUpgradeIsHelmsUpgrade(t *testing.T) {
	t.Parallel()
	r := isolatedRenderer(t)
	plainCluster, isoCluster := newFakeCluster(), newFakeCluster()
	for _, f := range []*fakeCluster{plainCluster, isoCluster} {
		install(t, f, nil)
	}
	upgrade := func(cfg *Config, ch *chart.Chart) Result {
		t.Helper()
		res, err := Upgrade(context.Background(), cfg, UpgradeRequest{
			Name: "app", Chart: ch, Values: map[string]any{"message": "two"}, Timeout: time.Minute,
		})
		if err != nil || res.Err != nil {
			t.Fatalf("upgrade: %v / %v", err, res.Err)
		}
		return res
	}
	// hooks 1.1.0 labels its hook with .Release.Revision: the worker renders revision 2.
	want := upgrade(plainCluster.config(), loadChart(t, "hooks", "1.1.0"))
	original := loadChart(t, "hooks", "1.1.0")
	cfg := isoCluster.isolatedConfig(r)
	got := upgrade(cfg, original)
	if got.State.Revision != 2 || !reflect.DeepEqual(writesOf(got.Writes), writesOf(want.Writes)) {
		t.Fatalf("isolated upgrade: revision %d, writes %+v; in-process %+v", got.State.Revision, writesOf(got.Writes), writesOf(want.Writes))
	}
	sameRelease(t, stored(t, cfg, "app"), stored(t, plainCluster.config(), "app"), original)
}

func TestIsolatedRenderIsHelmsRender(t *testing.T) {
	t.Parallel()
	r := isolatedRenderer(t)
	f := newFakeCluster()
	install(t, f, nil)
	for _, name := range []string{"app", "new"} {
		want, err := Render(context.Background(), f.config(), name, loadChart(t, "plain", "1.1.0"), map[string]any{"message": "x"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Render(context.Background(), f.isolatedConfig(r), name, loadChart(t, "plain", "1.1.0"), map[string]any{"message": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("render of %s: isolated %+v, in-process %+v", name, got, want)
		}
	}
}

func TestIsolatedRenderFailures(t *testing.T) {
	t.Parallel()
	r := isolatedRenderer(t)
	tests := []struct {
		name     string
		template string
		// timeout is the operation's; it caps the render's time limit (a minute).
		timeout    time.Duration
		wantReason failure.Reason
		// wantMessage: "" is the message of the same install rendered in-process.
		wantMessage string
	}{
		{"a fail keeps Helm's reason and message", `{{ fail "no way" }}`, time.Minute, failure.RenderFailed, ""},
		{"a parse error keeps Helm's reason and message", `{{ if }}`, time.Minute, failure.RenderFailed, ""},
		{"an endless loop fails at the operation's timeout", `{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}`,
			3 * time.Second, failure.RenderLimitExceeded, "rendering chart hostile-1.0.0 did not finish within 3s"},
		{"a memory bomb fails at the memory limit", `{{ $s := "x" }}{{ range until 64 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }}`,
			time.Minute, failure.RenderLimitExceeded, "rendering chart hostile-1.0.0 exceeded the render memory limit of 256 MiB"},
		{"an output bomb fails at the output limit", `{{ range until 8 }}{{ "x" | repeat 1048576 }}{{ end }}`,
			time.Minute, failure.RenderLimitExceeded, "rendering chart hostile-1.0.0 produced more than 4 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCluster()
			req := InstallRequest{Name: "app", Chart: memChart("hostile", "1.0.0", map[string]string{"x.yaml": tt.template}), Timeout: tt.timeout}
			res, err := Install(context.Background(), f.isolatedConfig(r), req)
			if len(res.Writes) != 0 || failure.ReasonOf(err) != tt.wantReason {
				t.Fatalf("install: %v (%s), writes %+v; want %s and nothing written", err, failure.ReasonOf(err), res.Writes, tt.wantReason)
			}
			want := tt.wantMessage
			if want == "" {
				_, inProcess := Install(context.Background(), newFakeCluster().config(), req)
				want = inProcess.Error()
			}
			if err.Error() != want {
				t.Fatalf("message %q, want %q", err.Error(), want)
			}
		})
	}
}
