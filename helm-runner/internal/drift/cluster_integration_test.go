//go:build integration

package drift

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// testCluster is the Cluster a per-identity client gives: a memory-cached deferred mapper and
// a dynamic client.
type testCluster struct {
	mapper meta.RESTMapper
	dyn    dynamic.Interface
}

func (c testCluster) Mapper() meta.RESTMapper    { return c.mapper }
func (c testCluster) Dynamic() dynamic.Interface { return c.dyn }

var (
	namespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets     = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// newCluster connects to the local cluster as its admin, or as user when it is not empty.
func newCluster(t testing.TB, env testenv.Env, user string) testCluster {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig())
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.Impersonate.UserName = user
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatalf("discovery client: %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	return testCluster{mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dyn: dyn}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// namespace creates a uniquely named namespace, deleted when the test ends.
func namespace(t testing.TB, c testCluster, prefix string) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "drift-" + prefix + "-" + hex.EncodeToString(suffix)
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}}
	if _, err := c.dyn.Resource(namespaces).Create(testContext(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.dyn.Resource(namespaces).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// run runs a CLI of the environment (helm, kubectl) and returns its standard output.
func run(t testing.TB, env testenv.Env, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testContext(t), bin, args...)
	cmd.Env = env.CommandEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// installPlain installs the plain chart as release r with the Helm CLI and returns the
// release's stored manifest.
func installPlain(t testing.TB, env testenv.Env, ns, version string) string {
	t.Helper()
	run(t, env, env.Helm(), "install", "r", env.OCIRepo()+"/plain", "--version", version,
		"--plain-http", "-n", ns, "--wait", "--timeout", "90s")
	return run(t, env, env.Helm(), "get", "manifest", "r", "-n", ns)
}

func kubectl(t testing.TB, env testenv.Env, args ...string) string {
	t.Helper()
	return run(t, env, env.Kubectl(), args...)
}

func get(t testing.TB, c testCluster, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := c.dyn.Resource(gvr).Namespace(ns).Get(testContext(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", gvr.Resource, ns, name, err)
	}
	return obj
}

// applyAsHelm server-side applies a manifest's objects with Helm's field manager, as a Helm
// install would, without making a release.
func applyAsHelm(t testing.TB, c testCluster, rel Release, manifest string) {
	t.Helper()
	objs, err := parseManifest(manifest, "")
	if err != nil {
		t.Fatalf("parse fixture: %v", err)
	}
	targets, err := resolve(testContext(t), c, objs, rel)
	if err != nil {
		t.Fatalf("resolve fixture: %v", err)
	}
	for _, tg := range targets {
		if _, err := tg.apply(testContext(t), false, true); err != nil {
			t.Fatalf("apply fixture: %v", err)
		}
	}
}

// findDiff returns the diff of the object of the given kind, failing when there is none.
func findDiff(t testing.TB, diffs []ObjectDiff, kind string) ObjectDiff {
	t.Helper()
	for _, d := range diffs {
		if d.Kind == kind {
			return d
		}
	}
	t.Fatalf("no %s in %+v", kind, diffs)
	return ObjectDiff{}
}

func findField(t testing.TB, d ObjectDiff, path string) FieldDiff {
	t.Helper()
	for _, f := range d.Fields {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("no field %s in %s diff %+v", path, d.Kind, d.Fields)
	return FieldDiff{}
}
