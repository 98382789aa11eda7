// Package kube gives every Helm operation a Kubernetes client for the identity it runs as, built
// once per identity and shared by all calls: discovery, REST mapping and cluster capabilities are
// read once and reused, instead of being re-read by every operation as the Helm CLI does. Helm's
// waits go through the runner's own waiter (HelmClient), which reads only the release's objects,
// by name, through those shared clients.
package kube

import (
	"container/list"
	"fmt"
	"log/slog"
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

// DefaultMaxIdentities is how many impersonated identities keep their clients when no
// operation uses them.
const DefaultMaxIdentities = 256

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
	maxIdentities   int
	log             *slog.Logger
	waits           WaitRecorder
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

// WithMaxIdentities sets how many impersonated identities keep their clients when no
// operation holds them. Non-positive keeps the default.
func WithMaxIdentities(n int) Option {
	return func(s *settings) {
		if n > 0 {
			s.maxIdentities = n
		}
	}
}

// WithLogger sets where dropped identities are reported, at debug level (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.log = l }
}

// WaitRecorder is told how each wait of the runner's waiter ended, for the runner's metrics
// (internal/metrics).
type WaitRecorder interface {
	// WaitEnded: one wait for objects of kind ("resources", "hooks" or "tests") returned err
	// (nil when every object reached the desired state) after elapsed.
	WaitEnded(kind string, elapsed time.Duration, err error)
}

// WithWaitRecorder reports every wait of every identity's clients to r (default: nowhere).
func WithWaitRecorder(r WaitRecorder) Option {
	return func(s *settings) { s.waits = r }
}

// Factory hands out one *Clients per Identity, created on first use and shared by every call
// made as that identity. The runner's own identity keeps its clients for the life of the
// process. Impersonated identities are bounded: once more than the maximum are kept, the least
// recently used that no operation holds (Acquire) are dropped, with their discovery cache and
// rate limiter, and built afresh on their next use. Held identities are never dropped, so the
// Factory keeps at most the maximum, or the number held, whichever is larger. It is safe for
// concurrent use.
type Factory struct {
	base     *rest.Config
	settings settings

	mu   sync.Mutex
	own  *Clients
	sets map[Identity]*identitySet
	// idle holds the sets no operation holds, most recently used first.
	idle *list.List
}

// identitySet is one impersonated identity's clients and the operations holding them.
type identitySet struct {
	identity Identity
	clients  *Clients
	holds    int
	// inIdle is the set's element in Factory.idle while holds is 0.
	inIdle *list.Element
}

// NewFactory returns a Factory whose clients are derived from base (the runner's own
// credentials). The rate limit is base's QPS/Burst when set, else DefaultQPS/DefaultBurst, and
// opts override both. base is copied; the caller may reuse it.
func NewFactory(base *rest.Config, opts ...Option) *Factory {
	s := settings{qps: DefaultQPS, burst: DefaultBurst, capabilitiesTTL: DefaultCapabilitiesTTL, maxIdentities: DefaultMaxIdentities}
	WithRateLimit(base.QPS, base.Burst)(&s)
	for _, o := range opts {
		o(&s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return &Factory{base: rest.CopyConfig(base), settings: s, sets: map[Identity]*identitySet{}, idle: list.New()}
}

// For returns the clients of identity, creating them on first use, without holding them: they
// stay usable, but once dropped the identity's next call gets new ones. Until then every call
// with the same identity returns the same *Clients. An identity naming a ServiceAccount without
// a namespace, or with an invalid name, fails with INVALID_ARGUMENT.
func (f *Factory) For(identity Identity) (*Clients, error) {
	c, release, err := f.Acquire(identity)
	if err != nil {
		return nil, err
	}
	release()
	return c, nil
}

// Acquire returns the clients of identity like For, and holds them until release is called:
// held clients are never dropped, so every operation of one identity that overlaps another
// shares its clients (one discovery cache, one rate limit). The caller must call release once
// the operation ends; later calls do nothing.
func (f *Factory) Acquire(identity Identity) (c *Clients, release func(), err error) {
	if identity.ServiceAccountName == "" {
		identity = Identity{}
	}
	if err := identity.validate(); err != nil {
		return nil, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if identity == (Identity{}) {
		if f.own == nil {
			if f.own, err = f.newClients(identity); err != nil {
				return nil, nil, err
			}
		}
		return f.own, func() {}, nil
	}
	set, ok := f.sets[identity]
	if !ok {
		c, err := f.newClients(identity)
		if err != nil {
			return nil, nil, err
		}
		set = &identitySet{identity: identity, clients: c}
		f.sets[identity] = set
	} else if set.inIdle != nil {
		f.idle.Remove(set.inIdle)
		set.inIdle = nil
	}
	set.holds++
	f.trimLocked()
	var once sync.Once
	return set.clients, func() { once.Do(func() { f.release(set) }) }, nil
}

func (f *Factory) newClients(identity Identity) (*Clients, error) {
	c, err := newClients(f.base, identity, f.settings)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "%s", fmt.Sprintf("create clients for %q", identity.username()))
	}
	return c, nil
}

func (f *Factory) release(set *identitySet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if set.holds--; set.holds > 0 {
		return
	}
	set.inIdle = f.idle.PushFront(set)
	f.trimLocked()
}

// trimLocked drops the least recently used idle sets while more than the maximum are kept.
func (f *Factory) trimLocked() {
	for len(f.sets) > f.settings.maxIdentities && f.idle.Len() > 0 {
		oldest := f.idle.Remove(f.idle.Back()).(*identitySet)
		oldest.inIdle = nil
		delete(f.sets, oldest.identity)
		f.settings.log.Debug("identity clients dropped", "serviceAccount", oldest.identity.username(), "identities", len(f.sets))
	}
}
