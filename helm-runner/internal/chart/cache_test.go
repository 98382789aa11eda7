package chart

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestSecondGetMakesNoRequest(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	dir := t.TempDir()
	s, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatalf("first Get: %v", err)
	}
	if n := r.requestCount(); n != 2 {
		t.Fatalf("first Get made %d requests, want 2 (index and archive)", n)
	}

	c, second, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if n := r.requestCount(); n != 2 {
		t.Fatalf("second Get made %d more requests, want none", n-2)
	}
	if second != first || c.Metadata.Version != "1.0.0" {
		t.Fatalf("second Get = %s %s, want version 1.0.0 with digest %s", c.Metadata.Version, second, first)
	}

	restarted, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, third, err := restarted.Get(testContext(t), r.ref("plain", "1.0.0")); err != nil || third != first {
		t.Fatalf("Get after restart = %s, %v; want digest %s", third, err, first)
	}
	if n := r.requestCount(); n != 2 {
		t.Fatalf("Get after restart made %d more requests, want none (disk cache)", n-2)
	}
}

func TestEveryGetReturnsItsOwnChart(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	s := newTestSource(t, Limits{})
	first, _, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	// What Helm's install does to a chart with disabled dependencies, and worse.
	first.Values["message"] = "changed"
	first.Templates = nil
	first.Metadata.Description = "changed"

	second, _, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if second.Values["message"] != "hello" || len(second.Templates) != 1 || second.Metadata.Description == "changed" {
		t.Fatalf("second Get returned the chart the first caller modified: values %v, %d templates", second.Values, len(second.Templates))
	}
}

func TestCorruptCachedArchiveIsFetchedAgain(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	dir := t.TempDir()
	s, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, digest, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	archives, err := filepath.Glob(filepath.Join(dir, "charts", "*.tgz"))
	if err != nil || len(archives) != 1 {
		t.Fatalf("cached archives = %v, %v; want one", archives, err)
	}
	if err := os.WriteFile(archives[0], chartArchive(t, "plain", "1.0.0", file{name: "plain/templates/evil.yaml", body: []byte("kind: Secret\n")}), 0o600); err != nil {
		t.Fatal(err)
	}

	restarted, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	before := r.requestCount()
	c, again, err := restarted.Get(testContext(t), r.ref("plain", "1.0.0"))
	if err != nil {
		t.Fatalf("Get with a corrupt cache: %v", err)
	}
	if r.requestCount() == before {
		t.Fatal("the tampered archive was served from the cache")
	}
	if again != digest || len(c.Templates) != 1 {
		t.Fatalf("got digest %s with %d templates, want %s with 1", again, len(c.Templates), digest)
	}
}

func TestConcurrentGetsDownloadOnce(t *testing.T) {
	const callers = 8
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	release := make(chan struct{})
	r.setIntercept(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/index.yaml" {
			<-release
		}
		return false
	})
	s := newTestSource(t, Limits{})
	ref := r.ref("plain", "1.0.0")
	t0, err := ref.validate()
	if err != nil {
		t.Fatal(err)
	}
	key := cacheKey(t0, s.credKey)

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, _, err := s.Get(testContext(t), ref)
			errs <- err
		})
	}
	eventually(t, "every caller to wait on one download", func() bool {
		s.flights.mu.Lock()
		defer s.flights.mu.Unlock()
		fl := s.flights.m[key]
		return fl != nil && fl.waiters == callers
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	if idx, arc := r.requestsTo("/index.yaml"), r.requestsTo("/plain-1.0.0.tgz"); idx != 1 || arc != 1 {
		t.Fatalf("%d callers made %d index and %d archive requests, want 1 and 1", callers, idx, arc)
	}
}

func TestCredentialsDoNotShareCacheEntries(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	r.requireAuth("user", "secret")
	s := newTestSource(t, Limits{})
	ref := r.ref("plain", "1.0.0")
	ref.Username, ref.Password = "user", "secret"
	if _, _, err := s.Get(testContext(t), ref); err != nil {
		t.Fatalf("Get with credentials: %v", err)
	}

	anonymous := r.ref("plain", "1.0.0")
	_, _, err := s.Get(testContext(t), anonymous)
	wantReason(t, err, failure.AuthFailed, "requires credentials")

	wrong := ref
	wrong.Password = "guess"
	_, _, err = s.Get(testContext(t), wrong)
	wantReason(t, err, failure.AuthFailed, "refused the credentials")
}

func TestCancelledGetAbandonsDownload(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	abandoned := make(chan struct{})
	r.setIntercept(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/plain-1.0.0.tgz" {
			<-req.Context().Done()
			close(abandoned)
			return true
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := newTestSource(t, Limits{}).Get(ctx, r.ref("plain", "1.0.0"))
	wantReason(t, err, failure.Timeout)
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the download went on after its only caller gave up")
	}
}

func TestCallerGivingUpDoesNotFailOthers(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	release := make(chan struct{})
	r.setIntercept(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/plain-1.0.0.tgz" {
			<-release
		}
		return false
	})
	s := newTestSource(t, Limits{})
	patient := make(chan error, 1)
	go func() {
		_, _, err := s.Get(testContext(t), r.ref("plain", "1.0.0"))
		patient <- err
	}()
	eventually(t, "the download to start", func() bool { return r.requestsTo("/plain-1.0.0.tgz") == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Get(ctx, r.ref("plain", "1.0.0"))
	wantReason(t, err, failure.Cancelled)

	close(release)
	if err := <-patient; err != nil {
		t.Fatalf("the caller still waiting got %v", err)
	}
	if n := r.requestsTo("/plain-1.0.0.tgz"); n != 1 {
		t.Fatalf("archive requests = %d, want 1", n)
	}
}
