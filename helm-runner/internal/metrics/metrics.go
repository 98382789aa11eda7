// Package metrics defines the runner's Prometheus metrics (README "helm-runner metrics") on a
// registry the caller owns, never Prometheus' global one, so that a test can read them from a
// fresh registry. The packages that produce them depend only on small interfaces of their own
// (server.Recorder, chart.Recorder, render.Recorder, kube.WaitRecorder), which *Metrics
// implements; the label values are theirs and the contract's.
//
// Every label has a small, closed set of values: no metric is labelled by release, namespace,
// chart or anything else a tenant names.
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

const namespace = "planton_helm_runner"

// Label values this package decides itself, from an error.
const (
	// Success is the outcome of a chart pull, render or wait that returned no error.
	Success = "success"
	// Error is the outcome of a chart pull, render or wait that failed otherwise.
	Error = "error"
	// LimitExceeded is the outcome of a render stopped at a limit (RENDER_LIMIT_EXCEEDED).
	LimitExceeded = "limit_exceeded"
	// Timeout is the outcome of a wait whose deadline passed first.
	Timeout = "timeout"
)

// operationBuckets spans a state read (milliseconds) to an install waiting for its timeout
// (at most an hour); the same as the reconciler's planton_helm_runner_request_duration_seconds,
// so that the two sides of a call can be compared bucket by bucket.
var operationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// renderBuckets spans a small chart rendered in-process to a render stopped at its time limit
// (--render-time-limit, 60 s by default).
var renderBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// waitBuckets spans objects ready at the first read (the waiter's first poll is 100 ms) to a
// wait ending at an operation's timeout.
var waitBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// restBuckets are Kubernetes' own for rest_client_request_duration_seconds (component-base),
// so that dashboards made for Kubernetes components read the runner's too.
var restBuckets = []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}

// Metrics are the runner's metrics, registered on one registry. Safe for concurrent use.
type Metrics struct {
	reg               prometheus.Registerer
	operationDuration *prometheus.HistogramVec
	inFlight          *prometheus.GaugeVec
	chartPulls        *prometheus.CounterVec
	cacheRequests     *prometheus.CounterVec
	cacheEvictions    *prometheus.CounterVec
	renderDuration    *prometheus.HistogramVec
	waitDuration      *prometheus.HistogramVec
	restRequests      *prometheus.CounterVec
	restDuration      *prometheus.HistogramVec
}

// New registers the runner's metrics, with the Go runtime and process collectors, on reg.
// Series whose label values are known in advance (in-flight operations of each of verbs, chart
// pulls, cache requests and evictions) start at zero, so that rates and ratios are defined from
// the first scrape. The chart cache's bytes appear once ObserveChartCache is called; client-go's
// metrics count once ObserveClientGo is.
func New(reg prometheus.Registerer, verbs []string) (*Metrics, error) {
	m := &Metrics{
		reg: reg,
		operationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "operation_duration_seconds",
			Help: "Duration of the runner's Helm operations (one per gRPC call), by verb and outcome: success; " +
				"failure (Helm failed after writing release storage); error (a gRPC error, nothing written)",
			Buckets: operationBuckets,
		}, []string{"verb", "outcome"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "operations_in_flight",
			Help: "Helm operations in progress, by verb",
		}, []string{"verb"}),
		chartPulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "chart_pulls_total",
			Help: "Chart archives downloaded from a repository (not served from the cache), by source (http, oci) and outcome",
		}, []string{"source", "outcome"}),
		cacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "chart_cache_requests_total",
			Help: "Chart lookups by result: hit (served from memory or disk) or miss (pulled from the repository); " +
				"concurrent lookups of one chart count once",
		}, []string{"result"}),
		cacheEvictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "chart_cache_evictions_total",
			Help: "Chart archives dropped from a cache tier (disk, memory) to stay within its byte budget",
		}, []string{"tier"}),
		renderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "render_duration_seconds",
			Help: "Duration of isolated chart renders (waiting for a render slot included), by outcome: " +
				"success, error, limit_exceeded (time, memory or output limit)",
			Buckets: renderBuckets,
		}, []string{"outcome"}),
		waitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "wait_duration_seconds",
			Help:    "Duration of waits for a release's objects, by kind (resources, hooks, tests) and outcome (success, timeout, error)",
			Buckets: waitBuckets,
		}, []string{"kind", "outcome"}),
		restRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_client_requests_total",
			Help: "Number of HTTP requests, partitioned by status code, method, and host.",
		}, []string{"code", "method", "host"}),
		restDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rest_client_request_duration_seconds",
			Help:    "Request latency in seconds. Broken down by verb and host.",
			Buckets: restBuckets,
		}, []string{"verb", "host"}),
	}
	for _, c := range []prometheus.Collector{
		m.operationDuration, m.inFlight, m.chartPulls, m.cacheRequests, m.cacheEvictions,
		m.renderDuration, m.waitDuration, m.restRequests, m.restDuration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, v := range verbs {
		m.inFlight.WithLabelValues(v)
	}
	for _, source := range []string{"http", "oci"} {
		m.chartPulls.WithLabelValues(source, Success)
		m.chartPulls.WithLabelValues(source, Error)
	}
	m.cacheRequests.WithLabelValues("hit")
	m.cacheRequests.WithLabelValues("miss")
	m.cacheEvictions.WithLabelValues("disk")
	m.cacheEvictions.WithLabelValues("memory")
	return m, nil
}

