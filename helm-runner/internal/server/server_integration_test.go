//go:build integration

package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/chart"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// These tests run the HelmRunnerService over an in-memory gRPC connection against the local
// cluster and chart repositories (test/cluster/up.sh), with the runner's real chart source and
// Kubernetes clients. Every test works in a namespace of its own. The cluster may be shared
// with a benchmark: deadlines are generous and nothing asserts how long a call took.

const (
	// liveCallDeadline bounds one gRPC call; liveTimeout is the request's own timeout.
	liveCallDeadline = 5 * time.Minute
	liveTimeout      = 3 * time.Minute
	releaseName      = "web"
)

var (
	liveOnce    sync.Once
	liveFactory *kube.Factory
	liveAdmin   kubernetes.Interface
	liveErr     error
)

// liveRunner is a Server with the real chart source and clients, and a namespace for one test.
type liveRunner struct {
	env       testenv.Env
	client    runnerv1.HelmRunnerServiceClient
	kube      kubernetes.Interface
	namespace string
}

// startLiveRunner serves a Server over bufconn as the runner process builds it (one shared
// client factory, --allow-insecure-http) and creates a namespace deleted after the test. opts
// may change the server's options.
func startLiveRunner(t *testing.T, opts ...func(*Options)) *liveRunner {
	t.Helper()
	env := testenv.Load(t)
	liveOnce.Do(func() {
		cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig())
		if err != nil {
			liveErr = err
			return
		}
		liveFactory = kube.NewFactory(cfg)
		admin, err := liveFactory.For(kube.Identity{})
		if err != nil {
			liveErr = err
			return
		}
		liveAdmin = admin.Typed()
	})
	if liveErr != nil {
		t.Fatalf("local cluster: %v", liveErr)
	}
	source, err := chart.NewSource(t.TempDir(), chart.Limits{})
	if err != nil {
		t.Fatalf("chart source: %v", err)
	}
	o := Options{
		Charts:            source,
		Clients:           liveFactory,
		Log:               slog.New(slog.DiscardHandler),
		AllowInsecureHTTP: true,
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
	r := &liveRunner{env: env, client: runnerv1.NewHelmRunnerServiceClient(conn), kube: liveAdmin}
	r.namespace = r.createNamespace(t)
	// Cleanups run last-in first-out: the server stops before its namespace is deleted.
	t.Cleanup(func() {
		srv.Shutdown()
		_ = conn.Close()
		gs.Stop()
	})
	return r
}

func (r *liveRunner) createNamespace(t *testing.T) string {
	t.Helper()
	return testenv.Namespace(t, r.kube, "srv")
}

// ctx bounds one call.
func (r *liveRunner) ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveCallDeadline)
	t.Cleanup(cancel)
	return ctx
}

func (r *liveRunner) release(name string) *runnerv1.ReleaseRef {
	return &runnerv1.ReleaseRef{Name: name, Namespace: r.namespace}
}

// ociChart is a chart of the local plain-HTTP OCI registry.
func (r *liveRunner) ociChart(name, version string) *runnerv1.ChartRef {
	return &runnerv1.ChartRef{Repo: r.env.OCIRepo(), Name: name, Version: version, AllowInsecureHttp: true}
}

// install installs chart name at version as release, failing the test unless it succeeds.
func (r *liveRunner) install(t *testing.T, release, name, version string, values map[string]any) *runnerv1.InstallResponse {
	t.Helper()
	v, err := structpb.NewStruct(values)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.Install(r.ctx(t), &runnerv1.InstallRequest{
		Release: r.release(release), Chart: r.ociChart(name, version), Values: v, Timeout: timeout(liveTimeout),
	})
	if err != nil {
		t.Fatalf("Install %s %s: %v", name, version, err)
	}
	requireSucceeded(t, "Install", resp.GetOutcome())
	return resp
}

// upgradePlain upgrades release to plain at version, failing the test unless it succeeds.
func (r *liveRunner) upgradePlain(t *testing.T, release, version string) *runnerv1.UpgradeResponse {
	t.Helper()
	resp, err := r.client.Upgrade(r.ctx(t), &runnerv1.UpgradeRequest{
		Release: r.release(release), Chart: r.ociChart("plain", version), Timeout: timeout(liveTimeout),
	})
	if err != nil {
		t.Fatalf("Upgrade to plain %s: %v", version, err)
	}
	requireSucceeded(t, "Upgrade", resp.GetOutcome())
	return resp
}

