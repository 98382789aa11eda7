package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"k8s.io/client-go/rest"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/chart"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
)

// These tests run the HelmRunnerService over an in-memory gRPC connection with a fake chart
// source and the real client factory, whose transport refuses every request. They cover only
// what the runner decides before it calls Kubernetes: a test fails if any request reaches the
// Kubernetes transport.

const (
	testNamespace  = "apps"
	testValuesSize = 1024
	// patience bounds every wait for a goroutine of the test; it is a guard against a hang,
	// not a timing assertion.
	patience = 30 * time.Second
)

// pulled is one call of fakeCharts.Get.
type pulled struct {
	ref chart.Ref
	ctx context.Context
}

// fakeCharts is a ChartSource that reports every Get on calls and answers with chart, or err
// when chart is nil. When block is not nil, Get first waits until block is closed or its
// context is done; then it returns the context's error, as chart.Source does, after waiting
// for linger to be closed when linger is not nil (work that takes a while to wind down).
type fakeCharts struct {
	chart  *chartv2.Chart
	err    error
	block  chan struct{}
	linger chan struct{}
	calls  chan pulled
}

func newFakeCharts(err error) *fakeCharts {
	return &fakeCharts{err: err, calls: make(chan pulled, 64)}
}

func (f *fakeCharts) Get(ctx context.Context, ref chart.Ref) (*chartv2.Chart, string, error) {
	f.calls <- pulled{ref: ref, ctx: ctx}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			if f.linger != nil {
				<-f.linger
			}
			return nil, "", ctx.Err()
		}
	}
	if f.chart != nil {
		return f.chart, "sha256:fake", nil
	}
	return nil, "", f.err
}

// next returns the next Get, failing the test when none comes.
func (f *fakeCharts) next(t *testing.T) pulled {
	t.Helper()
	select {
	case p := <-f.calls:
		return p
	case <-time.After(patience):
		t.Fatal("the chart source was never called")
		return pulled{}
	}
}

// nextFor returns the next Get of the chart named name, failing on a Get of another chart.
func (f *fakeCharts) nextFor(t *testing.T, name string) pulled {
	t.Helper()
	p := f.next(t)
	if p.ref.Name != name {
		t.Fatalf("the chart source was called for %q, want %q", p.ref.Name, name)
	}
	return p
}

// requireNoPull fails when the chart source has been called.
func (f *fakeCharts) requireNoPull(t *testing.T) {
	t.Helper()
	select {
	case p := <-f.calls:
		t.Fatalf("the chart source was called for %+v, want no pull", p.ref)
	default:
	}
}

// runner is a Server behind a real gRPC server on an in-memory listener.
type runner struct {
	server *Server
	client runnerv1.HelmRunnerServiceClient
}

// startRunner serves a Server with charts as its chart source. opts may change the server's
// options. The test fails if anything calls the Kubernetes API.
func startRunner(t *testing.T, charts ChartSource, opts ...func(*Options)) *runner {
	t.Helper()
	var kubeCalls atomic.Int32
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	cfg.WrapTransport = func(http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			kubeCalls.Add(1)
			return nil, fmt.Errorf("unit test: unexpected Kubernetes request %s %s", r.Method, r.URL.Path)
		})
	}
	o := Options{
		Charts:         charts,
		Clients:        kube.NewFactory(cfg),
		Log:            slog.New(slog.DiscardHandler),
		MaxValuesBytes: testValuesSize,
	}
	for _, opt := range opts {
		opt(&o)
	}
	srv := New(o)
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(srv.Interceptor()))
	runnerv1.RegisterHelmRunnerServiceServer(gs, srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial the in-memory server: %v", err)
	}
	t.Cleanup(func() {
		stopped := make(chan struct{})
		go func() { srv.Shutdown(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(patience):
			t.Error("Shutdown did not return: an operation never ended")
		}
		_ = conn.Close()
		gs.Stop()
		if n := kubeCalls.Load(); n > 0 {
			t.Errorf("%d requests reached the Kubernetes API; unit tests must fail before any", n)
		}
	})
	return &runner{server: srv, client: runnerv1.NewHelmRunnerServiceClient(conn)}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// callContext bounds one call of a test.
func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// requireStatus fails unless err is a gRPC status with code, an ErrorInfo with reason in the
// runner's domain, and a message containing every mention.
func requireStatus(t *testing.T, err error, code codes.Code, reason failure.Reason, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v %s", code, reason)
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if st.Code() != code {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), code)
	}
	info := errorInfo(st)
	if info == nil {
		t.Fatalf("status %v carries no google.rpc.ErrorInfo", st)
	}
	if info.GetReason() != string(reason) || info.GetDomain() != ErrorDomain {
		t.Fatalf("ErrorInfo = reason %q domain %q, want reason %q domain %q",
			info.GetReason(), info.GetDomain(), reason, ErrorDomain)
	}
	for _, m := range mentions {
		if !strings.Contains(st.Message(), m) {
			t.Errorf("message %q does not mention %q", st.Message(), m)
		}
	}
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// call is one RPC of a test table.
type call func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error

