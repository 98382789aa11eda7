//go:build integration

package drift

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

func TestDiffUpgrade(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "diff")
	current := installPlain(t, env, ns, "1.0.0")
	next := run(t, env, env.Helm(), "template", "r", env.OCIRepo()+"/plain", "--version", "1.1.0", "--plain-http", "-n", ns)
	rel := Release{Name: "r", Namespace: ns}

	t.Run("an upgrade to 1.1.0 adds data.version and writes nothing", func(t *testing.T) {
		before := resourceVersions(t, c, ns)
		diffs, err := Diff(testContext(t), c, rel, next, current)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		for _, d := range diffs {
			t.Logf("%s %s: %+v", d.Change, d.Kind, d.Fields)
		}
		if len(diffs) != 3 {
			t.Fatalf("diffs = %+v, want one per object", diffs)
		}
		cm := findDiff(t, diffs, "ConfigMap")
		if cm.Change != Update {
			t.Fatalf("ConfigMap change = %v, want Update", cm.Change)
		}
		if f := findField(t, cm, "/data/version"); f.Desired != `"1.1.0"` || f.Live != "" {
			t.Fatalf("/data/version = %+v, want added with \"1.1.0\"", f)
		}
		if f := findField(t, cm, "/metadata/labels/helm.sh~1chart"); f.Desired != `"plain-1.1.0"` || f.Live != `"plain-1.0.0"` {
			t.Fatalf("chart label = %+v, want plain-1.0.0 -> plain-1.1.0", f)
		}
		if after := resourceVersions(t, c, ns); after != before {
			t.Fatalf("resourceVersions changed from %s to %s: Diff wrote to the cluster", before, after)
		}
	})
	t.Run("the same chart again changes nothing", func(t *testing.T) {
		diffs, err := Diff(testContext(t), c, rel, current, current)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		for _, d := range diffs {
			if d.Change != Unchanged || len(d.Fields) != 0 {
				t.Errorf("%s = %v %+v, want Unchanged", d.Kind, d.Change, d.Fields)
			}
		}
	})
	t.Run("an object left out of the new manifest is deleted", func(t *testing.T) {
		diffs, err := Diff(testContext(t), c, rel, withoutSource(next, "service.yaml"), current)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		if svc := findDiff(t, diffs, "Service"); svc.Change != Delete || diffs[len(diffs)-1].Kind != "Service" {
			t.Fatalf("diffs = %+v, want the Service last, as Delete", diffs)
		}
	})
	t.Run("an install creates every object", func(t *testing.T) {
		fresh := Release{Name: "r", Namespace: namespace(t, c, "diffinstall")}
		diffs, err := Diff(testContext(t), c, fresh, next, "")
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		for _, d := range diffs {
			if d.Change != Create || d.Namespace != fresh.Namespace {
				t.Errorf("%s = %v in %q, want Create in %q", d.Kind, d.Change, d.Namespace, fresh.Namespace)
			}
		}
	})
	t.Run("an unparsable rendered manifest is a render failure", func(t *testing.T) {
		_, err := Diff(testContext(t), c, rel, "kind: [", current)
		if got := failure.ReasonOf(err); got != failure.RenderFailed {
			t.Fatalf("reason = %q (%v), want RENDER_FAILED", got, err)
		}
	})
	t.Run("a kept object leaving the manifest is not deleted", func(t *testing.T) {
		kubectl(t, env, "-n", ns, "annotate", "service", "r-plain", "helm.sh/resource-policy=keep")
		diffs, err := Diff(testContext(t), c, rel, withoutSource(next, "service.yaml"), current)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		if svc := findDiff(t, diffs, "Service"); svc.Change != Unchanged {
			t.Fatalf("Service = %v, want Unchanged (Helm keeps it)", svc.Change)
		}
	})
}

// resourceVersions returns the resourceVersions of the plain chart's objects.
func resourceVersions(t *testing.T, c testCluster, ns string) string {
	t.Helper()
	var out []string
	for _, gvr := range []schema.GroupVersionResource{configMaps, deployments, services} {
		out = append(out, gvr.Resource+"="+get(t, c, gvr, ns, "r-plain").GetResourceVersion())
	}
	return strings.Join(out, ",")
}

// withoutSource drops the documents rendered from the named template.
func withoutSource(manifest, template string) string {
	docs := strings.Split(manifest, "\n---")
	kept := docs[:0]
	for _, d := range docs {
		if !strings.Contains(d, "# Source: plain/templates/"+template) {
			kept = append(kept, d)
		}
	}
	return strings.Join(kept, "\n---")
}
