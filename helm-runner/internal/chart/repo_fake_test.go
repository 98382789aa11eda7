package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// fakeRepo is an index.yaml chart repository that records every request.
type fakeRepo struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	index    *repo.IndexFile
	files    map[string][]byte
	requests []request
	// user and password, when set, are required on every request.
	user, password string
	// intercept, when set, handles a request first; it returns false to fall through.
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

type request struct {
	path, authorization string
}

func newFakeRepo(t testing.TB) *fakeRepo { return startFakeRepo(t, false) }

func newFakeTLSRepo(t testing.TB) *fakeRepo { return startFakeRepo(t, true) }

func startFakeRepo(t testing.TB, useTLS bool) *fakeRepo {
	r := &fakeRepo{t: t, index: repo.NewIndexFile(), files: map[string][]byte{}}
	r.srv = startServer(t, http.HandlerFunc(r.serve), useTLS)
	return r
}

// startServer starts a test server whose handshake errors, which some tests provoke, are not
// logged.
func startServer(t testing.TB, h http.Handler, useTLS bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeRepo) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, request{path: r.URL.Path, authorization: r.Header.Get("Authorization")})
	intercept, user, password := f.intercept, f.user, f.password
	f.mu.Unlock()
	if user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if intercept != nil && intercept(w, r) {
		return
	}
	f.mu.Lock()
	var body []byte
	var ok bool
	if r.URL.Path == "/index.yaml" {
		body, ok = f.indexYAML(), true
	} else {
		body, ok = f.files[strings.TrimPrefix(r.URL.Path, "/")]
	}
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(body)
}

func (f *fakeRepo) indexYAML() []byte {
	data, err := yaml.Marshal(f.index)
	if err != nil {
		f.t.Errorf("marshal index: %v", err)
	}
	return data
}

// add serves data as <name>-<version>.tgz and lists it in the index under baseURL ("" for a
// URL relative to the repository).
func (f *fakeRepo) add(name, version string, data []byte, baseURL string) {
	f.t.Helper()
	filename := name + "-" + version + ".tgz"
	sum := sha256.Sum256(data)
	md := &chartv2.Metadata{APIVersion: "v2", Name: name, Version: version}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.index.MustAdd(md, filename, baseURL, hex.EncodeToString(sum[:])); err != nil {
		f.t.Fatalf("add %s to index: %v", filename, err)
	}
	f.files[filename] = data
}

// serveFile serves data at path without listing it.
func (f *fakeRepo) serveFile(path string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[strings.TrimPrefix(path, "/")] = data
}

func (f *fakeRepo) setIntercept(h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intercept = h
}

func (f *fakeRepo) requireAuth(user, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user, f.password = user, password
}

func (f *fakeRepo) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeRepo) requestsTo(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.path == path {
			n++
		}
	}
	return n
}

func (f *fakeRepo) recorded() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// ref is a Ref to this repository, with plain HTTP allowed when it is not TLS.
func (f *fakeRepo) ref(name, version string) Ref {
	return Ref{Repo: f.srv.URL, Name: name, Version: version, AllowInsecureHTTP: strings.HasPrefix(f.srv.URL, "http://")}
}