// OperationStarted counts one operation of verb as in flight until the returned function is
// called, once, with its outcome (success, failure or error), which records its duration.
func (m *Metrics) OperationStarted(verb string) (ended func(outcome string)) {
	start := time.Now()
	g := m.inFlight.WithLabelValues(verb)
	g.Inc()
	return func(outcome string) {
		g.Dec()
		m.operationDuration.WithLabelValues(verb, outcome).Observe(time.Since(start).Seconds())
	}
}

// ChartPulled counts one download of a chart archive from a repository of source (http, oci):
// success when err is nil.
func (m *Metrics) ChartPulled(source string, err error) {
	m.chartPulls.WithLabelValues(source, errorOutcome(err)).Inc()
}

// ChartCacheLookup counts one chart lookup: a hit when the archive was served from memory or
// disk, a miss when it had to be pulled.
func (m *Metrics) ChartCacheLookup(hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cacheRequests.WithLabelValues(result).Inc()
}

// ChartCacheEvicted counts one archive dropped from tier (disk, memory) to make room.
func (m *Metrics) ChartCacheEvicted(tier string) {
	m.cacheEvictions.WithLabelValues(tier).Inc()
}

// ObserveChartCache publishes planton_helm_runner_chart_cache_bytes{tier}, read from size at
// every scrape: the bytes the disk tier counts against its budget (whole blocks) and the bytes
// of the archives held in memory. Call it once.
func (m *Metrics) ObserveChartCache(size func() (disk, memory int64)) error {
	for _, tier := range []struct {
		name string
		of   func() int64
	}{
		{"disk", func() int64 { d, _ := size(); return d }},
		{"memory", func() int64 { _, mem := size(); return mem }},
	} {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "chart_cache_bytes",
			Help:        "Bytes held by a chart cache tier: disk (counted in whole 4 KiB blocks against --max-cache-bytes) or memory",
			ConstLabels: prometheus.Labels{"tier": tier.name},
		}, func() float64 { return float64(tier.of()) })
		if err := m.reg.Register(g); err != nil {
			return err
		}
	}
	return nil
}

// RenderEnded records one isolated render that took elapsed: limit_exceeded when it failed
// with RENDER_LIMIT_EXCEEDED, error for any other failure.
func (m *Metrics) RenderEnded(elapsed time.Duration, err error) {
	outcome := errorOutcome(err)
	if err != nil && failure.ReasonOf(err) == failure.RenderLimitExceeded {
		outcome = LimitExceeded
	}
	m.renderDuration.WithLabelValues(outcome).Observe(elapsed.Seconds())
}

// WaitEnded records one wait of kind (resources, hooks, tests) that took elapsed: timeout when
// it ended at its deadline (err wraps context.DeadlineExceeded), error for any other failure.
func (m *Metrics) WaitEnded(kind string, elapsed time.Duration, err error) {
	outcome := errorOutcome(err)
	if errors.Is(err, context.DeadlineExceeded) {
		outcome = Timeout
	}
	m.waitDuration.WithLabelValues(kind, outcome).Observe(elapsed.Seconds())
}

func errorOutcome(err error) string {
	if err != nil {
		return Error
	}
	return Success
}