func install(req *runnerv1.InstallRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Install(ctx, req)
		return err
	}
}

func upgrade(req *runnerv1.UpgradeRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Upgrade(ctx, req)
		return err
	}
}

func rollback(req *runnerv1.RollbackRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Rollback(ctx, req)
		return err
	}
}

func uninstall(req *runnerv1.UninstallRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Uninstall(ctx, req)
		return err
	}
}

func runTests(req *runnerv1.TestRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Test(ctx, req)
		return err
	}
}

func unlock(req *runnerv1.UnlockRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Unlock(ctx, req)
		return err
	}
}

func getState(req *runnerv1.GetReleaseStateRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.GetReleaseState(ctx, req)
		return err
	}
}

func diff(req *runnerv1.DiffRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.Diff(ctx, req)
		return err
	}
}

func detectDrift(req *runnerv1.DetectDriftRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.DetectDrift(ctx, req)
		return err
	}
}

func correctDrift(req *runnerv1.CorrectDriftRequest) call {
	return func(ctx context.Context, c runnerv1.HelmRunnerServiceClient) error {
		_, err := c.CorrectDrift(ctx, req)
		return err
	}
}

func releaseRef(name string) *runnerv1.ReleaseRef {
	return &runnerv1.ReleaseRef{Name: name, Namespace: testNamespace}
}

func chartRef(name string) *runnerv1.ChartRef {
	return &runnerv1.ChartRef{Repo: "oci://registry.example/charts", Name: name, Version: "1.0.0"}
}

