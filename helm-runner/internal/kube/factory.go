// Package kube gives every Helm operation a Kubernetes client for the identity it runs as, built
// once per identity and shared by all calls: discovery, REST mapping and cluster capabilities are
// read once and reused, instead of being re-read by every operation as the Helm CLI does. Helm's
// waits go through the runner's own waiter (HelmClient), which reads only the release's objects,
// by name, through those shared clients.
package kube

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Defaults of the client-side rate limit, per identity. Helm's own defaults (5/10 in client-go)
// throttle a single large release; these stay well below the API server's inflight limits.
const (
	DefaultQPS   float32 = 50
	DefaultBurst         = 100
)

// DefaultCapabilitiesTTL is how long discovered cluster capabilities (server version and API
// versions, what templates see as .Capabilities) are reused before discovery is read again.
const DefaultCapabilitiesTTL = time.Minute

// Identity is who Kubernetes calls are made as. The zero Identity is the runner's own identity;
// otherwise the ServiceAccount ServiceAccountNamespace/ServiceAccountName is impersonated.
type Identity struct {
	ServiceAccountName      string
	ServiceAccountNamespace string
}

// username is the impersonated user name, "" for the runner's own identity.
func (i Identity) username() string {
	if i.ServiceAccountName == "" {
		return ""
	}
	return "system:serviceaccount:" + i.ServiceAccountNamespace + ":" + i.ServiceAccountName
}

func (i Identity) validate() error {
	if i.ServiceAccountName == "" {
		return nil
	}
	if i.ServiceAccountNamespace == "" {
		return failure.New(failure.InvalidArgument, "service account %q has no namespace", i.ServiceAccountName)
	}
	if errs := validation.IsDNS1123Subdomain(i.ServiceAccountName); len(errs) > 0 {
		return failure.New(failure.InvalidArgument, "service account name %q: %s", i.ServiceAccountName, errs[0])
	}
	if errs := validation.IsDNS1123Label(i.ServiceAccountNamespace); len(errs) > 0 {
		return failure.New(failure.InvalidArgument, "service account namespace %q: %s", i.ServiceAccountNamespace, errs[0])
	}
	return nil
}

// Option changes a Factory's settings.
type Option func(*settings)

type settings struct {
	qps             float32
	burst           int
	capabilitiesTTL time.Duration
}

// WithRateLimit sets the client-side rate limit of each identity's clients (shared by all of
// its calls). Non-positive values keep the default.
func WithRateLimit(qps float32, burst int) Option {
	return func(s *settings) {
		if qps > 0 {
			s.qps = qps
		}
		if burst > 0 {
			s.burst = burst
		}
	}
}

// WithCapabilitiesTTL sets how long discovered capabilities are reused. Non-positive keeps the
// default.
func WithCapabilitiesTTL(ttl time.Duration) Option {
	return func(s *settings) {
		if ttl > 0 {
			s.capabilitiesTTL = ttl
		}
	}
}

// Factory hands out one *Clients per Identity, created on first use and kept for the life of
// the process. It is safe for concurrent use.
type Factory struct {
	base     *rest.Config
	settings settings

	mu      sync.Mutex
	clients map[Identity]*Clients
}

// NewFactory returns a Factory whose clients are derived from base (the runner's own
// credentials). The rate limit is base's QPS/Burst when set, else DefaultQPS/DefaultBurst, and
// opts override both. base is copied; the caller may reuse it.
func NewFactory(base *rest.Config, opts ...Option) *Factory {
	s := settings{qps: DefaultQPS, burst: DefaultBurst, capabilitiesTTL: DefaultCapabilitiesTTL}
	WithRateLimit(base.QPS, base.Burst)(&s)
	for _, o := range opts {
		o(&s)
	}
	return &Factory{base: rest.CopyConfig(base), settings: s, clients: map[Identity]*Clients{}}
}

// For returns the clients of identity, creating them on first use. Every later call with the
// same identity returns the same *Clients. An identity naming a ServiceAccount without a
// namespace, or with an invalid name, fails with INVALID_ARGUMENT.
func (f *Factory) For(identity Identity) (*Clients, error) {
	if identity.ServiceAccountName == "" {
		identity = Identity{}
	}
	if err := identity.validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[identity]; ok {
		return c, nil
	}
	c, err := newClients(f.base, identity, f.settings)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "%s", fmt.Sprintf("create clients for %q", identity.username()))
	}
	f.clients[identity] = c
	return c, nil
}
