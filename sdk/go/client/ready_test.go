package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	helmv1 "github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1"
)

// scripted answers Get with get (or getErr) and each Watch call with the next of streams: the
// events, then the stream's end (nil: the server ends the stream). It records the resource
// version of each Watch request.
type scripted struct {
	helmv1.UnimplementedHelmReleaseServiceServer

	mu       sync.Mutex
	gets     []*helmv1.HelmRelease
	getErr   error
	streams  []stream
	watchRVs []string
}

type stream struct {
	events []*helmv1.WatchResponse
	end    error
}

func (s *scripted) Get(context.Context, *helmv1.GetRequest) (*helmv1.GetResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	if len(s.gets) == 0 {
		return nil, status.Error(codes.Internal, "no more Get answers in the script")
	}
	hr := s.gets[0]
	s.gets = s.gets[1:]
	return &helmv1.GetResponse{HelmRelease: hr}, nil
}

func (s *scripted) Watch(req *helmv1.WatchRequest, srv grpc.ServerStreamingServer[helmv1.WatchResponse]) error {
	s.mu.Lock()
	s.watchRVs = append(s.watchRVs, req.GetResourceVersion())
	if len(s.streams) == 0 {
		s.mu.Unlock()
		<-srv.Context().Done()
		return nil
	}
	next := s.streams[0]
	s.streams = s.streams[1:]
	s.mu.Unlock()
	for _, e := range next.events {
		if err := srv.Send(e); err != nil {
			return err
		}
	}
	return next.end
}

func (s *scripted) requestedRVs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.watchRVs...)
}

func serveScript(t *testing.T, s *scripted) helmv1.HelmReleaseServiceClient {
	t.Helper()
	listener := bufconn.Listen(1 << 20)
	server := grpc.NewServer()
	helmv1.RegisterHelmReleaseServiceServer(server, s)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return listener.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return helmv1.NewHelmReleaseServiceClient(conn)
}

// release is demo/app at resourceVersion rv and generation 2, with the given conditions
// (type=status pairs) observed at generation observed.
func release(rv string, observed int64, conditions ...string) *helmv1.HelmRelease {
	hr := &helmv1.HelmRelease{
		Namespace: "demo", Name: "app", Generation: 2, ResourceVersion: rv,
		Status: &helmv1.HelmReleaseStatus{ObservedGeneration: observed},
	}
	for i := 0; i+1 < len(conditions); i += 2 {
		hr.Status.Conditions = append(hr.Status.Conditions, &helmv1.Condition{
			Type: conditions[i], Status: conditions[i+1], Reason: "Because", Message: "it says so",
		})
	}
	return hr
}

func modified(hr *helmv1.HelmRelease) *helmv1.WatchResponse {
	return &helmv1.WatchResponse{Type: helmv1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED, HelmRelease: hr}
}

func waitReady(t *testing.T, c helmv1.HelmReleaseServiceClient) (*helmv1.HelmRelease, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return WaitReady(ctx, c, "demo", "app")
}

func TestReadyNeedsTheCurrentGeneration(t *testing.T) {
	for _, tc := range []struct {
		hr   *helmv1.HelmRelease
		want bool
	}{
		{release("1", 2, "Ready", "True"), true},
		{release("1", 1, "Ready", "True"), false},
		{release("1", 2, "Ready", "False"), false},
		{release("1", 2, "Reconciling", "True"), false},
		{&helmv1.HelmRelease{Generation: 1}, false},
	} {
		if got := Ready(tc.hr); got != tc.want {
			t.Errorf("Ready(%v) = %v, want %v", tc.hr, got, tc.want)
		}
	}
}

func TestWaitReadyReturnsAtOnceWhenReady(t *testing.T) {
	s := &scripted{gets: []*helmv1.HelmRelease{release("7", 2, "Ready", "True")}}
	hr, err := waitReady(t, serveScript(t, s))
	if err != nil || hr.GetResourceVersion() != "7" {
		t.Fatalf("WaitReady = %v, %v", hr, err)
	}
	if rvs := s.requestedRVs(); len(rvs) != 0 {
		t.Fatalf("watched %v, want no watch", rvs)
	}
}

func TestWaitReadyWatchesAgainFromTheLastVersionAfterTheStreamEnds(t *testing.T) {
	s := &scripted{
		gets: []*helmv1.HelmRelease{release("10", 1, "Ready", "True")},
		streams: []stream{
			{events: []*helmv1.WatchResponse{modified(release("11", 2, "Reconciling", "True"))}},
			{end: status.Error(codes.Unavailable, "shutting down")},
			{events: []*helmv1.WatchResponse{modified(release("12", 2, "Ready", "True"))}},
		},
	}
	hr, err := waitReady(t, serveScript(t, s))
	if err != nil || hr.GetResourceVersion() != "12" {
		t.Fatalf("WaitReady = %v, %v", hr, err)
	}
	want := []string{"10", "11", "11"}
	if rvs := s.requestedRVs(); !slices.Equal(rvs, want) {
		t.Fatalf("watched from %v, want %v", rvs, want)
	}
}

