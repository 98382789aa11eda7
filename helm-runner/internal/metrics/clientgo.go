package metrics

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	clientmetrics "k8s.io/client-go/tools/metrics"
)

// clientGoOnce makes ObserveClientGo take effect once per process: client-go keeps one set of
// hooks per process.
var clientGoOnce sync.Once

// ErrClientGoObserved is returned by ObserveClientGo when this process already reports
// client-go's requests to some Metrics.
var ErrClientGoObserved = errors.New("client-go's requests are already reported to other metrics in this process")

// ObserveClientGo makes every Kubernetes request of this process, from any client-go client,
// count in rest_client_requests_total{code,method,host} and
// rest_client_request_duration_seconds{verb,host} (client-go's and Kubernetes' own names and
// labels). Of client-go's hooks only these two are set; the others (rate limiter latency,
// request and response sizes, retries, exec plugins, transport cache) stay off.
//
// The hooks are assigned directly rather than through clientmetrics.Register: Register takes
// effect only on its first call in a process, and controller-runtime (linked in through Helm's
// kube client) makes that call from its package init, for a registry of its own that nothing
// here serves. Call it once, before any client is built; later calls return ErrClientGoObserved.
func (m *Metrics) ObserveClientGo() error {
	err := ErrClientGoObserved
	clientGoOnce.Do(func() {
		clientmetrics.RequestResult = restResult{m}
		clientmetrics.RequestLatency = restLatency{m}
		err = nil
	})
	return err
}

// restResult is client-go's RequestResult hook.
type restResult struct{ m *Metrics }

func (r restResult) Increment(_ context.Context, code, method, host string) {
	r.m.restRequests.WithLabelValues(code, method, host).Inc()
}

// restLatency is client-go's RequestLatency hook.
type restLatency struct{ m *Metrics }

func (r restLatency) Observe(_ context.Context, verb string, u url.URL, latency time.Duration) {
	r.m.restDuration.WithLabelValues(verb, u.Host).Observe(latency.Seconds())
}
