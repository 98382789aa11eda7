//go:build integration

package chart

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

func TestIntegrationPullPlain(t *testing.T) {
	env := testenv.Load(t)
	repos := map[string]string{"http": env.HTTPRepo(), "oci": env.OCIRepo()}
	for kind, repoURL := range repos {
		t.Run("plain 1.0.0 from the "+kind+" repository", func(t *testing.T) {
			ref := Ref{Repo: repoURL, Name: "plain", Version: "1.0.0", AllowInsecureHTTP: true}
			c, digest, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if c.Name() != "plain" || c.Metadata.Version != "1.0.0" {
				t.Fatalf("got %s %s, want plain 1.0.0", c.Name(), c.Metadata.Version)
			}
			var templates []string
			for _, f := range c.Templates {
				templates = append(templates, f.Name)
			}
			for _, want := range []string{"templates/configmap.yaml", "templates/deployment.yaml", "templates/service.yaml"} {
				if !slices.Contains(templates, want) {
					t.Fatalf("templates = %v, missing %s", templates, want)
				}
			}
			if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
				t.Fatalf("digest = %q, want sha256:<64 hex>", digest)
			}
			if kind == "oci" {
				if layer := ociChartLayerDigest(t, env, "plain", "1.0.0"); digest != layer {
					t.Fatalf("digest = %s, want the registry's chart layer %s", digest, layer)
				}
			}
		})
	}
}

func TestIntegrationFailures(t *testing.T) {
	env := testenv.Load(t)
	closed := closedPort(t)
	tests := []struct {
		name string
		ref  Ref
		want failure.Reason
	}{
		{"http: a chart the repository does not have", Ref{Repo: env.HTTPRepo(), Name: "nosuch", Version: "1.0.0", AllowInsecureHTTP: true}, failure.ChartNotFound},
		{"http: a version the repository does not have", Ref{Repo: env.HTTPRepo(), Name: "plain", Version: "9.9.9", AllowInsecureHTTP: true}, failure.VersionNotFound},
		{"oci: a chart the registry does not have", Ref{Repo: env.OCIRepo(), Name: "nosuch", Version: "1.0.0", AllowInsecureHTTP: true}, failure.ChartNotFound},
		{"oci: a version the registry does not have", Ref{Repo: env.OCIRepo(), Name: "plain", Version: "9.9.9", AllowInsecureHTTP: true}, failure.VersionNotFound},
		{"http: a version range", Ref{Repo: env.HTTPRepo(), Name: "plain", Version: "^1.0.0", AllowInsecureHTTP: true}, failure.InvalidVersion},
		{"oci: a version range", Ref{Repo: env.OCIRepo(), Name: "plain", Version: ">=1.0.0", AllowInsecureHTTP: true}, failure.InvalidVersion},
		{"http: plain HTTP without the insecure flag", Ref{Repo: env.HTTPRepo(), Name: "plain", Version: "1.0.0"}, failure.InsecureRepository},
		{"oci: a plain-HTTP registry without the insecure flag", Ref{Repo: env.OCIRepo(), Name: "plain", Version: "1.0.0"}, failure.InsecureRepository},
		{"http: a closed loopback port", Ref{Repo: "http://" + closed, Name: "plain", Version: "1.0.0", AllowInsecureHTTP: true}, failure.RepositoryUnreachable},
		{"oci: a closed loopback port", Ref{Repo: "oci://" + closed + "/charts", Name: "plain", Version: "1.0.0", AllowInsecureHTTP: true}, failure.RepositoryUnreachable},
	}
	s := newTestSource(t, Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.Get(testContext(t), tt.ref)
			wantReason(t, err, tt.want)
		})
	}
}

func TestIntegrationSecondGetMakesNoRequest(t *testing.T) {
	env := testenv.Load(t)
	logPath := filepath.Join(env.Root, ".cluster", "logs", "http-repo.log")
	lines := func() int {
		data, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatalf("read the repository's request log: %v", err)
		}
		return bytes.Count(data, []byte("\n"))
	}
	ref := Ref{Repo: env.HTTPRepo(), Name: "plain", Version: "1.1.0", AllowInsecureHTTP: true}
	dir := t.TempDir()
	s, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}

	before := lines()
	if _, _, err := s.Get(testContext(t), ref); err != nil {
		t.Fatalf("first Get: %v", err)
	}
	// The server logs a request while answering it: wait for both lines (index and archive).
	eventually(t, "the first Get's requests in the log", func() bool { return lines() >= before+2 })
	afterFirst := lines()

	if _, _, err := s.Get(testContext(t), ref); err != nil {
		t.Fatalf("second Get: %v", err)
	}
	restarted, err := NewSource(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := restarted.Get(testContext(t), ref); err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	// A canary request proves the log is being written, so that an unchanged count means no
	// request rather than a late flush.
	resp, err := http.Get(env.HTTPRepo() + "/index.yaml?canary")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	eventually(t, "the canary request in the log", func() bool {
		data, err := os.ReadFile(logPath)
		return err == nil && bytes.Contains(data, []byte("/index.yaml?canary"))
	})
	if got := lines(); got != afterFirst+1 {
		t.Fatalf("the repository logged %d requests after the first Get besides the canary, want none", got-afterFirst-1)
	}
}

// ociChartLayerDigest reads the chart layer's digest from the registry's manifest.
func ociChartLayerDigest(t *testing.T, env testenv.Env, name, version string) string {
	t.Helper()
	registry, path, _ := strings.Cut(strings.TrimPrefix(env.OCIRepo(), "oci://"), "/")
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, "http://"+registry+"/v2/"+path+"/"+name+"/manifests/"+version, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var manifest struct {
		Layers []struct{ MediaType, Digest string } `json:"layers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&manifest); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	for _, l := range manifest.Layers {
		if l.MediaType == "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
			return l.Digest
		}
	}
	t.Fatalf("manifest of %s:%s has no chart layer", name, version)
	return ""
}
