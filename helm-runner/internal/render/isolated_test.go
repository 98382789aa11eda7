package render

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// TestMain lets the test binary serve as the render worker, as the runner's binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == WorkerCommand {
		os.Exit(RunWorker(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func testRenderer(t *testing.T, limits Limits) *Isolated {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewIsolated(Worker{Path: exe, Args: []string{WorkerCommand}}, limits)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// memChart builds a chart with the given templates (file name under templates/ to content).
func memChart(name string, templates map[string]string) *chart.Chart {
	ch := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: "1.0.0"},
		Values:   map[string]any{},
	}
	for _, file := range slices.Sorted(maps.Keys(templates)) {
		ch.Templates = append(ch.Templates, &common.File{Name: "templates/" + file, Data: []byte(templates[file])})
	}
	return ch
}

func request(ch *chart.Chart, values map[string]any) Request {
	return Request{
		Chart: ch, Values: values, Capabilities: common.DefaultCapabilities.Copy(),
		Release: common.ReleaseOptions{Name: "rel", Namespace: "apps", Revision: 1, IsInstall: true},
	}
}

func TestIsolatedLimits(t *testing.T) {
	t.Parallel()
	// Each case is stopped by one limit; the others are generous, so that a slow machine does
	// not stop a memory bomb at the time limit first.
	quick := Limits{Memory: 256 << 20, Time: 3 * time.Second, Output: 1 << 20}
	generous := Limits{Memory: 256 << 20, Time: time.Minute, Output: 1 << 20}
	tests := []struct {
		name     string
		limits   Limits
		template string
		want     string
	}{
		{
			"an endless loop is stopped at the time limit", quick,
			`{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}`,
			"rendering chart hostile-1.0.0 did not finish within 3s",
		},
		{
			"a string that doubles without end is stopped at the memory limit", generous,
			`{{ $s := "x" }}{{ range until 64 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }}`,
			"rendering chart hostile-1.0.0 exceeded the render memory limit of 256 MiB",
		},
		{
			"an output bomb is stopped at the output limit", generous,
			`{{ range until 8 }}{{ "x" | repeat 1048576 }}{{ end }}`,
			"rendering chart hostile-1.0.0 produced more than 1 MiB",
		},
		{
			// 600 KiB that JSON escapes to 3.5 MiB: past the worker's own check, stopped by the
			// runner as it reads.
			"output that grows when encoded is stopped at the output limit", generous,
			`{{ "<" | repeat 614400 }}`,
			"rendering chart hostile-1.0.0 produced more than 1 MiB",
		},
		{
			"an endless template recursion is stopped at the memory limit", generous,
			`{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`,
			"rendering chart hostile-1.0.0 exceeded the render memory limit of 256 MiB: template recursion too deep",
		},
		{
			"an endless tpl recursion is stopped at the memory limit", generous,
			`{{ $_ := set .Values "r" "{{ tpl .Values.r . }}" }}{{ tpl .Values.r . }}`,
			"rendering chart hostile-1.0.0 exceeded the render memory limit of 256 MiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := testRenderer(t, tt.limits)
			_, err := r.Render(context.Background(), request(memChart("hostile", map[string]string{"x.yaml": tt.template}), nil))
			if failure.ReasonOf(err) != failure.RenderLimitExceeded || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v (%s), want %s: %q", err, failure.ReasonOf(err), failure.RenderLimitExceeded, tt.want)
			}
		})
	}
}

func TestIsolatedTemplateErrors(t *testing.T) {
	t.Parallel()
	r := testRenderer(t, Limits{})
	tests := []struct {
		name     string
		template string
		want     string
	}{
		{"fail keeps Helm's message", `{{ fail "no way" }}`, "execution error at (broken/templates/x.yaml:1:3): no way"},
		{"required keeps Helm's message", `{{ required "name is required" .Values.name }}`,
			"execution error at (broken/templates/x.yaml:1:3): name is required"},
		{"a parse error keeps Helm's message", `{{ if }}`, "parse error at (broken/templates/x.yaml:1): missing value for if"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := memChart("broken", map[string]string{"x.yaml": tt.template})
			_, err := r.Render(context.Background(), request(ch, nil))
			var ce *ChartError
			if !errors.As(err, &ce) || ce.Message != tt.want {
				t.Fatalf("err = %v, want a ChartError %q", err, tt.want)
			}
			// The same inputs rendered by Helm's engine in this process fail the same way.
			if _, inProcess := inProcessRender(t, ch, request(ch, nil)); inProcess == nil || inProcess.Error() != tt.want {
				t.Fatalf("in-process error = %v", inProcess)
			}
		})
	}
}

// inProcessRender renders as Helm's install action does, in this process.
func inProcessRender(t *testing.T, ch *chart.Chart, req Request) (map[string]string, error) {
	t.Helper()
	if err := chartutil.ProcessDependencies(ch, req.Values); err != nil {
		t.Fatal(err)
	}
	vals, err := util.ToRenderValuesWithSchemaValidation(ch, req.Values, req.Release, req.Capabilities, false)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Engine{}.RenderWithContext(context.Background(), ch, vals)
}

func loadTestChart(t *testing.T, name, version string) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "..", "..", "test", "charts", name, version))
	if err != nil {
		t.Fatalf("load chart %s %s: %v", name, version, err)
	}
	return ch
}

