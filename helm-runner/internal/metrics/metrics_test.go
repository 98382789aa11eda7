package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

var testVerbs = []string{"install", "upgrade"}

func newMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, testVerbs)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// sample is one series of a gathered family: its labels and its value (a histogram's count).
type sample struct {
	labels map[string]string
	value  float64
}

func gather(t *testing.T, g prometheus.Gatherer) map[string][]sample {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string][]sample{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.value = float64(m.GetHistogram().GetSampleCount())
			default:
				s.value = m.GetUntyped().GetValue()
			}
			out[f.GetName()] = append(out[f.GetName()], s)
		}
	}
	return out
}

// value is the value of the series of name with exactly labels, failing when there is none.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	all := gather(t, g)
	for _, s := range all[name] {
		if maps.Equal(s.labels, labels) {
			return s.value
		}
	}
	t.Fatalf("no series %s%v; have %v", name, labels, all[name])
	return 0
}

func TestNewRegistersTheContractsNamesWithZeroSeries(t *testing.T) {
	_, reg := newMetrics(t)
	all := gather(t, reg)
	for name, want := range map[string][]map[string]string{
		"planton_helm_runner_operations_in_flight": {{"verb": "install"}, {"verb": "upgrade"}},
		"planton_helm_runner_chart_pulls_total": {
			{"source": "http", "outcome": "success"}, {"source": "http", "outcome": "error"},
			{"source": "oci", "outcome": "success"}, {"source": "oci", "outcome": "error"},
		},
		"planton_helm_runner_chart_cache_requests_total":  {{"result": "hit"}, {"result": "miss"}},
		"planton_helm_runner_chart_cache_evictions_total": {{"tier": "disk"}, {"tier": "memory"}},
	} {
		got := all[name]
		if len(got) != len(want) {
			t.Errorf("%s has series %v, want %v", name, got, want)
			continue
		}
		for _, labels := range want {
			if !slices.ContainsFunc(got, func(s sample) bool { return maps.Equal(s.labels, labels) && s.value == 0 }) {
				t.Errorf("%s has no zero series %v: %v", name, labels, got)
			}
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if len(all[name]) != 1 {
			t.Errorf("no %s: the Go runtime and process collectors are missing", name)
		}
	}
}

func TestOperationStartedCountsInFlightUntilEnded(t *testing.T) {
	m, reg := newMetrics(t)
	endA := m.OperationStarted("install")
	endB := m.OperationStarted("install")
	if v := value(t, reg, "planton_helm_runner_operations_in_flight", map[string]string{"verb": "install"}); v != 2 {
		t.Fatalf("in flight = %v, want 2", v)
	}
	endA("success")
	endB("failure")
	m.OperationStarted("upgrade")("error")
	if v := value(t, reg, "planton_helm_runner_operations_in_flight", map[string]string{"verb": "install"}); v != 0 {
		t.Fatalf("in flight after both ended = %v, want 0", v)
	}
	for _, tt := range []struct {
		verb, outcome string
	}{{"install", "success"}, {"install", "failure"}, {"upgrade", "error"}} {
		if v := value(t, reg, "planton_helm_runner_operation_duration_seconds", map[string]string{"verb": tt.verb, "outcome": tt.outcome}); v != 1 {
			t.Errorf("operations %s %s = %v, want 1", tt.verb, tt.outcome, v)
		}
	}
}

func TestOutcomesFromErrors(t *testing.T) {
	limit := failure.New(failure.RenderLimitExceeded, "rendering chart x: memory limit of 64MiB reached")
	timeout := errors.Join(errors.New("resource Deployment/ns/web not ready"), context.DeadlineExceeded)
	tests := []struct {
		name   string
		record func(*Metrics)
		metric string
		labels map[string]string
	}{
		{"a render without error is a success", func(m *Metrics) { m.RenderEnded(time.Millisecond, nil) },
			"planton_helm_runner_render_duration_seconds", map[string]string{"outcome": "success"}},
		{"a render stopped at a limit is limit_exceeded, however wrapped", func(m *Metrics) { m.RenderEnded(time.Second, fmt.Errorf("install: %w", limit)) },
			"planton_helm_runner_render_duration_seconds", map[string]string{"outcome": "limit_exceeded"}},
		{"a template error is an error", func(m *Metrics) { m.RenderEnded(time.Second, failure.New(failure.RenderFailed, "bad template")) },
			"planton_helm_runner_render_duration_seconds", map[string]string{"outcome": "error"}},
		{"a wait that ended at its deadline is a timeout", func(m *Metrics) { m.WaitEnded("resources", time.Minute, timeout) },
			"planton_helm_runner_wait_duration_seconds", map[string]string{"kind": "resources", "outcome": "timeout"}},
		{"a failed hook ends its wait with an error", func(m *Metrics) {
			m.WaitEnded("hooks", time.Second, errors.New("resource Job/ns/pre not ready. status: Failed"))
		},
			"planton_helm_runner_wait_duration_seconds", map[string]string{"kind": "hooks", "outcome": "error"}},
		{"a cancelled wait is an error, not a timeout", func(m *Metrics) { m.WaitEnded("tests", time.Second, context.Canceled) },
			"planton_helm_runner_wait_duration_seconds", map[string]string{"kind": "tests", "outcome": "error"}},
		{"a wait that saw every object ready is a success", func(m *Metrics) { m.WaitEnded("tests", time.Second, nil) },
			"planton_helm_runner_wait_duration_seconds", map[string]string{"kind": "tests", "outcome": "success"}},
		{"a failed pull is an error of its source", func(m *Metrics) { m.ChartPulled("oci", failure.New(failure.AuthFailed, "denied")) },
			"planton_helm_runner_chart_pulls_total", map[string]string{"source": "oci", "outcome": "error"}},
		{"a pull is a success of its source", func(m *Metrics) { m.ChartPulled("http", nil) },
			"planton_helm_runner_chart_pulls_total", map[string]string{"source": "http", "outcome": "success"}},
		{"a lookup served from a cache is a hit", func(m *Metrics) { m.ChartCacheLookup(true) },
			"planton_helm_runner_chart_cache_requests_total", map[string]string{"result": "hit"}},
		{"a lookup that pulled is a miss", func(m *Metrics) { m.ChartCacheLookup(false) },
			"planton_helm_runner_chart_cache_requests_total", map[string]string{"result": "miss"}},
		{"an eviction counts in its tier", func(m *Metrics) { m.ChartCacheEvicted("memory") },
			"planton_helm_runner_chart_cache_evictions_total", map[string]string{"tier": "memory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t)
			tt.record(m)
			if v := value(t, reg, tt.metric, tt.labels); v != 1 {
				t.Fatalf("%s%v = %v, want 1", tt.metric, tt.labels, v)
			}
		})
	}
}

func TestObserveChartCacheReadsTheSizesAtEveryScrape(t *testing.T) {
	m, reg := newMetrics(t)
	disk, memory := int64(8192), int64(1000)
	if err := m.ObserveChartCache(func() (int64, int64) { return disk, memory }); err != nil {
		t.Fatal(err)
	}
	if v := value(t, reg, "planton_helm_runner_chart_cache_bytes", map[string]string{"tier": "disk"}); v != 8192 {
		t.Fatalf("disk bytes = %v, want 8192", v)
	}
	disk, memory = 4096, 0
	if v := value(t, reg, "planton_helm_runner_chart_cache_bytes", map[string]string{"tier": "disk"}); v != 4096 {
		t.Fatalf("disk bytes after a change = %v, want 4096", v)
	}
	if v := value(t, reg, "planton_helm_runner_chart_cache_bytes", map[string]string{"tier": "memory"}); v != 0 {
		t.Fatalf("memory bytes = %v, want 0", v)
	}
}

// The one test of this package that sets client-go's process-wide hooks.
func TestObserveClientGoCountsEveryKubernetesRequest(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/namespaces/missing" {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default"}}`))
	}))
	defer api.Close()
	m, reg := newMetrics(t)
	if err := m.ObserveClientGo(); err != nil {
		t.Fatal(err)
	}
	other, _ := newMetrics(t)
	if err := other.ObserveClientGo(); !errors.Is(err, ErrClientGoObserved) {
		t.Fatalf("a second ObserveClientGo returned %v, want ErrClientGoObserved", err)
	}

	client, err := kubernetes.NewForConfig(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, "missing", metav1.GetOptions{}); err == nil {
		t.Fatal("reading a missing namespace succeeded")
	}
	u, err := url.Parse(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if v := value(t, reg, "rest_client_requests_total", map[string]string{"code": "200", "method": "GET", "host": host}); v != 2 {
		t.Errorf(`rest_client_requests_total{code="200"} = %v, want 2`, v)
	}
	if v := value(t, reg, "rest_client_requests_total", map[string]string{"code": "404", "method": "GET", "host": host}); v != 1 {
		t.Errorf(`rest_client_requests_total{code="404"} = %v, want 1`, v)
	}
	if v := value(t, reg, "rest_client_request_duration_seconds", map[string]string{"verb": "GET", "host": host}); v != 3 {
		t.Errorf("rest_client_request_duration_seconds count = %v, want 3", v)
	}
}
