package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/registry"
)

// fakeRegistry is the part of the OCI distribution API that a pull uses, answering as
// distribution does: MANIFEST_UNKNOWN for a missing tag or repository, NAME_UNKNOWN for the
// tag list of a missing repository.
type fakeRegistry struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	manifests map[string]map[string]string // repository → tag → manifest digest
	blobs     map[string][]byte            // digest → content
	requests  []request
	user      string
	password  string
	// blobGate, when set, is called before a blob is served.
	blobGate func(r *http.Request)
}

func newFakeRegistry(t testing.TB) *fakeRegistry { return startFakeRegistry(t, false) }

func startFakeRegistry(t testing.TB, useTLS bool) *fakeRegistry {
	f := &fakeRegistry{t: t, manifests: map[string]map[string]string{}, blobs: map[string][]byte{}}
	f.srv = startServer(t, http.HandlerFunc(f.serve), useTLS)
	return f
}

// host is the registry's host:port.
func (f *fakeRegistry) host() string {
	return strings.TrimPrefix(strings.TrimPrefix(f.srv.URL, "http://"), "https://")
}

func (f *fakeRegistry) blob(data []byte) (string, int) {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	f.blobs[d] = data
	return d, len(data)
}

// push stores a Helm chart as `repository:version` (with + turned into _ as Helm does) and
// returns the chart layer's digest.
func (f *fakeRegistry) push(repository, name, version string, chartData []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	config, err := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	if err != nil {
		f.t.Fatal(err)
	}
	configDigest, configSize := f.blob(config)
	layerDigest, layerSize := f.blob(chartData)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": registry.ConfigMediaType, "digest": configDigest, "size": configSize},
		"layers":        []any{map[string]any{"mediaType": registry.ChartLayerMediaType, "digest": layerDigest, "size": layerSize}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	manifestDigest, _ := f.blob(manifest)
	if f.manifests[repository] == nil {
		f.manifests[repository] = map[string]string{}
	}
	f.manifests[repository][strings.ReplaceAll(version, "+", "_")] = manifestDigest
	return layerDigest
}

func (f *fakeRegistry) requireAuth(user, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user, f.password = user, password
}

func (f *fakeRegistry) recorded() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func registryError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, strings.ToLower(code))
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, request{path: r.URL.Path, authorization: r.Header.Get("Authorization")})
	user, password, gate := f.user, f.password, f.blobGate
	f.mu.Unlock()
	if user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED")
			return
		}
	}
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	switch {
	case p == "" || p == "/":
		w.WriteHeader(http.StatusOK)
	case strings.HasSuffix(p, "/tags/list"):
		f.serveTags(w, strings.TrimSuffix(p, "/tags/list"))
	case strings.Contains(p, "/manifests/"):
		i := strings.LastIndex(p, "/manifests/")
		f.serveManifest(w, r, p[:i], p[i+len("/manifests/"):])
	case strings.Contains(p, "/blobs/"):
		if gate != nil {
			gate(r)
		}
		i := strings.LastIndex(p, "/blobs/")
		f.serveBlob(w, r, p[i+len("/blobs/"):], "application/octet-stream")
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeRegistry) serveTags(w http.ResponseWriter, repository string) {
	f.mu.Lock()
	tags, ok := f.manifests[repository]
	names := make([]string, 0, len(tags))
	for tag := range tags {
		names = append(names, tag)
	}
	f.mu.Unlock()
	if !ok {
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": repository, "tags": names})
}

func (f *fakeRegistry) serveManifest(w http.ResponseWriter, r *http.Request, repository, ref string) {
	f.mu.Lock()
	d := ref
	if !strings.HasPrefix(ref, "sha256:") {
		d = f.manifests[repository][ref]
	}
	f.mu.Unlock()
	if d == "" {
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN")
		return
	}
	f.serveBlob(w, r, d, "application/vnd.oci.image.manifest.v1+json")
}

func (f *fakeRegistry) serveBlob(w http.ResponseWriter, r *http.Request, d, mediaType string) {
	f.mu.Lock()
	data, ok := f.blobs[d]
	f.mu.Unlock()
	if !ok {
		registryError(w, http.StatusNotFound, "BLOB_UNKNOWN")
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", d)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
}

// ref is a Ref to `oci://<host>/charts/<name>` with plain HTTP allowed when not TLS.
func (f *fakeRegistry) ref(name, version string) Ref {
	return Ref{Repo: "oci://" + f.host() + "/charts", Name: name, Version: version, AllowInsecureHTTP: strings.HasPrefix(f.srv.URL, "http://")}
}
