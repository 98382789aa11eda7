package chart

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestGetFromOCIRegistry(t *testing.T) {
	tests := []struct{ name, version string }{
		{"a release version", "1.0.0"},
		{"a version with build metadata, tagged with _ as Helm does", "1.0.0+build.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			layer := reg.push("charts/plain", "plain", tt.version, chartArchive(t, "plain", tt.version))
			c, digest, err := newTestSource(t, Limits{}).Get(testContext(t), reg.ref("plain", tt.version))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if c.Name() != "plain" || c.Metadata.Version != tt.version || len(c.Templates) != 1 {
				t.Fatalf("got %s %s with %d templates, want plain %s with 1", c.Name(), c.Metadata.Version, len(c.Templates), tt.version)
			}
			if digest != layer {
				t.Fatalf("digest = %s, want the chart layer's %s", digest, layer)
			}
		})
	}
}

func TestOCINotFound(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	reg.push("charts/plain", "plain", "1.1.0", chartArchive(t, "plain", "1.1.0"))
	s := newTestSource(t, Limits{})

	_, _, err := s.Get(testContext(t), reg.ref("nosuch", "1.0.0"))
	wantReason(t, err, failure.ChartNotFound, `"nosuch"`)

	_, _, err = s.Get(testContext(t), reg.ref("plain", "9.9.9"))
	wantReason(t, err, failure.VersionNotFound, `"9.9.9"`, "1.1.0, 1.0.0")
}

func TestOCIPlainHTTPRegistryNeedsTheInsecureFlag(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	ref := reg.ref("plain", "1.0.0")
	ref.AllowInsecureHTTP = false
	_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
	wantReason(t, err, failure.InsecureRepository, "plain HTTP", "allow-insecure")
}

func TestOCIOverTLS(t *testing.T) {
	reg := startFakeRegistry(t, true)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.srv.Certificate().Raw})

	ref := reg.ref("plain", "1.0.0")
	ref.CABundle = caBundle
	if _, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref); err != nil {
		t.Fatalf("Get with the registry's CA bundle: %v", err)
	}

	ref.CABundle = nil
	_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
	wantReason(t, err, failure.RepositoryUnreachable, "not trusted")
}

func TestOCICredentials(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	reg.requireAuth("user", "secret")
	dockerConfig := func(host, user, password string) []byte {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		return fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, host, auth)
	}
	tests := []struct {
		name string
		edit func(*Ref)
		want failure.Reason
	}{
		{"anonymous access is refused", func(*Ref) {}, failure.AuthFailed},
		{"a wrong password is refused", func(r *Ref) { r.Username, r.Password = "user", "guess" }, failure.AuthFailed},
		{"basic auth is accepted", func(r *Ref) { r.Username, r.Password = "user", "secret" }, ""},
		{"the dockerconfigjson entry for the host is used", func(r *Ref) { r.DockerConfigJSON = dockerConfig(reg.host(), "user", "secret") }, ""},
		{"a dockerconfigjson entry written as a URL is used", func(r *Ref) { r.DockerConfigJSON = dockerConfig("https://"+reg.host()+"/v1/", "user", "secret") }, ""},
		{"a dockerconfigjson entry for another host is not sent", func(r *Ref) { r.DockerConfigJSON = dockerConfig("127.0.0.2:5000", "user", "secret") }, failure.AuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := reg.ref("plain", "1.0.0")
			tt.edit(&ref)
			_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				return
			}
			wantReason(t, err, tt.want)
		})
	}
}

func TestOCILayerLargerThanLimit(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0", file{name: "plain/a.bin", body: randomBytes(t, 64<<10)}))
	_, _, err := newTestSource(t, Limits{MaxArchiveBytes: 32 << 10}).Get(testContext(t), reg.ref("plain", "1.0.0"))
	wantReason(t, err, failure.ChartTooLarge, "32768 bytes")
}

func TestOCIUnreachable(t *testing.T) {
	ref := Ref{Repo: "oci://" + closedPort(t) + "/charts", Name: "plain", Version: "1.0.0", AllowInsecureHTTP: true}
	_, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
	wantReason(t, err, failure.RepositoryUnreachable)
}

func TestOCIPullHonoursTheDeadline(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	abandoned := make(chan struct{}, 8)
	reg.mu.Lock()
	reg.blobGate = func(r *http.Request) {
		<-r.Context().Done()
		abandoned <- struct{}{}
	}
	reg.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The blob never comes: only the deadline can end Get. A Get that ignored it would never
	// return; the wait below bounds the test, it measures nothing.
	src, ref := newTestSource(t, Limits{}), reg.ref("plain", "1.0.0")
	returned := make(chan error, 1)
	go func() {
		_, _, err := src.Get(ctx, ref)
		returned <- err
	}()
	var err error
	select {
	case err = <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("Get did not return after its deadline passed")
	}
	wantReason(t, err, failure.Timeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want it to end with the deadline (context.DeadlineExceeded)", err)
	}
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the registry request went on after the deadline")
	}
}

func TestOCICredentialsStayOnTheRegistry(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.push("charts/plain", "plain", "1.0.0", chartArchive(t, "plain", "1.0.0"))
	blobStore := newFakeRepo(t)
	// Blobs are served from another host, as registries backed by object storage do.
	reg.mu.Lock()
	for d, data := range reg.blobs {
		blobStore.serveFile("/blobs/"+d, data)
	}
	reg.mu.Unlock()
	redirecting := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only an authorised blob request is redirected, as a registry does.
		if u, p, ok := r.BasicAuth(); ok && u == "user" && p == "secret" {
			if i := strings.Index(r.URL.Path, "/blobs/"); i >= 0 {
				http.Redirect(w, r, blobStore.srv.URL+r.URL.Path[i:], http.StatusTemporaryRedirect)
				return
			}
		}
		reg.serve(w, r)
	}), false)
	reg.requireAuth("user", "secret")

	ref := Ref{Repo: "oci://" + strings.TrimPrefix(redirecting.URL, "http://") + "/charts", Name: "plain", Version: "1.0.0",
		AllowInsecureHTTP: true, Username: "user", Password: "secret"}
	if _, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref); err != nil {
		t.Fatalf("Get: %v", err)
	}
	authorised := 0
	for _, r := range reg.recorded() {
		if r.authorization != "" {
			authorised++
		}
	}
	if authorised == 0 {
		t.Fatal("the registry never received the credentials")
	}
	got := blobStore.recorded()
	if len(got) == 0 {
		t.Fatal("no blob was fetched from the blob store")
	}
	for _, r := range got {
		if r.authorization != "" {
			t.Fatalf("the blob store received Authorization %q for %s", r.authorization, r.path)
		}
	}
}