func (r *liveRunner) state(t *testing.T, release string, historyLimit int32) *runnerv1.GetReleaseStateResponse {
	t.Helper()
	resp, err := r.client.GetReleaseState(r.ctx(t), &runnerv1.GetReleaseStateRequest{Release: r.release(release), HistoryLimit: historyLimit})
	if err != nil {
		t.Fatalf("GetReleaseState: %v", err)
	}
	return resp
}

func (r *liveRunner) detectDrift(t *testing.T, ignore ...*runnerv1.IgnoreRule) *runnerv1.DetectDriftResponse {
	t.Helper()
	resp, err := r.client.DetectDrift(r.ctx(t), &runnerv1.DetectDriftRequest{
		Release: r.release(releaseName), Ignore: ignore, Timeout: timeout(liveTimeout),
	})
	if err != nil {
		t.Fatalf("DetectDrift: %v", err)
	}
	return resp
}

func (r *liveRunner) replicas(t *testing.T, deployment string) int32 {
	t.Helper()
	d, err := r.kube.AppsV1().Deployments(r.namespace).Get(r.ctx(t), deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Deployment %s: %v", deployment, err)
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// configMapData is the data of a ConfigMap, nil when it does not exist.
func (r *liveRunner) configMapData(t *testing.T, name string) map[string]string {
	t.Helper()
	cm, err := r.kube.CoreV1().ConfigMaps(r.namespace).Get(r.ctx(t), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get ConfigMap %s: %v", name, err)
	}
	return cm.Data
}

func requireSucceeded(t *testing.T, verb string, o *runnerv1.Outcome) {
	t.Helper()
	if !o.GetSucceeded() {
		t.Fatalf("%s outcome = %v, want succeeded", verb, o)
	}
}

func requireState(t *testing.T, s *runnerv1.ReleaseState, revision int32, st runnerv1.ReleaseStatus, chartVersion string) {
	t.Helper()
	if !s.GetExists() || s.GetRevision() != revision || s.GetStatus() != st || s.GetChartVersion() != chartVersion {
		t.Fatalf("state = revision %d %v chart %s (exists %t), want revision %d %v chart %s",
			s.GetRevision(), s.GetStatus(), s.GetChartVersion(), s.GetExists(), revision, st, chartVersion)
	}
}

func findObject(t *testing.T, objects []*runnerv1.ObjectDiff, kind string) *runnerv1.ObjectDiff {
	t.Helper()
	for _, o := range objects {
		if o.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s in %v", kind, objects)
	return nil
}

func findField(t *testing.T, o *runnerv1.ObjectDiff, path string) *runnerv1.FieldDiff {
	t.Helper()
	for _, f := range o.GetFields() {
		if f.GetPath() == path {
			return f
		}
	}
	t.Fatalf("%s %s has no field %s: %v", o.GetKind(), o.GetName(), path, o.GetFields())
	return nil
}

func TestLiveInstallThenTest(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)

	t.Run("passing tests succeed with one result", func(t *testing.T) {
		installed := r.install(t, "pass", "testable", "1.0.0", nil)
		requireState(t, installed.GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
		if len(installed.GetWrites()) == 0 {
			t.Fatal("Install reported no release storage writes")
		}

		resp, err := r.client.Test(r.ctx(t), &runnerv1.TestRequest{Release: r.release("pass"), Timeout: timeout(liveTimeout)})
		if err != nil {
			t.Fatalf("Test: %v", err)
		}
		requireSucceeded(t, "Test", resp.GetOutcome())
		results := resp.GetResults()
		if len(results) != 1 || results[0].GetPhase() != runnerv1.TestPhase_TEST_PHASE_SUCCEEDED || results[0].GetName() != "pass-testable-test" {
			t.Fatalf("results = %v, want pass-testable-test SUCCEEDED", results)
		}
		tests := r.state(t, "pass", 0).GetState().GetTests()
		if !tests.GetHasTests() || !tests.GetRan() || !tests.GetSucceeded() {
			t.Fatalf("state tests = %v, want ran and succeeded", tests)
		}
	})
	t.Run("a failing test is a TEST_FAILED outcome", func(t *testing.T) {
		r.install(t, "fail", "testable", "1.0.0", map[string]any{"testShouldFail": true})

		resp, err := r.client.Test(r.ctx(t), &runnerv1.TestRequest{Release: r.release("fail"), Timeout: timeout(liveTimeout)})
		if err != nil {
			t.Fatalf("Test: %v (a failed test must be an outcome, not an error)", err)
		}
		o := resp.GetOutcome()
		if o.GetSucceeded() || o.GetFailureReason() != runnerv1.ErrorReason_ERROR_REASON_TEST_FAILED || !strings.Contains(o.GetMessage(), "fail-testable-test") {
			t.Fatalf("outcome = %v, want TEST_FAILED naming fail-testable-test", o)
		}
		if rs := resp.GetResults(); len(rs) != 1 || rs[0].GetPhase() != runnerv1.TestPhase_TEST_PHASE_FAILED {
			t.Fatalf("results = %v, want one FAILED", rs)
		}
		if len(resp.GetWrites()) == 0 {
			t.Fatal("Test reported no write of its results")
		}
	})
}

func TestLiveRollbackToFirstRevision(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)
	r.install(t, releaseName, "plain", "1.0.0", nil)
	upgraded := r.upgradePlain(t, releaseName, "1.1.0")
	requireState(t, upgraded.GetState(), 2, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.1.0")
	if got := r.configMapData(t, "web-plain")["version"]; got != "1.1.0" {
		t.Fatalf("ConfigMap version after the upgrade = %q, want 1.1.0", got)
	}

	resp, err := r.client.Rollback(r.ctx(t), &runnerv1.RollbackRequest{
		Release: r.release(releaseName), Revision: 1, Timeout: timeout(liveTimeout),
	})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	requireSucceeded(t, "Rollback", resp.GetOutcome())
	requireState(t, resp.GetState(), 3, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
	if data := r.configMapData(t, "web-plain"); data == nil || data["version"] != "" {
		t.Fatalf("ConfigMap after the rollback = %v, want 1.0.0's, without version", data)
	}
}

func TestLiveUninstallKeepingHistory(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)
	r.install(t, releaseName, "plain", "1.0.0", nil)

	resp, err := r.client.Uninstall(r.ctx(t), &runnerv1.UninstallRequest{
		Release: r.release(releaseName), KeepHistory: true, Timeout: timeout(liveTimeout),
	})
	if err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	requireSucceeded(t, "Uninstall", resp.GetOutcome())
	requireState(t, resp.GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_UNINSTALLED, "1.0.0")
	requireState(t, r.state(t, releaseName, 0).GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_UNINSTALLED, "1.0.0")
	if data := r.configMapData(t, "web-plain"); data != nil {
		t.Fatalf("ConfigMap still exists after Uninstall: %v", data)
	}
}

func TestLiveDiff(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)

	t.Run("a release that does not exist would be installed", func(t *testing.T) {
		resp, err := r.client.Diff(r.ctx(t), &runnerv1.DiffRequest{
			Release: r.release("absent"), Chart: r.ociChart("plain", "1.0.0"), Timeout: timeout(liveTimeout),
		})
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		if !resp.GetInstall() || len(resp.GetObjects()) != 3 {
			t.Fatalf("diff = install %t with %d objects, want an install of 3", resp.GetInstall(), len(resp.GetObjects()))
		}
		for _, o := range resp.GetObjects() {
			if o.GetChange() != runnerv1.ChangeType_CHANGE_TYPE_CREATE || o.GetNamespace() != r.namespace {
				t.Errorf("%s %s = %v in %q, want CREATE in %q", o.GetKind(), o.GetName(), o.GetChange(), o.GetNamespace(), r.namespace)
			}
		}
		if s := r.state(t, "absent", 0).GetState(); s.GetExists() {
			t.Fatalf("Diff made a release: %v", s)
		}
	})
	t.Run("an upgrade to 1.1.0 adds the ConfigMap's version", func(t *testing.T) {
		r.install(t, releaseName, "plain", "1.0.0", nil)
		resp, err := r.client.Diff(r.ctx(t), &runnerv1.DiffRequest{
			Release: r.release(releaseName), Chart: r.ociChart("plain", "1.1.0"), Timeout: timeout(liveTimeout),
		})
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		if resp.GetInstall() {
			t.Fatal("Diff of an installed release says install")
		}
		cm := findObject(t, resp.GetObjects(), "ConfigMap")
		if cm.GetChange() != runnerv1.ChangeType_CHANGE_TYPE_UPDATE || cm.GetName() != "web-plain" {
			t.Fatalf("ConfigMap diff = %v, want an UPDATE of web-plain", cm)
		}
		if f := findField(t, cm, "/data/version"); f.GetDesired() != `"1.1.0"` || f.GetLive() != "" {
			t.Fatalf("/data/version = %v, want added as \"1.1.0\"", f)
		}
		requireState(t, r.state(t, releaseName, 0).GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
		if _, ok := r.configMapData(t, "web-plain")["version"]; ok {
			t.Fatal("Diff changed the ConfigMap")
		}
	})
}

func TestLiveDriftDetectionAndCorrection(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)
	r.install(t, releaseName, "plain", "1.0.0", nil)
	// As kubectl scale does: a patch of the scale subresource, which cannot conflict with the
	// Deployment controller's status updates.
	if _, err := r.kube.AppsV1().Deployments(r.namespace).Patch(r.ctx(t), "web-plain", types.MergePatchType,
		[]byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatalf("scale to 3: %v", err)
	}

	t.Run("scaled replicas are reported", func(t *testing.T) {
		resp := r.detectDrift(t)
		if resp.GetRevision() != 1 || resp.GetObjectsChecked() != 3 || len(resp.GetObjects()) != 1 {
			t.Fatalf("drift = revision %d, %d checked, objects %v; want revision 1, 3 checked, the Deployment",
				resp.GetRevision(), resp.GetObjectsChecked(), resp.GetObjects())
		}
		d := resp.GetObjects()[0]
		if d.GetKind() != "Deployment" || d.GetName() != "web-plain" || d.GetChange() != runnerv1.ChangeType_CHANGE_TYPE_UPDATE {
			t.Fatalf("drifted object = %v, want an UPDATE of Deployment web-plain", d)
		}
		if len(d.GetFields()) != 1 {
			t.Fatalf("fields = %v, want only /spec/replicas", d.GetFields())
		}
		if f := d.GetFields()[0]; f.GetPath() != "/spec/replicas" || f.GetDesired() != "1" || f.GetLive() != "3" {
			t.Fatalf("field = %v, want /spec/replicas desired 1 live 3", f)
		}
	})
	t.Run("an ignore rule for Deployment replicas hides it", func(t *testing.T) {
		resp := r.detectDrift(t, &runnerv1.IgnoreRule{
			Paths: []string{"/spec/replicas"}, Target: &runnerv1.ObjectSelector{Kind: "Deployment"},
		})
		if resp.GetObjectsChecked() != 3 || len(resp.GetObjects()) != 0 {
			t.Fatalf("drift = %d checked, objects %v; want 3 checked, none drifted", resp.GetObjectsChecked(), resp.GetObjects())
		}
	})
	t.Run("correction without force_conflicts is a CONFLICT outcome", func(t *testing.T) {
		// The scale patch made another field manager own /spec/replicas.
		resp, err := r.client.CorrectDrift(r.ctx(t), &runnerv1.CorrectDriftRequest{
			Release: r.release(releaseName), Timeout: timeout(liveTimeout),
		})
		if err != nil {
			t.Fatalf("CorrectDrift: %v (an object that cannot be re-applied is an outcome, not an error)", err)
		}
		o := resp.GetOutcome()
		if o.GetSucceeded() || o.GetFailureReason() != runnerv1.ErrorReason_ERROR_REASON_CONFLICT || !strings.Contains(o.GetMessage(), "web-plain") {
			t.Fatalf("outcome = %v, want CONFLICT naming web-plain", o)
		}
		if objs := resp.GetObjects(); len(objs) != 1 || objs[0].GetCorrected() || objs[0].GetError() == "" {
			t.Fatalf("objects = %v, want the Deployment not corrected, with its error", objs)
		}
		if got := r.replicas(t, "web-plain"); got != 3 {
			t.Fatalf("replicas after a refused correction = %d, want 3", got)
		}
	})
	t.Run("correction restores the replicas without a new revision", func(t *testing.T) {
		resp, err := r.client.CorrectDrift(r.ctx(t), &runnerv1.CorrectDriftRequest{
			Release: r.release(releaseName), Timeout: timeout(liveTimeout), ForceConflicts: true,
		})
		if err != nil {
			t.Fatalf("CorrectDrift: %v", err)
		}
		requireSucceeded(t, "CorrectDrift", resp.GetOutcome())
		if resp.GetRevision() != 1 || len(resp.GetObjects()) != 1 || !resp.GetObjects()[0].GetCorrected() {
			t.Fatalf("correction = revision %d, objects %v; want the Deployment corrected from revision 1", resp.GetRevision(), resp.GetObjects())
		}
		if got := r.replicas(t, "web-plain"); got != 1 {
			t.Fatalf("replicas after CorrectDrift = %d, want 1", got)
		}
		if again := r.detectDrift(t); len(again.GetObjects()) != 0 {
			t.Fatalf("drift after CorrectDrift = %v, want none", again.GetObjects())
		}
		requireState(t, r.state(t, releaseName, 0).GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
	})
}

func TestLiveHistoryIsNewestFirst(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)
	r.install(t, releaseName, "plain", "1.0.0", nil)
	r.upgradePlain(t, releaseName, "1.1.0")
	r.upgradePlain(t, releaseName, "1.0.0")

	resp := r.state(t, releaseName, 10)
	requireState(t, resp.GetState(), 3, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
	want := []string{"3 RELEASE_STATUS_DEPLOYED 1.0.0", "2 RELEASE_STATUS_SUPERSEDED 1.1.0", "1 RELEASE_STATUS_SUPERSEDED 1.0.0"}
	var got []string
	for _, h := range resp.GetHistory() {
		got = append(got, fmt.Sprintf("%d %v %s", h.GetRevision(), h.GetStatus(), h.GetChartVersion()))
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("history = %v, want %v", got, want)
	}
	if short := r.state(t, releaseName, 2).GetHistory(); len(short) != 2 || short[0].GetRevision() != 3 {
		t.Fatalf("history limited to 2 = %v, want revisions 3 and 2", short)
	}
}

func TestLiveErrors(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)
	r.install(t, releaseName, "plain", "1.0.0", nil)
	limit := timeout(liveTimeout)

	tests := []struct {
		name     string
		call     call
		code     codes.Code
		reason   failure.Reason
		mentions []string
	}{
		{"upgrading a release that does not exist is RELEASE_NOT_FOUND",
			upgrade(&runnerv1.UpgradeRequest{Release: r.release("absent"), Chart: r.ociChart("plain", "1.1.0"), Timeout: limit}),
			codes.NotFound, failure.ReleaseNotFound, []string{`"absent"`}},
		{"installing an installed release is RELEASE_EXISTS",
			install(&runnerv1.InstallRequest{Release: r.release(releaseName), Chart: r.ociChart("plain", "1.0.0"), Timeout: limit}),
			codes.AlreadyExists, failure.ReleaseExists, []string{`"web"`, "revision 1"}},
		{"unlocking a release that is not pending is PRECONDITION_FAILED",
			unlock(&runnerv1.UnlockRequest{Release: r.release(releaseName), Revision: 1}),
			codes.FailedPrecondition, failure.PreconditionFailed, []string{`"web"`, "not pending"}},
		{"unlocking a revision that is not the latest is PRECONDITION_FAILED",
			unlock(&runnerv1.UnlockRequest{Release: r.release(releaseName), Revision: 7}),
			codes.FailedPrecondition, failure.PreconditionFailed, []string{"latest revision is 1, not 7"}},
		{"rolling back to a revision that does not exist is REVISION_NOT_FOUND",
			rollback(&runnerv1.RollbackRequest{Release: r.release(releaseName), Revision: 9, Timeout: limit}),
			codes.NotFound, failure.RevisionNotFound, []string{"revision 9"}},
		{"drift of a release that does not exist is RELEASE_NOT_FOUND",
			detectDrift(&runnerv1.DetectDriftRequest{Release: r.release("absent"), Timeout: limit}),
			codes.NotFound, failure.ReleaseNotFound, []string{`"absent"`}},
		{"a chart the registry does not have is NOT_FOUND",
			install(&runnerv1.InstallRequest{Release: r.release("other"), Chart: r.ociChart("no-such-chart", "1.0.0"), Timeout: limit}),
			codes.NotFound, failure.ChartNotFound, []string{"no-such-chart"}},
		{"a plain-HTTP registry the request does not allow is INSECURE_REPOSITORY",
			install(&runnerv1.InstallRequest{Release: r.release("other"), Timeout: limit,
				Chart: &runnerv1.ChartRef{Repo: r.env.OCIRepo(), Name: "plain", Version: "1.0.0"}}),
			codes.FailedPrecondition, failure.InsecureRepository, nil},
		{"a plain-HTTP repository the request does not allow is INSECURE_REPOSITORY",
			install(&runnerv1.InstallRequest{Release: r.release("other"), Timeout: limit,
				Chart: &runnerv1.ChartRef{Repo: r.env.HTTPRepo(), Name: "plain", Version: "1.0.0"}}),
			codes.FailedPrecondition, failure.InsecureRepository, []string{"plain HTTP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireStatus(t, tt.call(r.ctx(t), r.client), tt.code, tt.reason, tt.mentions...)
		})
	}
	requireState(t, r.state(t, releaseName, 0).GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
	if s := r.state(t, "other", 0).GetState(); s.GetExists() {
		t.Fatalf("a refused install made a release: %v", s)
	}
}
