package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"weak"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// fakeAPIServer serves just enough discovery for a REST mapper, counts requests per path and
// remembers the impersonation header of the last request.
type fakeAPIServer struct {
	*httptest.Server
	mu          sync.Mutex
	hits        map[string]int
	withWidgets bool
	impersonate string
}

func newFakeAPIServer(t testing.TB) *fakeAPIServer {
	t.Helper()
	s := &fakeAPIServer{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.impersonate = r.Header.Get("Impersonate-User")
	widgets := s.withWidgets
	s.mu.Unlock()
	var body any
	switch r.URL.Path {
	case "/version":
		body = map[string]string{"major": "1", "minor": "36", "gitVersion": "v1.36.3"}
	case "/api":
		body = map[string]any{"kind": "APIVersions", "versions": []string{"v1"}}
	case "/apis":
		groups := []any{}
		if widgets {
			groups = append(groups, map[string]any{
				"name":             "example.com",
				"versions":         []any{map[string]string{"groupVersion": "example.com/v1", "version": "v1"}},
				"preferredVersion": map[string]string{"groupVersion": "example.com/v1", "version": "v1"},
			})
		}
		body = map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
	case "/api/v1":
		body = resourceList("v1", "configmaps", "ConfigMap")
	case "/apis/example.com/v1":
		body = resourceList("example.com/v1", "widgets", "Widget")
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func resourceList(gv, plural, kind string) map[string]any {
	return map[string]any{
		"kind": "APIResourceList", "groupVersion": gv,
		"resources": []any{map[string]any{"name": plural, "namespaced": true, "kind": kind, "verbs": []string{"get", "list"}}},
	}
}

func (s *fakeAPIServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *fakeAPIServer) lastImpersonation() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.impersonate
}

func TestFactoryFor(t *testing.T) {
	f := NewFactory(&rest.Config{Host: "https://127.0.0.1:1"})
	own, err := f.For(Identity{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the same identity gets the same clients", func(t *testing.T) {
		again, err := f.For(Identity{})
		if err != nil || again != own {
			t.Fatalf("For(own) twice: %p, %p, %v", own, again, err)
		}
		a, _ := f.For(Identity{ServiceAccountName: "deployer", ServiceAccountNamespace: "team-a"})
		b, _ := f.For(Identity{ServiceAccountName: "deployer", ServiceAccountNamespace: "team-a"})
		if a == nil || a != b {
			t.Fatalf("For(sa) twice: %p, %p", a, b)
		}
	})
	t.Run("different identities get different clients", func(t *testing.T) {
		a, _ := f.For(Identity{ServiceAccountName: "deployer", ServiceAccountNamespace: "team-a"})
		b, _ := f.For(Identity{ServiceAccountName: "deployer", ServiceAccountNamespace: "team-b"})
		if a == b || a == own || b == own {
			t.Fatal("distinct identities share clients")
		}
	})
	t.Run("a namespace without a service account is the runner's own identity", func(t *testing.T) {
		c, err := f.For(Identity{ServiceAccountNamespace: "team-a"})
		if err != nil || c != own {
			t.Fatalf("got %p, %v; want own clients", c, err)
		}
	})
	for name, id := range map[string]Identity{
		"a service account without a namespace is refused": {ServiceAccountName: "deployer"},
		"an invalid service account name is refused":       {ServiceAccountName: "Not_Valid", ServiceAccountNamespace: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.For(id); failure.ReasonOf(err) != failure.InvalidArgument {
				t.Fatalf("For(%+v) = %v, want INVALID_ARGUMENT", id, err)
			}
		})
	}
}

func TestImpersonation(t *testing.T) {
	srv := newFakeAPIServer(t)
	f := NewFactory(&rest.Config{Host: srv.URL})
	tests := []struct {
		name     string
		identity Identity
		want     string
	}{
		{"a service account is impersonated", Identity{ServiceAccountName: "deployer", ServiceAccountNamespace: "team-a"}, "system:serviceaccount:team-a:deployer"},
		{"the runner's own identity impersonates nobody", Identity{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.For(tt.identity)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Typed().CoreV1().ConfigMaps("x").Get(context.Background(), "y", metav1.GetOptions{}); err == nil {
				t.Fatal("expected not found from the fake server")
			}
			if got := srv.lastImpersonation(); got != tt.want {
				t.Fatalf("Impersonate-User = %q, want %q", got, tt.want)
			}
			cfg, _ := c.ToRESTConfig()
			if cfg.Impersonate.UserName != tt.want {
				t.Fatalf("ToRESTConfig().Impersonate.UserName = %q, want %q", cfg.Impersonate.UserName, tt.want)
			}
		})
	}
}

func TestDiscoveryIsShared(t *testing.T) {
	srv := newFakeAPIServer(t)
	c, err := NewFactory(&rest.Config{Host: srv.URL}).For(Identity{})
	if err != nil {
		t.Fatal(err)
	}
	configMap := schema.GroupKind{Kind: "ConfigMap"}
	t.Run("discovery is read once for many mappings", func(t *testing.T) {
		for range 3 {
			m, err := c.ToRESTMapper()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.RESTMapping(configMap, "v1"); err != nil {
				t.Fatal(err)
			}
		}
		if n := srv.count("/api/v1"); n != 1 {
			t.Fatalf("/api/v1 read %d times, want 1", n)
		}
	})
	t.Run("a kind created after the cache was filled is found", func(t *testing.T) {
		srv.mu.Lock()
		srv.withWidgets = true
		srv.mu.Unlock()
		m, err := c.Mapper().RESTMapping(schema.GroupKind{Group: "example.com", Kind: "Widget"}, "v1")
		if err != nil {
			t.Fatalf("Widget after CRD creation: %v", err)
		}
		if m.Resource.Resource != "widgets" {
			t.Fatalf("resource = %q", m.Resource.Resource)
		}
	})
	t.Run("capabilities are read once and again after a reset", func(t *testing.T) {
		for range 2 {
			caps, err := c.Capabilities()
			if err != nil {
				t.Fatal(err)
			}
			if caps.KubeVersion.Version != "v1.36.3" || !caps.APIVersions.Has("example.com/v1") {
				t.Fatalf("capabilities = %+v", caps)
			}
		}
		before := srv.count("/version")
		if before != 1 {
			t.Fatalf("/version read %d times, want 1", before)
		}
		c.Mapper().(interface{ Reset() }).Reset()
		if _, err := c.Capabilities(); err != nil {
			t.Fatal(err)
		}
		if srv.count("/version") != before+1 {
			t.Fatal("capabilities not re-read after a mapper reset")
		}
	})
}

// identities is how many impersonated identities have clients kept.
func (f *Factory) identities() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sets)
}

