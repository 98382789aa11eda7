package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestGetFromHTTPRepository(t *testing.T) {
	tests := []struct {
		name    string
		baseURL func(r *fakeRepo) string
	}{
		{"index with a URL relative to the repository", func(*fakeRepo) string { return "" }},
		{"index with an absolute URL on the repository's host", func(r *fakeRepo) string { return r.srv.URL }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeRepo(t)
			data := chartArchive(t, "plain", "1.0.0")
			r.add("plain", "1.0.0", data, tt.baseURL(r))
			r.add("plain", "1.1.0", chartArchive(t, "plain", "1.1.0"), tt.baseURL(r))

			c, digest, err := newTestSource(t, Limits{}).Get(testContext(t), r.ref("plain", "1.0.0"))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if c.Name() != "plain" || c.Metadata.Version != "1.0.0" {
				t.Fatalf("got chart %s %s, want plain 1.0.0", c.Name(), c.Metadata.Version)
			}
			if len(c.Templates) != 1 || c.Templates[0].Name != "templates/configmap.yaml" {
				t.Fatalf("templates = %v, want templates/configmap.yaml", c.Templates)
			}
			sum := sha256.Sum256(data)
			if want := "sha256:" + hex.EncodeToString(sum[:]); digest != want {
				t.Fatalf("digest = %s, want %s", digest, want)
			}
		})
	}
}

func TestHTTPRepositoryNotFound(t *testing.T) {
	r := newFakeRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	r.add("plain", "1.1.0", chartArchive(t, "plain", "1.1.0"), "")
	r.add("gone", "1.0.0", chartArchive(t, "gone", "1.0.0"), "")
	r.serveFile("gone-1.0.0.tgz", nil)
	r.setIntercept(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/gone-1.0.0.tgz" || strings.HasPrefix(req.URL.Path, "/empty/") {
			http.NotFound(w, req)
			return true
		}
		return false
	})
	tests := []struct {
		name string
		ref  Ref
		want failure.Reason
		says []string
	}{
		{"a chart absent from the index", r.ref("nosuch", "1.0.0"), failure.ChartNotFound, []string{`"nosuch"`}},
		{"a version absent from the index", r.ref("plain", "9.9.9"), failure.VersionNotFound, []string{`"9.9.9"`, "1.1.0, 1.0.0"}},
		{"an archive listed but missing", r.ref("gone", "1.0.0"), failure.VersionNotFound, []string{"missing"}},
		{"a repository without index.yaml", func() Ref { ref := r.ref("plain", "1.0.0"); ref.Repo += "/empty"; return ref }(), failure.RepositoryUnreachable, []string{"index.yaml"}},
	}
	s := newTestSource(t, Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.Get(testContext(t), tt.ref)
			wantReason(t, err, tt.want, tt.says...)
		})
	}
}

func TestCredentialsAreSentOnlyToTheRepositoryHost(t *testing.T) {
	repoHost := newFakeRepo(t)
	otherHost := newFakeRepo(t)
	repoHost.requireAuth("user", "secret")
	data := chartArchive(t, "plain", "1.0.0")
	repoHost.add("plain", "1.0.0", data, otherHost.srv.URL)
	otherHost.serveFile("plain-1.0.0.tgz", data)

	ref := repoHost.ref("plain", "1.0.0")
	ref.Username, ref.Password = "user", "secret"
	if _, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := repoHost.recorded(); len(got) != 1 || got[0].authorization == "" {
		t.Fatalf("repository host requests = %+v, want one index request with credentials", got)
	}
	got := otherHost.recorded()
	if len(got) != 1 {
		t.Fatalf("other host requests = %+v, want one archive request", got)
	}
	if got[0].authorization != "" {
		t.Fatalf("the host named in the index received Authorization %q", got[0].authorization)
	}
}

func TestRedirectToAnotherHostDropsCredentials(t *testing.T) {
	repoHost := newFakeRepo(t)
	otherHost := newFakeRepo(t)
	repoHost.requireAuth("user", "secret")
	data := chartArchive(t, "plain", "1.0.0")
	repoHost.add("plain", "1.0.0", data, "")
	otherHost.serveFile("moved/plain-1.0.0.tgz", data)
	repoHost.setIntercept(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/plain-1.0.0.tgz" {
			http.Redirect(w, req, otherHost.srv.URL+"/moved/plain-1.0.0.tgz", http.StatusFound)
			return true
		}
		return false
	})

	ref := repoHost.ref("plain", "1.0.0")
	ref.Username, ref.Password = "user", "secret"
	if _, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if n := repoHost.requestsTo("/plain-1.0.0.tgz"); n != 1 {
		t.Fatalf("archive requests on the repository host = %d, want 1 (answered by a redirect)", n)
	}
	got := otherHost.recorded()
	if len(got) != 1 || got[0].path != "/moved/plain-1.0.0.tgz" {
		t.Fatalf("other host requests = %+v, want the redirected archive request", got)
	}
	if got[0].authorization != "" {
		t.Fatalf("the redirect target received Authorization %q", got[0].authorization)
	}
}

func TestHTTPRepositoryFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   failure.Reason
	}{
		{"401 is an authentication failure", http.StatusUnauthorized, failure.AuthFailed},
		{"403 is an authentication failure", http.StatusForbidden, failure.AuthFailed},
		{"500 is an unreachable repository", http.StatusInternalServerError, failure.RepositoryUnreachable},
		{"503 is an unreachable repository", http.StatusServiceUnavailable, failure.RepositoryUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeRepo(t)
			r.setIntercept(func(w http.ResponseWriter, _ *http.Request) bool {
				w.WriteHeader(tt.status)
				return true
			})
			_, _, err := newTestSource(t, Limits{}).Get(testContext(t), r.ref("plain", "1.0.0"))
			wantReason(t, err, tt.want)
		})
	}
	t.Run("a closed port is an unreachable repository", func(t *testing.T) {
		ref := Ref{Repo: "http://" + closedPort(t), Name: "plain", Version: "1.0.0", AllowInsecureHTTP: true}
		_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
		wantReason(t, err, failure.RepositoryUnreachable, "unreachable")
	})
	t.Run("an https repository answering in plain HTTP is insecure", func(t *testing.T) {
		r := newFakeRepo(t)
		ref := Ref{Repo: strings.Replace(r.srv.URL, "http://", "https://", 1), Name: "plain", Version: "1.0.0"}
		_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
		wantReason(t, err, failure.InsecureRepository, "plain HTTP")
	})
	t.Run("an index whose digest differs from the archive is an invalid chart", func(t *testing.T) {
		r := newFakeRepo(t)
		r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
		r.serveFile("plain-1.0.0.tgz", chartArchive(t, "plain", "1.0.0", file{name: "plain/extra.txt", body: []byte("x")}))
		_, _, err := newTestSource(t, Limits{}).Get(testContext(t), r.ref("plain", "1.0.0"))
		wantReason(t, err, failure.InvalidChart, "digest")
	})
}

func TestHTTPSRepositoryWithCustomCA(t *testing.T) {
	r := newFakeTLSRepo(t)
	r.add("plain", "1.0.0", chartArchive(t, "plain", "1.0.0"), "")
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	// Every httptest TLS server shares one certificate: make a different one.
	otherBundle := selfSignedCA(t)

	t.Run("the repository's CA bundle is trusted", func(t *testing.T) {
		ref := r.ref("plain", "1.0.0")
		ref.CABundle = caBundle
		c, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if c.Metadata.Version != "1.0.0" {
			t.Fatalf("version = %s", c.Metadata.Version)
		}
	})
	for name, bundle := range map[string][]byte{"without a CA bundle": nil, "with another CA bundle": otherBundle} {
		t.Run(name+" the certificate is not trusted", func(t *testing.T) {
			ref := r.ref("plain", "1.0.0")
			ref.CABundle = bundle
			_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
			wantReason(t, err, failure.RepositoryUnreachable, "TLS certificate", "not trusted")
		})
	}
	t.Run("a redirect from TLS to plain HTTP is refused", func(t *testing.T) {
		plain := newFakeRepo(t)
		r.setIntercept(func(w http.ResponseWriter, req *http.Request) bool {
			http.Redirect(w, req, plain.srv.URL+req.URL.Path, http.StatusFound)
			return true
		})
		t.Cleanup(func() { r.setIntercept(nil) })
		ref := r.ref("plain", "1.0.0")
		ref.CABundle = caBundle
		_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
		wantReason(t, err, failure.InsecureRepository, "redirected to plain HTTP")
		if n := plain.requestCount(); n != 0 {
			t.Fatalf("the plain-HTTP target got %d requests", n)
		}
	})
}

func TestIndexLargerThanLimit(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		name := "an index with Content-Length over the limit"
		if chunked {
			name = "a streamed index over the limit"
		}
		t.Run(name+" is too large", func(t *testing.T) {
			r := newFakeRepo(t)
			r.setIntercept(func(w http.ResponseWriter, req *http.Request) bool {
				body := "apiVersion: v1\nentries: {}\n# " + strings.Repeat("x", 4096) + "\n"
				if chunked {
					_, _ = w.Write([]byte(body[:10]))
					w.(http.Flusher).Flush()
					_, _ = w.Write([]byte(body[10:]))
				} else {
					_, _ = w.Write([]byte(body))
				}
				return true
			})
			_, _, err := newTestSource(t, Limits{MaxIndexBytes: 1024}).Get(testContext(t), r.ref("plain", "1.0.0"))
			wantReason(t, err, failure.ChartTooLarge, "index", "1024 bytes")
		})
	}
}
