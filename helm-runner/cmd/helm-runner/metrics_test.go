package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/health"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/metrics"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/server"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// This binary links controller-runtime, whose package init claims client-go's one-time metrics
// registration: the runner's Kubernetes requests must count in the runner's registry all the
// same, and be served with everything else at /metrics.
func TestMetricsEndpointServesTheRunnersRegistry(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default"}}`))
	}))
	defer api.Close()
	registry := prometheus.NewRegistry()
	met, err := metrics.New(registry, server.Verbs())
	if err != nil {
		t.Fatal(err)
	}
	if err := met.ObserveClientGo(); err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	healthServer := health.NewServer()
	endpoint := httptest.NewServer(metricsHandler(registry, healthServer))
	defer endpoint.Close()

	code, body := get(t, endpoint.URL+"/metrics")
	host := strings.TrimPrefix(api.URL, "http://")
	for _, want := range []string{
		`rest_client_requests_total{code="200",host="` + host + `",method="GET"} 1`,
		`rest_client_request_duration_seconds_count{host="` + host + `",verb="GET"} 1`,
		`planton_helm_runner_operations_in_flight{verb="install"} 0`,
		`planton_helm_runner_chart_cache_requests_total{result="hit"} 0`,
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}

	if code, body := get(t, endpoint.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz while serving = %d %q, want 200 ok", code, body)
	}
	healthServer.Shutdown()
	if code, _ := get(t, endpoint.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz once shutting down = %d, want 503", code)
	}
}