// umbrella is a parent chart with a subchart (aliased twice, one alias disabled), values
// imported from it, a partial, NOTES and a hook.
func umbrella(t *testing.T) *chart.Chart {
	sub := loadTestChart(t, "plain", "1.0.0")
	sub.Values["exports"] = map[string]any{"shared": map[string]any{"greeting": "hello"}}
	parent := memChart("umbrella", map[string]string{
		"_helpers.tpl": `{{ define "umbrella.name" }}{{ .Release.Name }}-{{ .Chart.Name }}{{ end }}`,
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"umbrella.name\" . }}\n" +
			"data:\n  greeting: {{ .Values.greeting | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n" +
			"  revision: {{ .Release.Revision | quote }}\n",
		"hook.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hook\n" +
			"  annotations:\n    helm.sh/hook: pre-install\n",
		"NOTES.txt": "Installed {{ .Release.Name }} in {{ .Release.Namespace }}.",
	})
	parent.Metadata.Dependencies = []*chart.Dependency{
		{Name: "plain", Version: "1.0.0", Alias: "first", ImportValues: []any{"shared"}},
		{Name: "plain", Version: "1.0.0", Alias: "second", Condition: "second.enabled"},
	}
	parent.Values = map[string]any{"first": map[string]any{"message": "from-umbrella"}, "second": map[string]any{"enabled": false}}
	parent.SetDependencies(sub)
	return parent
}

func TestIsolatedRendersAsHelm(t *testing.T) {
	t.Parallel()
	r := testRenderer(t, Limits{})
	tests := []struct {
		name   string
		chart  func(t *testing.T) *chart.Chart
		values map[string]any
	}{
		{"the plain chart", func(t *testing.T) *chart.Chart { return loadTestChart(t, "plain", "1.0.0") },
			map[string]any{"message": "hi", "replicaCount": float64(3), "labels": map[string]any{"team": "a"}}},
		{"a chart with aliased, disabled and importing subcharts, a partial, NOTES and a hook", umbrella, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.Render(context.Background(), request(tt.chart(t), tt.values))
			if err != nil {
				t.Fatal(err)
			}
			want, err := inProcessRender(t, tt.chart(t), request(nil, tt.values))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("isolated render differs from Helm's in-process render:\n got %q\nwant %q", got, want)
			}
			if r.PeakRSS() <= 0 {
				t.Fatal("the worker reported no peak RSS")
			}
		})
	}
}

func TestIsolatedWaitsForASlot(t *testing.T) {
	t.Parallel()
	r := testRenderer(t, Limits{Concurrency: 1, Time: 5 * time.Second})
	slow := memChart("slow", map[string]string{"x.yaml": `{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}`})
	done := make(chan error, 1)
	go func() {
		_, err := r.Render(context.Background(), request(slow, nil))
		done <- err
	}()
	// Once the slot is taken, a second render waits for it until its deadline.
	waitUntil(t, func() bool { return len(r.slots) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.Render(ctx, request(memChart("quick", map[string]string{"x.yaml": "a: b"}), nil))
	if failure.ReasonOf(err) != failure.Timeout || !strings.Contains(err.Error(), "all 1 render slots stayed busy") {
		t.Fatalf("second render: %v", err)
	}
	if err := <-done; failure.ReasonOf(err) != failure.RenderLimitExceeded {
		t.Fatalf("first render: %v", err)
	}
}

func TestIsolatedTimeLimitIsTheOperationTimeout(t *testing.T) {
	t.Parallel()
	r := testRenderer(t, Limits{Time: time.Minute})
	req := request(memChart("slow", map[string]string{"x.yaml": `{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}`}), nil)
	req.Timeout = 2 * time.Second
	_, err := r.Render(context.Background(), req)
	if failure.ReasonOf(err) != failure.RenderLimitExceeded || err.Error() != "rendering chart slow-1.0.0 did not finish within 2s" {
		t.Fatalf("err = %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostileFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		chart  string
		limits Limits
		want   string
	}{
		{"hostile-loop", Limits{Time: 3 * time.Second}, "rendering chart hostile-loop-1.0.0 did not finish within 3s"},
		{"hostile-memory", Limits{Memory: 256 << 20}, "rendering chart hostile-memory-1.0.0 exceeded the render memory limit of 256 MiB"},
		{"hostile-output", Limits{}, "rendering chart hostile-output-1.0.0 produced more than 32 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.chart, func(t *testing.T) {
			t.Parallel()
			r := testRenderer(t, tt.limits)
			_, err := r.Render(context.Background(), request(loadTestChart(t, tt.chart, "1.0.0"), nil))
			if failure.ReasonOf(err) != failure.RenderLimitExceeded || err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// BenchmarkRenderPlain is the cost of rendering chart plain in a worker process against
// rendering it in this process (what Helm's action does in-process). PLANTON_RENDER_WORKER may
// name the runner's binary to start instead of this test binary.
func BenchmarkRenderPlain(b *testing.B) {
	ch, err := loader.Load(filepath.Join("..", "..", "..", "test", "charts", "plain", "1.0.0"))
	if err != nil {
		b.Fatal(err)
	}
	values := map[string]any{"message": "bench"}
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := renderFiles(context.Background(), copyChart(ch), request(ch, values)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("isolated", func(b *testing.B) {
		worker := Worker{Path: os.Getenv("PLANTON_RENDER_WORKER"), Args: []string{WorkerCommand}}
		if worker.Path == "" {
			if worker.Path, err = os.Executable(); err != nil {
				b.Fatal(err)
			}
		}
		r, err := NewIsolated(worker, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := r.Render(context.Background(), request(ch, values)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(r.PeakRSS())/(1<<20), "worker-peak-MiB")
	})
}

// copyChart is a private copy of ch for one in-process render (dependency processing changes it).
func copyChart(ch *chart.Chart) *chart.Chart {
	s := Stub(ch)
	return s.Restore(s.Chart)
}
