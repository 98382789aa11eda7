package kube

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

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

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
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