func timeout(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// oversizedValues are values larger than testValuesSize.
func oversizedValues(t *testing.T) *structpb.Struct {
	t.Helper()
	v, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 2*testValuesSize)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lockingCalls are the calls that take the release's lock, each on release name with a valid
// request.
func lockingCalls(name string) map[string]call {
	minute := timeout(time.Minute)
	return map[string]call{
		"install":       install(&runnerv1.InstallRequest{Release: releaseRef(name), Chart: chartRef("again"), Timeout: minute}),
		"upgrade":       upgrade(&runnerv1.UpgradeRequest{Release: releaseRef(name), Chart: chartRef("again"), Timeout: minute}),
		"rollback":      rollback(&runnerv1.RollbackRequest{Release: releaseRef(name), Timeout: minute}),
		"uninstall":     uninstall(&runnerv1.UninstallRequest{Release: releaseRef(name), Timeout: minute}),
		"test":          runTests(&runnerv1.TestRequest{Release: releaseRef(name), Timeout: minute}),
		"unlock":        unlock(&runnerv1.UnlockRequest{Release: releaseRef(name), Revision: 1}),
		"correct drift": correctDrift(&runnerv1.CorrectDriftRequest{Release: releaseRef(name), Timeout: minute}),
	}
}

func TestRequestValidation(t *testing.T) {
	charts := newFakeCharts(errors.New("the chart source must not be called"))
	r := startRunner(t, charts)
	minute := timeout(time.Minute)
	tooLong := strings.Repeat("a", 54)

	tests := []struct {
		name     string
		call     call
		reason   failure.Reason
		mentions []string
	}{
		{"install without a release", install(&runnerv1.InstallRequest{Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{"release is required"}},
		{"install with a 54-character release name", install(&runnerv1.InstallRequest{
			Release: releaseRef(tooLong), Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{tooLong, "at most 53"}},
		{"install with an uppercase release name", install(&runnerv1.InstallRequest{
			Release: releaseRef("Web"), Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{`"Web"`}},
		{"install into an invalid namespace", install(&runnerv1.InstallRequest{
			Release: &runnerv1.ReleaseRef{Name: "web", Namespace: "Apps_1"}, Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{`namespace "Apps_1"`}},
		{"install without a namespace", install(&runnerv1.InstallRequest{
			Release: &runnerv1.ReleaseRef{Name: "web"}, Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{`namespace ""`}},
		{"install as an invalid service account", install(&runnerv1.InstallRequest{
			Release: &runnerv1.ReleaseRef{Name: "web", Namespace: testNamespace, ServiceAccountName: "a/b"},
			Chart:   chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{`service account name "a/b"`}},
		{"install without a timeout", install(&runnerv1.InstallRequest{Release: releaseRef("web"), Chart: chartRef("plain")}),
			failure.InvalidArgument, []string{"timeout is required"}},
		{"install with a zero timeout", install(&runnerv1.InstallRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: timeout(0)}),
			failure.InvalidArgument, []string{"timeout 0s", "between 1s and 1h"}},
		{"install with a two-hour timeout", install(&runnerv1.InstallRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: timeout(2 * time.Hour)}),
			failure.InvalidArgument, []string{"timeout 2h0m0s", "between 1s and 1h"}},
		{"install with values over the limit", install(&runnerv1.InstallRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, Values: oversizedValues(t)}),
			failure.InvalidValues, []string{"limit of 1024"}},
		{"install with a config digest of forbidden characters", install(&runnerv1.InstallRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, ConfigDigest: "sha256:abc"}),
			failure.InvalidArgument, []string{"config digest", "63 characters"}},
		{"install with a 64-character config digest", install(&runnerv1.InstallRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, ConfigDigest: strings.Repeat("d", 64)}),
			failure.InvalidArgument, []string{"config digest"}},
		{"install without a chart", install(&runnerv1.InstallRequest{Release: releaseRef("web"), Timeout: minute}),
			failure.InvalidArgument, []string{"chart is required"}},
		{"upgrade without a release", upgrade(&runnerv1.UpgradeRequest{Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{"release is required"}},
		{"upgrade with a two-hour timeout", upgrade(&runnerv1.UpgradeRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: timeout(2 * time.Hour)}),
			failure.InvalidArgument, []string{"2h0m0s"}},
		{"upgrade with values over the limit", upgrade(&runnerv1.UpgradeRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, Values: oversizedValues(t)}),
			failure.InvalidValues, []string{"limit of 1024"}},
		{"upgrade with a bad config digest", upgrade(&runnerv1.UpgradeRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, ConfigDigest: "a b"}),
			failure.InvalidArgument, []string{"config digest"}},
		{"upgrade without a chart", upgrade(&runnerv1.UpgradeRequest{Release: releaseRef("web"), Timeout: minute}),
			failure.InvalidArgument, []string{"chart is required"}},
		{"rollback without a timeout", rollback(&runnerv1.RollbackRequest{Release: releaseRef("web")}),
			failure.InvalidArgument, []string{"timeout is required"}},
		{"rollback of an invalid release name", rollback(&runnerv1.RollbackRequest{Release: releaseRef("-web"), Timeout: minute}),
			failure.InvalidArgument, []string{`"-web"`}},
		{"rollback to a negative revision", rollback(&runnerv1.RollbackRequest{Release: releaseRef("web"), Revision: -1, Timeout: minute}),
			failure.InvalidArgument, []string{"revision", "negative"}},
		{"uninstall with a zero timeout", uninstall(&runnerv1.UninstallRequest{Release: releaseRef("web"), Timeout: timeout(0)}),
			failure.InvalidArgument, []string{"timeout 0s"}},
		{"uninstall in an invalid namespace", uninstall(&runnerv1.UninstallRequest{
			Release: &runnerv1.ReleaseRef{Name: "web", Namespace: "apps."}, Timeout: minute}),
			failure.InvalidArgument, []string{`"apps."`}},
		{"test without a release", runTests(&runnerv1.TestRequest{Timeout: minute}),
			failure.InvalidArgument, []string{"release is required"}},
		{"test with a sub-second timeout", runTests(&runnerv1.TestRequest{Release: releaseRef("web"), Timeout: timeout(500 * time.Millisecond)}),
			failure.InvalidArgument, []string{"500ms"}},
		{"unlock without a release", unlock(&runnerv1.UnlockRequest{Revision: 1}),
			failure.InvalidArgument, []string{"release is required"}},
		{"unlock of a 54-character release name", unlock(&runnerv1.UnlockRequest{Release: releaseRef(tooLong), Revision: 1}),
			failure.InvalidArgument, []string{tooLong}},
		{"state of a release in an invalid namespace", getState(&runnerv1.GetReleaseStateRequest{
			Release: &runnerv1.ReleaseRef{Name: "web", Namespace: "UPPER"}}),
			failure.InvalidArgument, []string{`"UPPER"`}},
		{"diff without a timeout", diff(&runnerv1.DiffRequest{Release: releaseRef("web"), Chart: chartRef("plain")}),
			failure.InvalidArgument, []string{"timeout is required"}},
		{"diff with values over the limit", diff(&runnerv1.DiffRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, Values: oversizedValues(t)}),
			failure.InvalidValues, []string{"limit of 1024"}},
		{"diff without a release", diff(&runnerv1.DiffRequest{Chart: chartRef("plain"), Timeout: minute}),
			failure.InvalidArgument, []string{"release is required"}},
		{"diff without a chart", diff(&runnerv1.DiffRequest{Release: releaseRef("web"), Timeout: minute}),
			failure.InvalidArgument, []string{"chart is required"}},
		{"drift detection without a release", detectDrift(&runnerv1.DetectDriftRequest{Timeout: minute}),
			failure.InvalidArgument, []string{"release is required"}},
		{"drift detection with a two-hour timeout", detectDrift(&runnerv1.DetectDriftRequest{
			Release: releaseRef("web"), Timeout: timeout(2 * time.Hour)}),
			failure.InvalidArgument, []string{"2h0m0s"}},
		{"drift correction without a timeout", correctDrift(&runnerv1.CorrectDriftRequest{Release: releaseRef("web")}),
			failure.InvalidArgument, []string{"timeout is required"}},
		{"drift correction of an invalid release name", correctDrift(&runnerv1.CorrectDriftRequest{
			Release: releaseRef("web_1"), Timeout: minute}),
			failure.InvalidArgument, []string{`"web_1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(callContext(t), r.client)
			requireStatus(t, err, codes.InvalidArgument, tt.reason, tt.mentions...)
			charts.requireNoPull(t)
		})
	}
}

// TestInvalidRequestsFoundAfterThePull covers request errors that the server's own validation
// lets through and the action package refuses once the chart is loaded: they must still be
// INVALID_ARGUMENT, and still come before any Kubernetes call. (Whether the chart was pulled
// first is not asserted: refusing them earlier would be better.)
func TestInvalidRequestsFoundAfterThePull(t *testing.T) {
	plain, err := loader.Load("../../../test/charts/plain/1.0.0")
	if err != nil {
		t.Fatalf("load the plain chart: %v", err)
	}
	charts := newFakeCharts(nil)
	charts.chart = plain
	r := startRunner(t, charts)
	minute := timeout(time.Minute)

	tests := []struct {
		name     string
		call     call
		mentions []string
	}{
		{"install with the reserved config digest null", install(&runnerv1.InstallRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, ConfigDigest: "null"}),
			[]string{`config digest "null"`}},
		{"upgrade with the reserved config digest null", upgrade(&runnerv1.UpgradeRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, ConfigDigest: "null"}),
			[]string{`config digest "null"`}},
		{"upgrade keeping a negative number of revisions", upgrade(&runnerv1.UpgradeRequest{
			Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute, MaxHistory: -1}),
			[]string{"max history"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(callContext(t), r.client)
			requireStatus(t, err, codes.InvalidArgument, failure.InvalidArgument, tt.mentions...)
		})
	}
}

func TestChartWithExternalSchemaReferenceIsRefused(t *testing.T) {
	charts := newFakeCharts(nil)
	charts.chart = &chartv2.Chart{
		Metadata: &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: "sneaky", Version: "1.0.0"},
		Schema:   []byte(`{"$ref": "file:///etc/passwd"}`),
	}
	r := startRunner(t, charts)

	_, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{
		Release: releaseRef("web"), Chart: chartRef("sneaky"), Timeout: timeout(time.Minute),
	})
	requireStatus(t, err, codes.FailedPrecondition, failure.InvalidChart, "sneaky", "file:///etc/passwd")
}

func TestChartSourceErrorsKeepTheirReason(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason failure.Reason
	}{
		{"a chart the repository does not have is NOT_FOUND",
			failure.New(failure.ChartNotFound, "chart %q not found in oci://registry.example/charts", "plain"),
			codes.NotFound, failure.ChartNotFound},
		{"a version the repository does not have is NOT_FOUND",
			failure.New(failure.VersionNotFound, "chart %q has no version 1.0.0", "plain"),
			codes.NotFound, failure.VersionNotFound},
		{"an unreachable repository is UNAVAILABLE",
			failure.New(failure.RepositoryUnreachable, "repository registry.example for chart plain: connection refused"),
			codes.Unavailable, failure.RepositoryUnreachable},
		{"refused credentials are FAILED_PRECONDITION",
			failure.New(failure.AuthFailed, "repository registry.example refused the credentials for plain"),
			codes.FailedPrecondition, failure.AuthFailed},
		{"a plain-HTTP repository is FAILED_PRECONDITION",
			failure.New(failure.InsecureRepository, "repository registry.example for plain uses plain HTTP"),
			codes.FailedPrecondition, failure.InsecureRepository},
		{"a version range is INVALID_ARGUMENT",
			failure.New(failure.InvalidVersion, "chart plain: version \"^1\" is a range"),
			codes.InvalidArgument, failure.InvalidVersion},
		{"an oversized archive is FAILED_PRECONDITION",
			failure.New(failure.ChartTooLarge, "chart plain is larger than 20 MiB"),
			codes.FailedPrecondition, failure.ChartTooLarge},
		{"a wrapped failure keeps its reason",
			fmt.Errorf("pull plain: %w", failure.New(failure.ChartNotFound, "no such chart")),
			codes.NotFound, failure.ChartNotFound},
		{"an error without a reason is INTERNAL",
			errors.New("pull plain: unexpected EOF"),
			codes.Internal, failure.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			charts := newFakeCharts(tt.err)
			r := startRunner(t, charts)
			minute := timeout(time.Minute)
			verbs := map[string]call{
				"install": install(&runnerv1.InstallRequest{Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute}),
				"upgrade": upgrade(&runnerv1.UpgradeRequest{Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute}),
				"diff":    diff(&runnerv1.DiffRequest{Release: releaseRef("web"), Chart: chartRef("plain"), Timeout: minute}),
			}
			for verb, c := range verbs {
				t.Run(verb, func(t *testing.T) {
					err := c(callContext(t), r.client)
					requireStatus(t, err, tt.code, tt.reason, "plain")
					if !strings.Contains(status.Convert(err).Message(), tt.err.Error()) {
						t.Errorf("message %q lost the source's error %q", status.Convert(err).Message(), tt.err)
					}
					charts.nextFor(t, "plain")
				})
			}
		})
	}
}

func TestChartReferenceReachesTheSource(t *testing.T) {
	basic := &runnerv1.RepositoryCredentials{Kind: &runnerv1.RepositoryCredentials_BasicAuth{
		BasicAuth: &runnerv1.BasicAuth{Username: "robot", Password: "s3cr3t"},
	}}
	docker := &runnerv1.RepositoryCredentials{Kind: &runnerv1.RepositoryCredentials_DockerConfigJson{
		DockerConfigJson: []byte(`{"auths":{}}`),
	}}
	tests := []struct {
		name          string
		runnerAllows  bool
		requestAllows bool
		credentials   *runnerv1.RepositoryCredentials
		want          chart.Ref
	}{
		{"plain HTTP needs the runner's flag and the request's", true, true, nil,
			chart.Ref{AllowInsecureHTTP: true}},
		{"a request cannot allow plain HTTP the runner forbids", false, true, nil,
			chart.Ref{AllowInsecureHTTP: false}},
		{"the runner's flag alone does not allow plain HTTP", true, false, nil,
			chart.Ref{AllowInsecureHTTP: false}},
		{"basic authentication is passed on", false, false, basic,
			chart.Ref{Username: "robot", Password: "s3cr3t"}},
		{"a docker config is passed on", false, false, docker,
			chart.Ref{DockerConfigJSON: []byte(`{"auths":{}}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			charts := newFakeCharts(failure.New(failure.ChartNotFound, "stop after the pull"))
			r := startRunner(t, charts, func(o *Options) { o.AllowInsecureHTTP = tt.runnerAllows })
			_, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{
				Release: releaseRef("web"), Timeout: timeout(time.Minute),
				Chart: &runnerv1.ChartRef{
					Repo: "oci://registry.example/charts", Name: "plain", Version: "1.2.3",
					Credentials: tt.credentials, CaBundle: []byte("PEM"), AllowInsecureHttp: tt.requestAllows,
				},
			})
			requireStatus(t, err, codes.NotFound, failure.ChartNotFound)
			got := charts.nextFor(t, "plain").ref
			want := tt.want
			want.Repo, want.Name, want.Version, want.CABundle = "oci://registry.example/charts", "plain", "1.2.3", []byte("PEM")
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("source got %+v, want %+v", got, want)
			}
		})
	}
}

func TestSecondOperationOnAHeldReleaseIsRefused(t *testing.T) {
	charts := newFakeCharts(failure.New(failure.ChartNotFound, "released by the test"))
	charts.block = make(chan struct{})
	r := startRunner(t, charts)
	minute := timeout(time.Minute)

	var wg sync.WaitGroup
	held := make(chan error, 1)
	heldCtx := callContext(t)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := r.client.Install(heldCtx, &runnerv1.InstallRequest{Release: releaseRef("a"), Chart: chartRef("first"), Timeout: minute})
		held <- err
	}()
	charts.nextFor(t, "first") // the Install holds apps/a inside the chart pull

	for verb, c := range lockingCalls("a") {
		t.Run(verb+" on the held release is RELEASE_LOCKED", func(t *testing.T) {
			err := c(callContext(t), r.client)
			requireStatus(t, err, codes.FailedPrecondition, failure.ReleaseLocked, "apps/a", "in progress")
			charts.requireNoPull(t)
		})
	}

	others := []struct {
		name  string
		chart string
		call  call
	}{
		{"install of another release proceeds", "other",
			install(&runnerv1.InstallRequest{Release: releaseRef("b"), Chart: chartRef("other"), Timeout: minute})},
		{"the same name in another namespace proceeds", "elsewhere",
			install(&runnerv1.InstallRequest{Release: &runnerv1.ReleaseRef{Name: "a", Namespace: "other"}, Chart: chartRef("elsewhere"), Timeout: minute})},
		{"diff of the held release takes no lock", "preview",
			diff(&runnerv1.DiffRequest{Release: releaseRef("a"), Chart: chartRef("preview"), Timeout: minute})},
	}
	results := make(chan error, len(others))
	ctx := callContext(t) // outlives the subtests: their calls stay blocked until the end
	for _, o := range others {
		t.Run(o.name, func(t *testing.T) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- o.call(ctx, r.client)
			}()
			charts.nextFor(t, o.chart)
		})
	}

	close(charts.block)
	wg.Wait()
	requireStatus(t, <-held, codes.NotFound, failure.ChartNotFound)
	for range others {
		requireStatus(t, <-results, codes.NotFound, failure.ChartNotFound)
	}

	t.Run("the release is free again once the first call returned", func(t *testing.T) {
		_, err := r.client.Upgrade(callContext(t), &runnerv1.UpgradeRequest{Release: releaseRef("a"), Chart: chartRef("after"), Timeout: minute})
		requireStatus(t, err, codes.NotFound, failure.ChartNotFound)
		charts.nextFor(t, "after")
	})
}

func TestCallerCancellationFreesTheRelease(t *testing.T) {
	charts := newFakeCharts(failure.New(failure.ChartNotFound, "no chart"))
	charts.block = make(chan struct{})
	r := startRunner(t, charts)
	minute := timeout(time.Minute)

	ctx, cancel := context.WithCancel(callContext(t))
	done := make(chan error, 1)
	go func() {
		_, err := r.client.Install(ctx, &runnerv1.InstallRequest{Release: releaseRef("a"), Chart: chartRef("first"), Timeout: minute})
		done <- err
	}()
	first := charts.nextFor(t, "first")
	cancel()
	if code := status.Code(<-done); code != codes.Canceled {
		t.Fatalf("cancelled call ended with %v, want CANCELLED", code)
	}
	select {
	case <-first.ctx.Done():
	case <-time.After(patience):
		t.Fatal("the pull of a cancelled call was not cancelled")
	}

	// The server releases the lock when its handler returns, which may be just after the
	// client saw the cancellation: poll until the release is free.
	close(charts.block)
	deadline := time.Now().Add(patience)
	for {
		_, err := r.client.Upgrade(callContext(t), &runnerv1.UpgradeRequest{Release: releaseRef("a"), Chart: chartRef("after"), Timeout: minute})
		if failure.Reason(errorInfo(status.Convert(err)).GetReason()) != failure.ReleaseLocked {
			requireStatus(t, err, codes.NotFound, failure.ChartNotFound)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the release stayed locked after its call was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	charts.nextFor(t, "after")
}

func TestShutdown(t *testing.T) {
	charts := newFakeCharts(failure.New(failure.ChartNotFound, "never returned: the test never unblocks"))
	charts.block = make(chan struct{})
	charts.linger = make(chan struct{})
	r := startRunner(t, charts)

	blocked := make(chan error, 1)
	ctx := callContext(t)
	go func() {
		_, err := r.client.Install(ctx, &runnerv1.InstallRequest{
			Release: releaseRef("a"), Chart: chartRef("first"), Timeout: timeout(time.Minute),
		})
		blocked <- err
	}()
	inFlight := charts.nextFor(t, "first")

	stopped := make(chan struct{})
	go func() {
		r.server.Shutdown()
		close(stopped)
	}()

	t.Run("the operation in flight is cancelled", func(t *testing.T) {
		select {
		case <-inFlight.ctx.Done():
		case <-time.After(patience):
			t.Fatal("Shutdown did not cancel the operation's context")
		}
		if !errors.Is(inFlight.ctx.Err(), context.Canceled) {
			t.Fatalf("operation context error = %v, want context.Canceled", inFlight.ctx.Err())
		}
	})
	t.Run("Shutdown returns once the operation has returned", func(t *testing.T) {
		// That it does not return before is TestShutdownWaitsForTheOperationInFlight's proof.
		close(charts.linger)
		select {
		case <-stopped:
		case <-time.After(patience):
			t.Fatal("Shutdown did not return after the operation returned")
		}
		requireStatus(t, <-blocked, codes.Canceled, failure.Cancelled)
	})
	for verb, c := range lockingCalls("b") {
		t.Run(verb+" after Shutdown is CANCELLED", func(t *testing.T) {
			requireStatus(t, c(callContext(t), r.client), codes.Canceled, failure.Cancelled, "shutting down")
			charts.requireNoPull(t)
		})
	}
	t.Run("a second Shutdown returns at once", func(t *testing.T) {
		r.server.Shutdown()
	})
}

// TestShutdownWaitsForTheOperationInFlight calls the server directly inside a synctest bubble:
// synctest.Wait returns only once every other goroutine of the bubble is blocked, so a Shutdown
// that did not wait for the cancelled operation would have returned by then.
func TestShutdownWaitsForTheOperationInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		charts := newFakeCharts(failure.New(failure.ChartNotFound, "never returned: the operation is cancelled"))
		charts.block = make(chan struct{})
		charts.linger = make(chan struct{})
		srv := New(Options{
			Charts:         charts,
			Clients:        kube.NewFactory(&rest.Config{Host: "https://127.0.0.1:1"}),
			Log:            slog.New(slog.DiscardHandler),
			MaxValuesBytes: testValuesSize,
			HelmConfig:     newHelmMemory().config,
		})
		returned := make(chan error, 1)
		go func() {
			_, err := srv.Install(context.Background(), &runnerv1.InstallRequest{
				Release: releaseRef("a"), Chart: chartRef("first"), Timeout: timeout(time.Minute),
			})
			returned <- err
		}()
		inFlight := charts.nextFor(t, "first")
		stopped := make(chan struct{})
		go func() {
			srv.Shutdown()
			close(stopped)
		}()

		synctest.Wait()
		// Errors, not Fatal: linger must still be closed so that every goroutine of the bubble ends.
		if !errors.Is(inFlight.ctx.Err(), context.Canceled) {
			t.Errorf("operation context error = %v, want context.Canceled", inFlight.ctx.Err())
		}
		select {
		case <-stopped:
			t.Error("Shutdown returned while an operation was still running")
		default:
		}

		close(charts.linger)
		synctest.Wait()
		select {
		case <-stopped:
		default:
			t.Fatal("Shutdown did not return after the operation returned")
		}
		requireStatus(t, <-returned, codes.Canceled, failure.Cancelled)
	})
}
