//go:build integration

// End to end: every RPC of planton.helm.v1.HelmReleaseService through the generated Go client
// and this package, against a real controller. test/api/go-client.test.ts starts the controller
// with the API on the local control plane, makes the ServiceAccounts, their tokens and RBAC,
// and runs this test with:
//
//	PLANTON_API_ADDR         host:port of the API
//	PLANTON_API_CA           CA file of the API's serving certificate
//	PLANTON_API_TOKEN        token allowed every verb on helmreleases in the namespace
//	PLANTON_API_VIEWER_TOKEN token allowed get, list and watch only
//	PLANTON_TEST_NAMESPACE   namespace the controller watches, empty of HelmReleases
//	PLANTON_TEST_REPO        chart repository holding test/charts/plain 1.0.0 and 1.1.0
//	PLANTON_TEST_RESTART_FILE file this test creates to ask for a controller restart: the suite
//	                         then stops the controller, labels go-web restarted=while-down
//	                         through the Kubernetes API, and starts it again at the same address
package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/project-planton/helm-release-controller/sdk/go/client"
	helmv1 "github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1"
)

type api struct {
	addr, ca, namespace, repo, token, restartFile string
	deployer, viewer                              *client.Client
}

func setUp(t *testing.T) *api {
	t.Helper()
	if os.Getenv("PLANTON_API_ADDR") == "" {
		t.Skip("PLANTON_API_ADDR is not set: run through test/api/go-client.test.ts")
	}
	env := func(name string) string {
		value := os.Getenv(name)
		if value == "" {
			t.Fatalf("%s is not set", name)
		}
		return value
	}
	a := &api{
		addr: env("PLANTON_API_ADDR"), ca: env("PLANTON_API_CA"), namespace: env("PLANTON_TEST_NAMESPACE"),
		repo: env("PLANTON_TEST_REPO"), token: env("PLANTON_API_TOKEN"), restartFile: env("PLANTON_TEST_RESTART_FILE"),
	}
	var err error
	if a.deployer, err = client.Dial(a.addr, a.ca, a.token); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.deployer.Close() })
	if a.viewer, err = client.Dial(a.addr, a.ca, env("PLANTON_API_VIEWER_TOKEN")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.viewer.Close() })
	return a
}

func (a *api) spec(t *testing.T, version, message string) *helmv1.HelmReleaseSpec {
	t.Helper()
	values, err := structpb.NewStruct(map[string]any{"message": message})
	if err != nil {
		t.Fatal(err)
	}
	return &helmv1.HelmReleaseSpec{Repo: a.repo, Name: "plain", Version: version, Values: values, Wait: proto.Bool(false)}
}

func deadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func history(t *testing.T, c helmv1.HelmReleaseServiceClient, namespace, name string) [][3]string {
	t.Helper()
	res, err := c.History(deadline(t, 30*time.Second), &helmv1.HistoryRequest{Namespace: namespace, Name: name})
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var out [][3]string
	for _, r := range res.GetRevisions() {
		out = append(out, [3]string{strconv.Itoa(int(r.GetRevision())), r.GetChartVersion(), r.GetStatus()})
	}
	return out
}

// watchUntil watches namespace/name from resourceVersion until done accepts an event.
func watchUntil(t *testing.T, c helmv1.HelmReleaseServiceClient, namespace, name, resourceVersion string, done func(*helmv1.WatchResponse) bool) *helmv1.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	stream, err := c.Watch(ctx, &helmv1.WatchRequest{Namespace: namespace, Name: name, ResourceVersion: resourceVersion})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	for {
		event, err := stream.Recv()
		if err != nil {
			t.Fatalf("Watch %s/%s: %v", namespace, name, err)
		}
		if done(event) {
			return event
		}
	}
}

// run runs the subtests in order, stopping at the first that fails: each builds on the last.
func run(t *testing.T, steps []step) {
	for _, s := range steps {
		if !t.Run(s.name, s.test) {
			t.FailNow()
		}
	}
}

type step struct {
	name string
	test func(*testing.T)
}