func serviceAccount(i int) Identity {
	return Identity{ServiceAccountName: fmt.Sprintf("sa-%d", i), ServiceAccountNamespace: "team-a"}
}

func mustFor(t *testing.T, f *Factory, id Identity) *Clients {
	t.Helper()
	c, err := f.For(id)
	if err != nil {
		t.Fatalf("For(%+v): %v", id, err)
	}
	return c
}

func TestFactoryKeepsAtMostMaxIdentities(t *testing.T) {
	srv := newFakeAPIServer(t)
	f := NewFactory(&rest.Config{Host: srv.URL}, WithMaxIdentities(4))
	own := mustFor(t, f, Identity{})
	first := mustFor(t, f, serviceAccount(0))
	recent := map[int]*Clients{}
	for i := 1; i <= 100; i++ {
		recent[i] = mustFor(t, f, serviceAccount(i))
		if n := f.identities(); n > 4 {
			t.Fatalf("after %d identities the factory keeps %d, want at most 4", i+1, n)
		}
	}
	t.Run("the most recently used identities keep their clients", func(t *testing.T) {
		for i := 97; i <= 100; i++ {
			if mustFor(t, f, serviceAccount(i)) != recent[i] {
				t.Fatalf("sa-%d got new clients although it is among the 4 most recently used", i)
			}
		}
	})
	t.Run("the runner's own identity is never dropped", func(t *testing.T) {
		if mustFor(t, f, Identity{}) != own {
			t.Fatal("the runner's own clients were dropped")
		}
	})
	t.Run("a dropped identity is rebuilt on its next use", func(t *testing.T) {
		again := mustFor(t, f, serviceAccount(0))
		if again == first {
			t.Fatal("sa-0 kept its clients through 100 newer identities")
		}
		if _, err := again.Typed().CoreV1().ConfigMaps("x").Get(context.Background(), "y", metav1.GetOptions{}); err == nil {
			t.Fatal("expected not found from the fake server")
		}
		if got := srv.lastImpersonation(); got != "system:serviceaccount:team-a:sa-0" {
			t.Fatalf("rebuilt clients impersonate %q", got)
		}
		if mustFor(t, f, serviceAccount(0)) != again {
			t.Fatal("the rebuilt clients are not shared by the next call")
		}
	})
}