func TestWaitReadyStartsFromAGetWhenTheVersionExpired(t *testing.T) {
	s := &scripted{
		gets: []*helmv1.HelmRelease{release("10", 1), release("20", 1)},
		streams: []stream{
			{end: status.Error(codes.OutOfRange, "too old resource version")},
			{events: []*helmv1.WatchResponse{modified(release("21", 2, "Ready", "True"))}},
		},
	}
	hr, err := waitReady(t, serveScript(t, s))
	if err != nil || hr.GetResourceVersion() != "21" {
		t.Fatalf("WaitReady = %v, %v", hr, err)
	}
	if rvs, want := s.requestedRVs(), []string{"10", "20"}; !slices.Equal(rvs, want) {
		t.Fatalf("watched from %v, want %v", rvs, want)
	}
}

func TestWaitReadyFails(t *testing.T) {
	for name, tc := range map[string]struct {
		script *scripted
		is     error
		code   codes.Code
	}{
		"not found": {script: &scripted{getErr: status.Error(codes.NotFound, "helmreleases \"app\" not found")}, code: codes.NotFound},
		"stalled": {script: &scripted{
			gets:    []*helmv1.HelmRelease{release("1", 1)},
			streams: []stream{{events: []*helmv1.WatchResponse{modified(release("2", 2, "Ready", "False", "Stalled", "True"))}}},
		}, is: ErrStalled},
		"deleted": {script: &scripted{
			gets: []*helmv1.HelmRelease{release("1", 1)},
			streams: []stream{{events: []*helmv1.WatchResponse{{
				Type: helmv1.WatchEventType_WATCH_EVENT_TYPE_DELETED, HelmRelease: release("2", 1),
			}}}},
		}, is: ErrDeleted},
		"permission denied": {script: &scripted{
			gets:    []*helmv1.HelmRelease{release("1", 1)},
			streams: []stream{{end: status.Error(codes.PermissionDenied, "cannot watch")}},
		}, code: codes.PermissionDenied},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := waitReady(t, serveScript(t, tc.script))
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("WaitReady: %v, want %v", err, tc.is)
			}
			if tc.is == nil && status.Code(err) != tc.code {
				t.Fatalf("WaitReady: %v, want code %v", err, tc.code)
			}
		})
	}
}

func TestWaitReadyEndsWithItsContext(t *testing.T) {
	s := &scripted{gets: []*helmv1.HelmRelease{release("1", 1)}}
	ctx, cancel := context.WithCancel(t.Context())
	c := serveScript(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := WaitReady(ctx, c, "demo", "app")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) && status.Code(err) != codes.Canceled {
		t.Fatalf("WaitReady after cancel: %v, want canceled", err)
	}
}

func TestWatchEndsWithTheCallbacksError(t *testing.T) {
	refused := status.Error(codes.Unavailable, "the callback's own error")
	s := &scripted{streams: []stream{{events: []*helmv1.WatchResponse{modified(release("5", 1)), modified(release("6", 1))}}}}
	var seen []string
	err := Watch(t.Context(), serveScript(t, s), &helmv1.WatchRequest{Namespace: "demo"}, func(e *helmv1.WatchResponse) (bool, error) {
		seen = append(seen, e.GetHelmRelease().GetResourceVersion())
		return false, refused
	})
	if !errors.Is(err, refused) || !slices.Equal(seen, []string{"5"}) {
		t.Fatalf("Watch = %v after %v; want the callback's error after the first event", err, seen)
	}
	if rvs := s.requestedRVs(); !slices.Equal(rvs, []string{""}) {
		t.Fatalf("watched from %v, want one watch", rvs)
	}
}

func TestWatchResumesWithoutRepeatingAnEvent(t *testing.T) {
	s := &scripted{streams: []stream{
		{events: []*helmv1.WatchResponse{modified(release("5", 1)), modified(release("6", 1))}},
		{events: []*helmv1.WatchResponse{modified(release("7", 1))}, end: status.Error(codes.Unavailable, "draining")},
		{events: []*helmv1.WatchResponse{modified(release("8", 1))}},
	}}
	var seen []string
	req := &helmv1.WatchRequest{Namespace: "demo", ResourceVersion: "4"}
	err := Watch(t.Context(), serveScript(t, s), req, func(e *helmv1.WatchResponse) (bool, error) {
		seen = append(seen, e.GetHelmRelease().GetResourceVersion())
		return e.GetHelmRelease().GetResourceVersion() == "8", nil
	})
	if err != nil || !slices.Equal(seen, []string{"5", "6", "7", "8"}) {
		t.Fatalf("Watch = %v, saw %v; want 5 6 7 8 once each", err, seen)
	}
	if rvs := s.requestedRVs(); !slices.Equal(rvs, []string{"4", "6", "7"}) {
		t.Fatalf("watched from %v, want 4 6 7", rvs)
	}
	if req.GetResourceVersion() != "4" {
		t.Fatalf("the caller's request was changed to %q", req.GetResourceVersion())
	}
}
