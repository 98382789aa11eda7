// Package server implements the HelmRunnerService: it validates each request, takes the
// release's lock, pulls the chart, runs one Helm operation and reports what Helm wrote. It
// decides nothing about whether an operation is wanted.
package server

import (
	"context"
	"log/slog"
	"sync"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/chart"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

// ChartSource pulls and loads charts (internal/chart.Source).
type ChartSource interface {
	Get(ctx context.Context, ref chart.Ref) (*chartv2.Chart, string, error)
}

// ClientFactory returns the shared Kubernetes clients of an identity (internal/kube.Factory),
// held until release: clients no call holds may be dropped and rebuilt later, so every call
// holds its identity's clients for its whole duration.
type ClientFactory interface {
	Acquire(identity kube.Identity) (clients *kube.Clients, release func(), err error)
}

// Options are the server's dependencies and policies.
type Options struct {
	Charts  ChartSource
	Clients ClientFactory
	Log     *slog.Logger
	// AllowInsecureHTTP is the runner's --allow-insecure-http flag. A request's
	// allow_insecure_http takes effect only when this is true.
	AllowInsecureHTTP bool
	// MaxValuesBytes bounds the size of a request's values.
	MaxValuesBytes int64
	// HelmConfig builds the Helm configuration of one call on releases of namespace, with
	// Helm's logs going to log. Nil: action.NewConfig (release Secrets in the cluster of
	// clients). Tests give Helm's memory driver.
	HelmConfig func(clients *kube.Clients, namespace string, log *slog.Logger) (*action.Config, error)
	// Metrics is told about every operation that passes through Interceptor; nil: nothing.
	Metrics Recorder
}

// Server implements runnerv1.HelmRunnerServiceServer.
type Server struct {
	runnerv1.UnimplementedHelmRunnerServiceServer
	opts  Options
	locks *releaseLocks

	// base is cancelled by Shutdown: every locked operation's context derives from it, so that
	// a stopping runner cancels in-flight Helm work, which then records its end in storage.
	base     context.Context
	shutdown context.CancelFunc
	// mu orders begin's admission (closed check + inflight.Add) against Shutdown.
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// New returns a server. Call Shutdown when stopping.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MaxValuesBytes <= 0 {
		opts.MaxValuesBytes = 1 << 20
	}
	if opts.HelmConfig == nil {
		opts.HelmConfig = action.NewConfig
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{opts: opts, locks: newReleaseLocks(), base: base, shutdown: cancel}
}

// Shutdown cancels every in-flight operation and waits until each has returned (and so has
// recorded its end in release storage).
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.shutdown()
	s.inflight.Wait()
}

// admit counts a new operation as in flight, unless the server is shutting down.
func (s *Server) admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return failure.New(failure.Cancelled, "the runner is shutting down")
	}
	s.inflight.Add(1)
	return nil
}

// operation is one call's hold on a release.
type operation struct {
	ctx     context.Context
	clients *kube.Clients
	// log is the call's logger (callLog): the call's secrets never reach a log line.
	log *slog.Logger
	// secrets are removed from everything the call returns in a message.
	secrets *redact.Secrets
	done    func()
}

// secretsOf returns the strings to remove from everything said about a call on ref.
func secretsOf(ref *runnerv1.ReleaseRef) *redact.Secrets {
	return redact.New(ref.GetRedact())
}

// callLog is the logger of one call on release ref, Helm's logs included: secrets are removed
// from every record, and every record names the gRPC call of ctx (grpcMethod, reconcileID).
func (s *Server) callLog(ctx context.Context, verb string, ref *runnerv1.ReleaseRef, secrets *redact.Secrets) *slog.Logger {
	return slog.New(secrets.Handler(s.opts.Log.Handler())).
		With(callAttrs(ctx)...).
		With("op", verb, "release", releaseKey(ref.GetNamespace(), ref.GetName()))
}

// ownerOf returns the HelmRelease on whose behalf a call on ref is made; nil when none is named.
func ownerOf(ref *runnerv1.ReleaseRef) *action.Owner {
	o := ref.GetOwner()
	if o == nil {
		return nil
	}
	return &action.Owner{Namespace: o.GetNamespace(), Name: o.GetName(), UID: o.GetUid()}
}

// begin validates the release reference, takes the release's lock (RELEASE_LOCKED when another
// operation of this runner holds it) and returns the operation's context (cancelled by the
// call, its deadline, or Shutdown) and clients, held until done. The caller must call done.
func (s *Server) begin(ctx context.Context, verb string, ref *runnerv1.ReleaseRef, secrets *redact.Secrets) (*operation, error) {
	if err := validateRelease(ref); err != nil {
		return nil, err
	}
	if err := s.admit(); err != nil {
		return nil, err
	}
	clients, releaseClients, err := s.opts.Clients.Acquire(identityOf(ref))
	if err != nil {
		s.inflight.Done()
		return nil, err
	}
	key := releaseKey(ref.GetNamespace(), ref.GetName())
	unlock, ok := s.locks.tryAcquire(key)
	if !ok {
		releaseClients()
		s.inflight.Done()
		return nil, failure.New(failure.ReleaseLocked, "another operation on release %s is in progress in this runner", key)
	}
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.base, cancel)
	log := s.callLog(ctx, verb, ref, secrets)
	log.Debug("operation started")
	return &operation{
		ctx:     opCtx,
		clients: clients,
		log:     log,
		secrets: secrets,
		done: func() {
			stop()
			cancel()
			unlock()
			releaseClients()
			s.inflight.Done()
			log.Debug("operation ended")
		},
	}, nil
}

func identityOf(ref *runnerv1.ReleaseRef) kube.Identity {
	if ref.GetServiceAccountName() == "" {
		return kube.Identity{}
	}
	ns := ref.GetServiceAccountNamespace()
	if ns == "" {
		ns = ref.GetNamespace()
	}
	return kube.Identity{ServiceAccountName: ref.GetServiceAccountName(), ServiceAccountNamespace: ns}
}

// chartRefOf converts the request's chart reference; plain HTTP is allowed only when both the
// runner's flag and the request allow it.
func (s *Server) chartRefOf(c *runnerv1.ChartRef) (chart.Ref, error) {
	if c == nil {
		return chart.Ref{}, failure.New(failure.InvalidArgument, "chart is required")
	}
	ref := chart.Ref{
		Repo:              c.GetRepo(),
		Name:              c.GetName(),
		Version:           c.GetVersion(),
		CABundle:          c.GetCaBundle(),
		AllowInsecureHTTP: s.opts.AllowInsecureHTTP && c.GetAllowInsecureHttp(),
	}
	if basic := c.GetCredentials().GetBasicAuth(); basic != nil {
		ref.Username, ref.Password = basic.GetUsername(), basic.GetPassword()
	}
	ref.DockerConfigJSON = c.GetCredentials().GetDockerConfigJson()
	return ref, nil
}

// pull validates and fetches the request's chart.
func (s *Server) pull(ctx context.Context, c *runnerv1.ChartRef) (*chartv2.Chart, error) {
	ref, err := s.chartRefOf(c)
	if err != nil {
		return nil, err
	}
	ch, _, err := s.opts.Charts.Get(ctx, ref)
	return ch, err
}