func TestHelmReleaseService(t *testing.T) {
	a := setUp(t)
	ns := a.namespace
	var installed *helmv1.HelmRelease

	run(t, []step{
		{"ApplyCreatesAndTheControllerInstalls", func(t *testing.T) {
			res, err := a.deployer.Apply(deadline(t, 30*time.Second), &helmv1.ApplyRequest{
				Namespace: ns, Name: "go-web", Labels: map[string]string{"sdk": "go"}, Spec: a.spec(t, "1.0.0", "from-go"),
			})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !res.GetCreated() || res.GetHelmRelease().GetGeneration() != 1 || res.GetHelmRelease().GetUid() == "" {
				t.Fatalf("Apply = created %v, generation %d, uid %q; want a new object at generation 1",
					res.GetCreated(), res.GetHelmRelease().GetGeneration(), res.GetHelmRelease().GetUid())
			}
			installed, err = client.WaitReady(deadline(t, 3*time.Minute), a.deployer, ns, "go-web")
			if err != nil {
				t.Fatalf("WaitReady: %v", err)
			}
			release := installed.GetStatus().GetRelease()
			if release.GetRevision() != 1 || release.GetChartVersion() != "1.0.0" || release.GetStatus() != "deployed" {
				t.Fatalf("release = %v, want revision 1 of 1.0.0 deployed", release)
			}
			if ready := client.Condition(installed, "Ready"); ready.GetObservedGeneration() != 1 {
				t.Fatalf("Ready condition %v, want it for generation 1", ready)
			}
		}},
		{"ApplyOfTheSameSpecChangesNothing", func(t *testing.T) {
			res, err := a.deployer.Apply(deadline(t, 30*time.Second), &helmv1.ApplyRequest{
				Namespace: ns, Name: "go-web", Labels: map[string]string{"sdk": "go"}, Spec: a.spec(t, "1.0.0", "from-go"),
			})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.GetCreated() || res.GetHelmRelease().GetGeneration() != 1 || res.GetHelmRelease().GetUid() != installed.GetUid() {
				t.Fatalf("second Apply = created %v, generation %d; want the same object at generation 1",
					res.GetCreated(), res.GetHelmRelease().GetGeneration())
			}
		}},
		{"GetReturnsTheReadyRelease", func(t *testing.T) {
			res, err := a.viewer.Get(deadline(t, 30*time.Second), &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			hr := res.GetHelmRelease()
			if hr.GetUid() != installed.GetUid() || !client.Ready(hr) || hr.GetLabels()["sdk"] != "go" ||
				hr.GetSpec().GetVersion() != "1.0.0" || hr.GetSpec().GetValues().GetFields()["message"].GetStringValue() != "from-go" {
				t.Fatalf("Get = %v", hr)
			}
		}},
		{"HistoryHasTheInstall", func(t *testing.T) {
			if got, want := history(t, a.viewer, ns, "go-web"), [][3]string{{"1", "1.0.0", "deployed"}}; !slices.Equal(got, want) {
				t.Fatalf("History = %v, want %v", got, want)
			}
		}},
		{"ListPagesAndFiltersByLabel", func(t *testing.T) {
			// A second HelmRelease, suspended: the controller never installs it.
			suspended := a.spec(t, "1.0.0", "never")
			suspended.Suspend = true
			if _, err := a.deployer.Apply(deadline(t, 30*time.Second), &helmv1.ApplyRequest{
				Namespace: ns, Name: "go-idle", Labels: map[string]string{"sdk": "go", "idle": "yes"}, Spec: suspended,
			}); err != nil {
				t.Fatalf("Apply go-idle: %v", err)
			}
			ctx := deadline(t, 30*time.Second)
			first, err := a.viewer.List(ctx, &helmv1.ListRequest{Namespace: ns, PageSize: 1})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if names(first.GetHelmReleases()) != "go-idle" || first.GetNextPageToken() == "" || first.GetResourceVersion() == "" {
				t.Fatalf("first page = %s, next %q, resourceVersion %q; want go-idle and a next page", names(first.GetHelmReleases()), first.GetNextPageToken(), first.GetResourceVersion())
			}
			second, err := a.viewer.List(ctx, &helmv1.ListRequest{Namespace: ns, PageSize: 1, PageToken: first.GetNextPageToken()})
			if err != nil {
				t.Fatalf("List page 2: %v", err)
			}
			if names(second.GetHelmReleases()) != "go-web" || second.GetNextPageToken() != "" {
				t.Fatalf("second page = %s, next %q; want go-web, last page", names(second.GetHelmReleases()), second.GetNextPageToken())
			}
			for selector, want := range map[string]string{"sdk=go": "go-idle,go-web", "idle=yes": "go-idle", "sdk=go,idle!=yes": "go-web", "sdk=ts": ""} {
				res, err := a.viewer.List(ctx, &helmv1.ListRequest{Namespace: ns, LabelSelector: selector})
				if err != nil {
					t.Fatalf("List %s: %v", selector, err)
				}
				if got := names(res.GetHelmReleases()); got != want {
					t.Errorf("List %s = %q, want %q", selector, got, want)
				}
			}
		}},
		{"WatchStartsWithTheCurrentStateOrAfterAVersion", func(t *testing.T) {
			added := watchUntil(t, a.viewer, ns, "go-web", "", func(*helmv1.WatchResponse) bool { return true })
			if added.GetType() != helmv1.WatchEventType_WATCH_EVENT_TYPE_ADDED || added.GetHelmRelease().GetUid() != installed.GetUid() {
				t.Fatalf("first event = %v %s, want ADDED go-web", added.GetType(), added.GetHelmRelease().GetName())
			}
			listed, err := a.viewer.List(deadline(t, 30*time.Second), &helmv1.ListRequest{Namespace: ns})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if _, err := a.deployer.Apply(deadline(t, 30*time.Second), &helmv1.ApplyRequest{
				Namespace: ns, Name: "go-idle", Labels: map[string]string{"sdk": "go", "idle": "still"}, Spec: func() *helmv1.HelmReleaseSpec {
					s := a.spec(t, "1.0.0", "never")
					s.Suspend = true
					return s
				}(),
			}); err != nil {
				t.Fatalf("Apply go-idle: %v", err)
			}
			// Namespace-wide from the List's version: the first event is the change made after it.
			next := watchUntil(t, a.viewer, ns, "", listed.GetResourceVersion(), func(*helmv1.WatchResponse) bool { return true })
			if next.GetType() != helmv1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED || next.GetHelmRelease().GetName() != "go-idle" ||
				next.GetHelmRelease().GetLabels()["idle"] != "still" {
				t.Fatalf("event after the List's version = %v %s %v, want MODIFIED go-idle idle=still",
					next.GetType(), next.GetHelmRelease().GetName(), next.GetHelmRelease().GetLabels())
			}
		}},
		{"DiffOfTheStoredSpecIsEmpty", func(t *testing.T) {
			res, err := a.viewer.Diff(deadline(t, time.Minute), &helmv1.DiffRequest{Namespace: ns, Name: "go-web"})
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if res.GetInstall() || res.GetChartVersion() != "1.0.0" || len(res.GetObjects()) != 0 {
				t.Fatalf("Diff of the installed spec = install %v, chart %s, %q; want no change", res.GetInstall(), res.GetChartVersion(), objects(res))
			}
		}},
		{"DiffOfAValuesChange", func(t *testing.T) {
			res, err := a.deployer.Diff(deadline(t, time.Minute), &helmv1.DiffRequest{Namespace: ns, Name: "go-web", Spec: a.spec(t, "1.0.0", "changed")})
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if res.GetInstall() || res.GetChartVersion() != "1.0.0" {
				t.Fatalf("Diff = install %v, chart %s; want an upgrade to 1.0.0", res.GetInstall(), res.GetChartVersion())
			}
			if got, want := objects(res), []string{"UPDATE v1 ConfigMap go-web-plain /data/message \"from-go\" -> \"changed\""}; !slices.Equal(got, want) {
				t.Fatalf("Diff objects = %q, want %q", got, want)
			}
			assertUnchanged(t, a, installed)
		}},
		{"DiffOfAVersionChange", func(t *testing.T) {
			res, err := a.deployer.Diff(deadline(t, time.Minute), &helmv1.DiffRequest{Namespace: ns, Name: "go-web", Spec: a.spec(t, "1.1.0", "from-go")})
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if res.GetInstall() || res.GetChartVersion() != "1.1.0" {
				t.Fatalf("Diff = install %v, chart %s; want an upgrade to 1.1.0", res.GetInstall(), res.GetChartVersion())
			}
			got := objects(res)
			for _, want := range []string{
				"UPDATE v1 ConfigMap go-web-plain /data/version \"\" -> \"1.1.0\"",
				"UPDATE v1 ConfigMap go-web-plain /metadata/labels/helm.sh~1chart \"plain-1.0.0\" -> \"plain-1.1.0\"",
				"UPDATE apps/v1 Deployment go-web-plain /metadata/labels/helm.sh~1chart \"plain-1.0.0\" -> \"plain-1.1.0\"",
				"UPDATE v1 Service go-web-plain /metadata/labels/helm.sh~1chart \"plain-1.0.0\" -> \"plain-1.1.0\"",
			} {
				if !slices.Contains(got, want) {
					t.Errorf("Diff objects %q lack %q", got, want)
				}
			}
			assertUnchanged(t, a, installed)
		}},
		{"DiffOfANewRelease", func(t *testing.T) {
			res, err := a.deployer.Diff(deadline(t, time.Minute), &helmv1.DiffRequest{Namespace: ns, Name: "go-new", Spec: a.spec(t, "1.0.0", "new")})
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			want := []string{"CREATE apps/v1 Deployment go-new-plain", "CREATE v1 ConfigMap go-new-plain", "CREATE v1 Service go-new-plain"}
			if got := objects(res); !res.GetInstall() || !slices.Equal(got, want) {
				t.Fatalf("Diff = install %v, %q; want an install of %q", res.GetInstall(), got, want)
			}
			_, err = a.deployer.Get(deadline(t, 30*time.Second), &helmv1.GetRequest{Namespace: ns, Name: "go-new"})
			wantCode(t, "Get go-new after its Diff", err, codes.NotFound)
		}},
		{"ApplyOfANewVersionUpgrades", func(t *testing.T) {
			res, err := a.deployer.Apply(deadline(t, 30*time.Second), &helmv1.ApplyRequest{
				Namespace: ns, Name: "go-web", Labels: map[string]string{"sdk": "go"}, Spec: a.spec(t, "1.1.0", "from-go"),
			})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.GetCreated() || res.GetHelmRelease().GetGeneration() != 2 {
				t.Fatalf("Apply = created %v, generation %d; want generation 2 of the same object", res.GetCreated(), res.GetHelmRelease().GetGeneration())
			}
			ready, err := client.WaitReady(deadline(t, 3*time.Minute), a.deployer, ns, "go-web")
			if err != nil {
				t.Fatalf("WaitReady: %v", err)
			}
			if r := ready.GetStatus().GetRelease(); r.GetRevision() != 2 || r.GetChartVersion() != "1.1.0" {
				t.Fatalf("release = %v, want revision 2 of 1.1.0", r)
			}
			want := [][3]string{{"2", "1.1.0", "deployed"}, {"1", "1.0.0", "superseded"}}
			if got := history(t, a.viewer, ns, "go-web"); !slices.Equal(got, want) {
				t.Fatalf("History = %v, want %v", got, want)
			}
			limited, err := a.viewer.History(deadline(t, 30*time.Second), &helmv1.HistoryRequest{Namespace: ns, Name: "go-web", Limit: 1})
			if err != nil || len(limited.GetRevisions()) != 1 || limited.GetRevisions()[0].GetRevision() != 2 {
				t.Fatalf("History limit 1 = %v, %v; want revision 2 only", limited.GetRevisions(), err)
			}
		}},
		{"WatchResumesAcrossAControllerRestart", func(t *testing.T) {
			var watchCalls atomic.Int32
			c, err := client.Dial(a.addr, a.ca, a.token, grpc.WithStreamInterceptor(
				func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
					watchCalls.Add(1)
					return streamer(ctx, desc, cc, method, opts...)
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var seen []string
			err = client.Watch(deadline(t, 4*time.Minute), c, &helmv1.WatchRequest{Namespace: ns, Name: "go-web"}, func(e *helmv1.WatchResponse) (bool, error) {
				hr := e.GetHelmRelease()
				if slices.Contains(seen, hr.GetResourceVersion()) {
					return true, fmt.Errorf("resourceVersion %s delivered again (%v)", hr.GetResourceVersion(), e.GetType())
				}
				seen = append(seen, hr.GetResourceVersion())
				if len(seen) == 1 {
					// The stream is open: ask for the restart.
					if err := os.WriteFile(a.restartFile, []byte("restart\n"), 0o600); err != nil {
						return true, err
					}
				}
				return hr.GetLabels()["restarted"] == "while-down", nil
			})
			if err != nil {
				t.Fatalf("Watch through the restart: %v (saw resource versions %v)", err, seen)
			}
			if n := watchCalls.Load(); n < 2 {
				t.Fatalf("%d Watch calls: the stream never ended, so the controller was not restarted", n)
			}
			// The other connections are made again before the next steps use them.
			for _, c := range []*client.Client{a.deployer, a.viewer} {
				if _, err := c.Get(deadline(t, time.Minute), &helmv1.GetRequest{Namespace: ns, Name: "go-web"}, grpc.WaitForReady(true)); err != nil {
					t.Fatalf("Get after the restart: %v", err)
				}
			}
		}},
		{"SuspendResumeReconcile", func(t *testing.T) {
			ctx := deadline(t, 30*time.Second)
			suspended, err := a.deployer.Suspend(ctx, &helmv1.SuspendRequest{Namespace: ns, Name: "go-web"})
			if err != nil || !suspended.GetHelmRelease().GetSpec().GetSuspend() {
				t.Fatalf("Suspend = %v, %v; want spec.suspend true", suspended.GetHelmRelease().GetSpec(), err)
			}
			got, err := a.viewer.Get(ctx, &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			if err != nil || !got.GetHelmRelease().GetSpec().GetSuspend() {
				t.Fatalf("Get after Suspend = %v, %v; want spec.suspend true", got.GetHelmRelease().GetSpec(), err)
			}
			resumed, err := a.deployer.Resume(ctx, &helmv1.ResumeRequest{Namespace: ns, Name: "go-web"})
			if err != nil || resumed.GetHelmRelease().GetSpec().GetSuspend() {
				t.Fatalf("Resume = %v, %v; want spec.suspend false", resumed.GetHelmRelease().GetSpec(), err)
			}
			if _, err := client.WaitReady(deadline(t, 3*time.Minute), a.deployer, ns, "go-web"); err != nil {
				t.Fatalf("WaitReady after Resume: %v", err)
			}
			requested, err := a.deployer.Reconcile(ctx, &helmv1.ReconcileRequest{Namespace: ns, Name: "go-web"})
			if err != nil || requested.GetRequestedTime() == nil {
				t.Fatalf("Reconcile = %v, %v", requested, err)
			}
			at := requested.GetRequestedTime().AsTime()
			handled := watchUntil(t, a.viewer, ns, "go-web", "", func(e *helmv1.WatchResponse) bool {
				return e.GetHelmRelease().GetStatus().GetLastHandledReconcileTime().AsTime().Equal(at)
			})
			if !client.Ready(handled.GetHelmRelease()) || handled.GetHelmRelease().GetStatus().GetRelease().GetRevision() != 2 {
				t.Fatalf("after the requested reconcile: %v; want Ready at revision 2 (no upgrade)", handled.GetHelmRelease().GetStatus())
			}
		}},
		{"RefusedRequestsWriteNothing", func(t *testing.T) {
			ctx := deadline(t, 30*time.Second)
			for name, tc := range map[string]struct {
				req   *helmv1.ApplyRequest
				field string
			}{
				"range version": {&helmv1.ApplyRequest{Namespace: ns, Name: "go-bad", Spec: a.spec(t, "^1.0.0", "x")}, "spec.version"},
				"ftp repo": {&helmv1.ApplyRequest{Namespace: ns, Name: "go-bad", Spec: &helmv1.HelmReleaseSpec{
					Repo: "ftp://charts.invalid/charts", Name: "plain", Version: "1.0.0",
				}}, "spec.repo"},
				"no name": {&helmv1.ApplyRequest{Namespace: ns, Spec: a.spec(t, "1.0.0", "x")}, "name"},
				"no spec": {&helmv1.ApplyRequest{Namespace: ns, Name: "go-bad"}, "spec"},
			} {
				_, err := a.deployer.Apply(ctx, tc.req)
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.field) {
					t.Errorf("Apply with %s: %v, want InvalidArgument naming %s", name, err, tc.field)
				}
			}
			_, err := a.deployer.Get(ctx, &helmv1.GetRequest{Namespace: ns, Name: "go-bad"})
			wantCode(t, "Get go-bad after the refused Applies", err, codes.NotFound)
		}},
		{"NotFound", func(t *testing.T) {
			ctx := deadline(t, 30*time.Second)
			_, err := a.deployer.Get(ctx, &helmv1.GetRequest{Namespace: ns, Name: "go-missing"})
			wantCode(t, "Get", err, codes.NotFound)
			_, err = a.deployer.History(ctx, &helmv1.HistoryRequest{Namespace: ns, Name: "go-missing"})
			wantCode(t, "History", err, codes.NotFound)
			_, err = a.deployer.Suspend(ctx, &helmv1.SuspendRequest{Namespace: ns, Name: "go-missing"})
			wantCode(t, "Suspend", err, codes.NotFound)
			_, err = a.deployer.Delete(ctx, &helmv1.DeleteRequest{Namespace: ns, Name: "go-missing"})
			wantCode(t, "Delete", err, codes.NotFound)
			_, err = client.WaitReady(ctx, a.deployer, ns, "go-missing")
			wantCode(t, "WaitReady", err, codes.NotFound)
		}},
		{"AViewerMayReadButNotWrite", func(t *testing.T) {
			ctx := deadline(t, 30*time.Second)
			before, err := a.viewer.Get(ctx, &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			if err != nil {
				t.Fatalf("viewer Get: %v", err)
			}
			_, err = a.viewer.Apply(ctx, &helmv1.ApplyRequest{Namespace: ns, Name: "go-web", Spec: a.spec(t, "1.0.0", "viewer")})
			wantCode(t, "viewer Apply", err, codes.PermissionDenied)
			// A diff of a spec of the caller's renders as the release would: it needs patch.
			_, err = a.viewer.Diff(ctx, &helmv1.DiffRequest{Namespace: ns, Name: "go-web", Spec: a.spec(t, "1.1.0", "viewer")})
			wantCode(t, "viewer Diff of a new spec", err, codes.PermissionDenied)
			_, err = a.viewer.Suspend(ctx, &helmv1.SuspendRequest{Namespace: ns, Name: "go-web"})
			wantCode(t, "viewer Suspend", err, codes.PermissionDenied)
			_, err = a.viewer.Reconcile(ctx, &helmv1.ReconcileRequest{Namespace: ns, Name: "go-web"})
			wantCode(t, "viewer Reconcile", err, codes.PermissionDenied)
			_, err = a.viewer.Delete(ctx, &helmv1.DeleteRequest{Namespace: ns, Name: "go-web"})
			wantCode(t, "viewer Delete", err, codes.PermissionDenied)
			after, err := a.viewer.Get(ctx, &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			if err != nil || after.GetHelmRelease().GetResourceVersion() != before.GetHelmRelease().GetResourceVersion() {
				t.Fatalf("after the refused calls: %v, %v; want resourceVersion %s unchanged", after.GetHelmRelease().GetResourceVersion(), err, before.GetHelmRelease().GetResourceVersion())
			}
		}},
		{"NoTokenIsUnauthenticated", func(t *testing.T) {
			tlsConfig, err := client.TLSConfig(a.ca)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := grpc.NewClient(a.addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = helmv1.NewHelmReleaseServiceClient(conn).Get(deadline(t, 30*time.Second), &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			wantCode(t, "Get without a token", err, codes.Unauthenticated)
			bad, err := client.Dial(a.addr, a.ca, "not-a-token")
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			_, err = bad.Get(deadline(t, 30*time.Second), &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			wantCode(t, "Get with a bad token", err, codes.Unauthenticated)
		}},
		{"DeleteUninstalls", func(t *testing.T) {
			ctx := deadline(t, 30*time.Second)
			_, err := a.deployer.Delete(ctx, &helmv1.DeleteRequest{Namespace: ns, Name: "go-web", Uid: "00000000-0000-0000-0000-000000000000"})
			wantCode(t, "Delete with another uid", err, codes.Aborted)
			if _, err := a.deployer.Delete(ctx, &helmv1.DeleteRequest{Namespace: ns, Name: "go-web", DryRun: true}); err != nil {
				t.Fatalf("dry-run Delete: %v", err)
			}
			got, err := a.deployer.Get(ctx, &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			if err != nil || got.GetHelmRelease().GetDeletionTime() != nil {
				t.Fatalf("Get after a dry-run Delete: %v, %v; want it there, not being deleted", got.GetHelmRelease().GetDeletionTime(), err)
			}
			rv := got.GetHelmRelease().GetResourceVersion()
			if _, err := a.deployer.Delete(ctx, &helmv1.DeleteRequest{Namespace: ns, Name: "go-web", Uid: installed.GetUid(), ResourceVersion: rv}); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			deleted := watchUntil(t, a.viewer, ns, "go-web", rv, func(e *helmv1.WatchResponse) bool {
				return e.GetType() == helmv1.WatchEventType_WATCH_EVENT_TYPE_DELETED
			})
			if deleted.GetHelmRelease().GetUid() != installed.GetUid() {
				t.Fatalf("DELETED event for %s, want uid %s", deleted.GetHelmRelease().GetUid(), installed.GetUid())
			}
			_, err = a.deployer.Get(deadline(t, 30*time.Second), &helmv1.GetRequest{Namespace: ns, Name: "go-web"})
			wantCode(t, "Get after Delete", err, codes.NotFound)
			// Suspended: deleted at once, nothing to uninstall.
			if _, err := a.deployer.Delete(deadline(t, 30*time.Second), &helmv1.DeleteRequest{Namespace: ns, Name: "go-idle"}); err != nil {
				t.Fatalf("Delete go-idle: %v", err)
			}
			_, err = client.WaitReady(deadline(t, time.Minute), a.deployer, ns, "go-idle")
			if status.Code(err) != codes.NotFound && !errors.Is(err, client.ErrDeleted) {
				t.Fatalf("WaitReady of the deleted go-idle: %v, want NotFound or ErrDeleted", err)
			}
		}},
	})
}

// assertUnchanged checks that the HelmRelease and its Helm history are as they were.
func assertUnchanged(t *testing.T, a *api, want *helmv1.HelmRelease) {
	t.Helper()
	got, err := a.viewer.Get(deadline(t, 30*time.Second), &helmv1.GetRequest{Namespace: want.GetNamespace(), Name: want.GetName()})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if g := got.GetHelmRelease(); g.GetGeneration() != want.GetGeneration() || g.GetStatus().GetRelease().GetRevision() != want.GetStatus().GetRelease().GetRevision() {
		t.Fatalf("after Diff: generation %d revision %d, want %d and %d", g.GetGeneration(), g.GetStatus().GetRelease().GetRevision(),
			want.GetGeneration(), want.GetStatus().GetRelease().GetRevision())
	}
	if h := history(t, a.viewer, want.GetNamespace(), want.GetName()); len(h) != int(want.GetStatus().GetRelease().GetRevision()) {
		t.Fatalf("after Diff: history %v", h)
	}
}

// names joins the HelmReleases' names.
func names(hrs []*helmv1.HelmRelease) string {
	out := make([]string, 0, len(hrs))
	for _, hr := range hrs {
		out = append(out, hr.GetName())
	}
	return strings.Join(out, ",")
}

// objects renders a Diff as sorted "CHANGE apiVersion Kind name" lines, one per changed field
// for an update ("... path live -> desired").
func objects(res *helmv1.DiffResponse) []string {
	var out []string
	for _, o := range res.GetObjects() {
		change := strings.TrimPrefix(o.GetChange().String(), "CHANGE_TYPE_")
		head := change + " " + o.GetApiVersion() + " " + o.GetKind() + " " + o.GetName()
		if len(o.GetFields()) == 0 {
			out = append(out, head)
		}
		for _, f := range o.GetFields() {
			out = append(out, head+" "+f.GetPath()+" "+quoted(f.GetLive())+" -> "+quoted(f.GetDesired()))
		}
	}
	slices.Sort(out)
	return out
}

// quoted is a FieldDiff value as the test spells it: its JSON, or "" when absent.
func quoted(json string) string {
	if json == "" {
		return `""`
	}
	return json
}
