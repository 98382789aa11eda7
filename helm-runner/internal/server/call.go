package server

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
)

// ReconcileIDMetadata is the gRPC metadata key of the reconcile a call is made for: the
// reconciler sends its reconcile ID, so that one release's story can be followed across both
// processes' logs.
const ReconcileIDMetadata = "x-planton-reconcile-id"

// maxReconcileIDLength bounds a reconcile ID taken from a call's metadata.
const maxReconcileIDLength = 64

// The attributes of every log line of a call.
const (
	reconcileIDKey = "reconcileID"
	grpcMethodKey  = "grpcMethod"
)

// verbs are the metric label of each RPC of the HelmRunnerService (README "helm-runner metrics").
var verbs = map[string]string{
	runnerv1.HelmRunnerService_GetReleaseState_FullMethodName: "get_release_state",
	runnerv1.HelmRunnerService_Install_FullMethodName:         "install",
	runnerv1.HelmRunnerService_Upgrade_FullMethodName:         "upgrade",
	runnerv1.HelmRunnerService_Rollback_FullMethodName:        "rollback",
	runnerv1.HelmRunnerService_Uninstall_FullMethodName:       "uninstall",
	runnerv1.HelmRunnerService_Test_FullMethodName:            "test",
	runnerv1.HelmRunnerService_Unlock_FullMethodName:          "unlock",
	runnerv1.HelmRunnerService_Diff_FullMethodName:            "diff",
	runnerv1.HelmRunnerService_DetectDrift_FullMethodName:     "detect_drift",
	runnerv1.HelmRunnerService_CorrectDrift_FullMethodName:    "correct_drift",
}

// Verbs are the verb label values of the runner's operation metrics, sorted.
func Verbs() []string {
	return slices.Sorted(maps.Values(verbs))
}

// Outcomes of an operation, as the runner's metrics label them.
const (
	// outcomeSuccess: the call succeeded, or wrote storage and reports success.
	outcomeSuccess = "success"
	// outcomeFailure: Helm failed after writing release storage (an Outcome that did not succeed).
	outcomeFailure = "failure"
	// outcomeError: a gRPC error status; nothing was written.
	outcomeError = "error"
)

// Recorder is told about every operation, for the runner's metrics (internal/metrics).
type Recorder interface {
	// OperationStarted counts an operation of verb as in flight until ended is called with its
	// outcome ("success", "failure" or "error").
	OperationStarted(verb string) (ended func(outcome string))
}

// withOutcome is a response that reports how an operation that wrote storage ended.
type withOutcome interface {
	GetOutcome() *runnerv1.Outcome
}

// outcomeLabel is how a call ended, in the metrics' terms.
func outcomeLabel(resp any, err error) string {
	if err != nil {
		return outcomeError
	}
	if r, ok := resp.(withOutcome); ok && r.GetOutcome() != nil && !r.GetOutcome().GetSucceeded() {
		return outcomeFailure
	}
	return outcomeSuccess
}

// Interceptor is the unary interceptor the runner's gRPC server must run every call through
// (grpc.ChainUnaryInterceptor). For each call of the HelmRunnerService it records the
// operation with Options.Metrics, and gives the handler a context carrying the call's log
// attributes: grpcMethod, and reconcileID when the caller sent a valid ReconcileIDMetadata.
// Other services' calls (health) pass through untouched.
func (s *Server) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		verb, ok := verbs[info.FullMethod]
		if !ok {
			return handler(ctx, req)
		}
		ctx = withCall(ctx, callID{method: info.FullMethod, reconcileID: reconcileIDOf(ctx)})
		if s.opts.Metrics == nil {
			return handler(ctx, req)
		}
		ended := s.opts.Metrics.OperationStarted(verb)
		resp, err := handler(ctx, req)
		ended(outcomeLabel(resp, err))
		return resp, err
	}
}

// callID is what names one gRPC call in the log.
type callID struct {
	method      string
	reconcileID string
}

type callKey struct{}

func withCall(ctx context.Context, c callID) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// callOf returns the call ctx belongs to, if it is a call's context.
func callOf(ctx context.Context) (callID, bool) {
	c, ok := ctx.Value(callKey{}).(callID)
	return c, ok
}

// attrs are the log attributes of the call.
func (c callID) attrs() []slog.Attr {
	attrs := []slog.Attr{slog.String(grpcMethodKey, c.method)}
	if c.reconcileID != "" {
		attrs = append(attrs, slog.String(reconcileIDKey, c.reconcileID))
	}
	return attrs
}

// callAttrs are the log attributes of the call ctx belongs to, none outside a call.
func callAttrs(ctx context.Context) []any {
	c, ok := callOf(ctx)
	if !ok {
		return nil
	}
	var out []any
	for _, a := range c.attrs() {
		out = append(out, a)
	}
	return out
}

// reconcileIDOf is the reconcile ID the caller sent in ReconcileIDMetadata: the first value, if
// it is at most maxReconcileIDLength letters, digits and dashes; "" otherwise (ignored: it goes
// into every log line of the call, so nothing else may).
func reconcileIDOf(ctx context.Context) string {
	values := metadata.ValueFromIncomingContext(ctx, ReconcileIDMetadata)
	if len(values) == 0 {
		return ""
	}
	id := values[0]
	if id == "" || len(id) > maxReconcileIDLength {
		return ""
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return ""
		}
	}
	return id
}

// LogHandler wraps the runner's log handler: a record logged with a call's context (the
// *Context methods of slog.Logger) gets the call's attributes, unless the logger already has
// them (a call's own logger, callLog). Packages that log on the process's logger during a call
// (the chart source) thus name the call too.
func LogHandler(next slog.Handler) slog.Handler {
	return callHandler{next: next}
}

type callHandler struct {
	next slog.Handler
	// bound is set once the call's attributes were added with WithAttrs.
	bound bool
}

func (h callHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h callHandler) Handle(ctx context.Context, r slog.Record) error {
	if c, ok := callOf(ctx); ok && !h.bound {
		r = r.Clone()
		r.AddAttrs(c.attrs()...)
	}
	return h.next.Handle(ctx, r)
}

func (h callHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	bound := h.bound || slices.ContainsFunc(attrs, func(a slog.Attr) bool { return a.Key == grpcMethodKey })
	return callHandler{next: h.next.WithAttrs(attrs), bound: bound}
}

func (h callHandler) WithGroup(name string) slog.Handler {
	return callHandler{next: h.next.WithGroup(name), bound: h.bound}
}