func TestFactoryNeverDropsHeldIdentities(t *testing.T) {
	f := NewFactory(&rest.Config{Host: "https://127.0.0.1:1"}, WithMaxIdentities(2))
	held, release, err := f.Acquire(serviceAccount(0))
	if err != nil {
		t.Fatal(err)
	}
	// A second hold released twice must not release the first.
	_, releaseSecond, err := f.Acquire(serviceAccount(0))
	if err != nil {
		t.Fatal(err)
	}
	releaseSecond()
	releaseSecond()
	for i := 1; i <= 50; i++ {
		mustFor(t, f, serviceAccount(i))
	}
	if mustFor(t, f, serviceAccount(0)) != held {
		t.Fatal("a held identity got new clients")
	}

	var releases []func()
	for i := 100; i < 104; i++ {
		_, r, err := f.Acquire(serviceAccount(i))
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	// Five held sets are more than the maximum; none is dropped, and nothing idle is kept.
	if n := f.identities(); n != 5 {
		t.Fatalf("with 5 identities held the factory keeps %d, want 5", n)
	}
	for _, r := range releases {
		r()
	}
	release()
	if n := f.identities(); n != 2 {
		t.Fatalf("after every release the factory keeps %d, want 2", n)
	}
	if mustFor(t, f, serviceAccount(0)) != held {
		t.Fatal("the identity released last is not among the 2 kept")
	}
}

func TestConcurrentOperationsOfOneIdentityShareClients(t *testing.T) {
	f := NewFactory(&rest.Config{Host: "https://127.0.0.1:1"}, WithMaxIdentities(3))
	var mu sync.Mutex
	type hold struct {
		clients *Clients
		n       int
	}
	holds := map[Identity]*hold{}
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				id := serviceAccount((g + i) % 12)
				c, release, err := f.Acquire(id)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				h := holds[id]
				if h == nil {
					h = &hold{}
					holds[id] = h
				}
				if h.n > 0 && h.clients != c {
					mu.Unlock()
					errs <- fmt.Errorf("%s: two operations at once got different clients", id.ServiceAccountName)
					release()
					return
				}
				h.clients = c
				h.n++
				mu.Unlock()
				runtime.Gosched()
				mu.Lock()
				h.n--
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.identities(); n > 3 {
		t.Fatalf("once every operation ended the factory keeps %d identities, want at most 3", n)
	}
}

// Clients of dropped identities must not be kept by anything else: a request naming many
// distinct ServiceAccounts would otherwise grow memory by a discovery cache and a rate limiter
// per name.
func TestDroppedIdentitiesAreFreed(t *testing.T) {
	srv := newFakeAPIServer(t)
	f := NewFactory(&rest.Config{Host: srv.URL}, WithMaxIdentities(4))
	const names = 200
	clients := make([]weak.Pointer[Clients], 0, names)
	mappers := make([]weak.Pointer[resettingMapper], 0, names)
	for i := range names {
		c := mustFor(t, f, serviceAccount(i))
		// Fill the identity's discovery cache and use its rate limiter, as an operation does.
		if _, err := c.Capabilities(); err != nil {
			t.Fatalf("Capabilities of sa-%d: %v", i, err)
		}
		if _, err := c.Mapper().RESTMapping(schema.GroupKind{Kind: "ConfigMap"}, "v1"); err != nil {
			t.Fatalf("RESTMapping of sa-%d: %v", i, err)
		}
		clients = append(clients, weak.Make(c))
		mappers = append(mappers, weak.Make(c.mapper))
	}
	runtime.GC()
	live := 0
	for i := range names {
		if clients[i].Value() != nil || mappers[i].Value() != nil {
			live++
		}
	}
	if live > 4 {
		t.Fatalf("%d of %d identities' clients are still in memory, want at most the 4 kept", live, names)
	}
	if n := f.identities(); n != 4 {
		t.Fatalf("the factory keeps %d identities, want 4", n)
	}
}

// BenchmarkIdentityMemory reports the heap an identity's clients keep once their discovery cache
// is filled: what each of --max-identities may cost.
func BenchmarkIdentityMemory(b *testing.B) {
	srv := newFakeAPIServer(b)
	const names = 256
	for b.Loop() {
		f := NewFactory(&rest.Config{Host: srv.URL}, WithMaxIdentities(names))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range names {
			c, err := f.For(serviceAccount(i))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Capabilities(); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Mapper().RESTMapping(schema.GroupKind{Kind: "ConfigMap"}, "v1"); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/names, "heap-B/identity")
		runtime.KeepAlive(f)
	}
}
