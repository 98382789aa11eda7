//go:build integration

package action

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/render"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// isolatedConfig is c.config rendering through r.
func (c *cluster) isolatedConfig(t *testing.T, clients *kube.Clients, namespace string, r Renderer) *Config {
	t.Helper()
	cfg, err := ConfigsRenderingWith(r)(clients, namespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// benchWorker is the render worker of the benchmarks: the runner's binary when
// PLANTON_RENDER_WORKER names it, else this test binary (TestMain).
func benchWorker(tb testing.TB) render.Worker {
	tb.Helper()
	if path := os.Getenv("PLANTON_RENDER_WORKER"); path != "" {
		return render.Worker{Path: path, Args: []string{render.WorkerCommand}}
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return render.Worker{Path: exe, Args: []string{render.WorkerCommand}}
}

func TestIntegrationIsolatedCharts(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	r := isolatedRenderer(t)
	tests := []struct {
		name   string
		chart  func(t *testing.T) *chart.Chart
		values map[string]any
		// check looks at what the release created.
		check func(t *testing.T, ns, release string)
	}{
		{"a chart with a subchart given values", umbrellaChart, nil, func(t *testing.T, ns, release string) {
			if got := c.configMap(t, ns, release+"-plain")["message"]; got != "from-umbrella" {
				t.Errorf("subchart ConfigMap message = %q", got)
			}
		}},
		{"a chart with hooks", func(t *testing.T) *chart.Chart { return loadChart(t, "hooks", "1.0.0") }, nil,
			func(t *testing.T, ns, release string) {
				if c.configMap(t, ns, release+"-hooks-pre") == nil {
					t.Error("the pre-install hook's ConfigMap is missing")
				}
			}},
		{"a chart with CRDs", func(t *testing.T) *chart.Chart { return loadChart(t, "with-crds", "1.0.0") }, nil,
			func(t *testing.T, ns, release string) {
				gvr := schema.GroupVersionResource{Group: "fixtures.planton.test", Version: "v1", Resource: "widgets"}
				w, err := c.admin.Dynamic().Resource(gvr).Namespace(ns).Get(context.Background(), release+"-widget", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("widget: %v", err)
				}
				if spec, _ := w.Object["spec"].(map[string]any); spec["color"] != "blue" {
					t.Errorf("widget spec = %v", spec)
				}
			}},
		{"a chart with a values schema", func(t *testing.T) *chart.Chart { return loadChart(t, "schema", "1.0.0") },
			map[string]any{"replicaCount": float64(2), "mode": "b"}, func(t *testing.T, ns, release string) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns, inProcessNS := c.namespace(t), c.namespace(t)
			const name = "iso"
			original := tt.chart(t)
			must(t, "isolated install")(Install(context.Background(), c.isolatedConfig(t, c.admin, ns, r), InstallRequest{
				Name: name, Chart: original, Values: tt.values, Wait: true, Timeout: time.Minute,
			}))
			// The same install rendered by Helm in-process, in a namespace of its own (no
			// template of these charts names the namespace).
			must(t, "in-process install")(Install(context.Background(), c.config(t, c.admin, inProcessNS), InstallRequest{
				Name: name, Chart: tt.chart(t), Values: tt.values, Wait: true, Timeout: time.Minute,
			}))
			// As `helm get` reads them: the release Secrets, through fresh configurations.
			got, want := stored(t, c.config(t, c.admin, ns), name), stored(t, c.config(t, c.admin, inProcessNS), name)
			if got.Manifest != want.Manifest || got.Info.Notes != want.Info.Notes || len(got.Hooks) != len(want.Hooks) {
				t.Errorf("stored release:\n%s\nin-process:\n%s", got.Manifest, want.Manifest)
			}
			if !reflect.DeepEqual(fileContents(got.Chart.Templates), fileContents(original.Templates)) {
				t.Errorf("stored chart templates are not the original chart's: %v", templateNames(got.Chart))
			}
			tt.check(t, ns, name)
		})
	}
}

// fileContents is name to content (stored files lose their modification times' monotonic
// readings and locations).
func fileContents(files []*chartcommon.File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		out[f.Name] = string(f.Data)
	}
	return out
}

// lookupChart renders into a ConfigMap the data key of ConfigMap "source" in namespace
// .Values.sourceNamespace, read with `lookup`.
func lookupChart() *chart.Chart {
	return memChart("lookup", "1.0.0", map[string]string{"seen.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n" +
		"  name: {{ .Release.Name }}-seen\ndata:\n" +
		"  seen: {{ (lookup \"v1\" \"ConfigMap\" .Values.sourceNamespace \"source\").data.key | default \"none\" | quote }}\n"})
}

func TestIntegrationIsolatedLookupRunsAsTheReleaseIdentity(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	r := isolatedRenderer(t)
	ctx := context.Background()
	source, ns := c.namespace(t), c.namespace(t)
	if _, err := c.admin.Typed().CoreV1().ConfigMaps(source).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "source"}, Data: map[string]string{"key": "from-lookup"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployer := namespacedDeployer(t, c, ns)
	values := map[string]any{"sourceNamespace": source}

	// The runner's own identity reads the other namespace, in-process and in the worker.
	must(t, "isolated install as the runner")(Install(ctx, c.isolatedConfig(t, c.admin, ns, r),
		InstallRequest{Name: "admin", Chart: lookupChart(), Values: values, Timeout: time.Minute}))
	if got := c.configMap(t, ns, "admin-seen")["seen"]; got != "from-lookup" {
		t.Fatalf("lookup as the runner saw %q", got)
	}

	// A ServiceAccount allowed only its own namespace may not read it: the worker's lookup is
	// refused exactly as Helm's in-process lookup is.
	req := InstallRequest{Name: "tenant", Chart: lookupChart(), Values: values, Timeout: time.Minute}
	_, inProcess := Install(ctx, c.config(t, deployer, ns), req)
	res, err := Install(ctx, c.isolatedConfig(t, deployer, ns, r), req)
	if err == nil || len(res.Writes) != 0 || inProcess == nil {
		t.Fatalf("isolated install as the tenant: %v, writes %+v (in-process: %v)", err, res.Writes, inProcess)
	}
	if failure.ReasonOf(err) != failure.ReasonOf(inProcess) || err.Error() != inProcess.Error() ||
		!strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("isolated: %s %q\nin-process: %s %q", failure.ReasonOf(err), err, failure.ReasonOf(inProcess), inProcess)
	}
}

// namespacedDeployer returns the clients of a ServiceAccount that may manage Secrets and
// ConfigMaps in ns only (enough to install lookupChart there).
func namespacedDeployer(t *testing.T, c *cluster, ns string) *kube.Clients {
	t.Helper()
	ctx := context.Background()
	rbac := c.admin.Typed().RbacV1()
	if _, err := c.admin.Typed().CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"*"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clients, err := c.factory.For(kube.Identity{ServiceAccountName: "deployer", ServiceAccountNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// BenchmarkIsolation measures what rendering in a worker process costs an install and an
// upgrade of chart plain (no wait), against Helm's in-process rendering, and reports the
// largest worker's peak RSS and this process's. Run each mode on its own for its process peak:
//
//	go test -tags integration -run '^$' -bench 'Isolation/install/in-process' ./internal/action/
func BenchmarkIsolation(b *testing.B) {
	env := testenv.Load(b)
	restConfig, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig())
	if err != nil {
		b.Fatal(err)
	}
	admin, err := kube.NewFactory(restConfig).For(kube.Identity{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := render.NewIsolated(benchWorker(b), render.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	charts := map[string]*chart.Chart{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if charts[v], err = loader.Load(filepath.Join("..", "..", "..", "test", "charts", "plain", v)); err != nil {
			b.Fatal(err)
		}
	}
	modes := []struct {
		name   string
		config func(*kube.Clients, string, *slog.Logger) (*Config, error)
	}{
		{"in-process", NewConfig},
		{"isolated", ConfigsRenderingWith(r)},
	}
	ctx := context.Background()
	for _, m := range modes {
		do := func(b *testing.B, ns string, op func(*Config) (Result, error)) {
			b.Helper()
			cfg, err := m.config(admin, ns, nil)
			if err != nil {
				b.Fatal(err)
			}
			if res, err := op(cfg); err != nil || res.Err != nil {
				b.Fatalf("%v / %v", err, res.Err)
			}
		}
		b.Run("install/"+m.name, func(b *testing.B) {
			ns := testenv.Namespace(b, admin.Typed(), "bench")
			i := 0
			for b.Loop() {
				i++
				do(b, ns, func(cfg *Config) (Result, error) {
					return Install(ctx, cfg, InstallRequest{Name: fmt.Sprintf("bench-%d", i), Chart: charts["1.0.0"], Timeout: time.Minute})
				})
			}
			reportRSS(b, r)
		})
		b.Run("upgrade/"+m.name, func(b *testing.B) {
			ns := testenv.Namespace(b, admin.Typed(), "bench")
			do(b, ns, func(cfg *Config) (Result, error) {
				return Install(ctx, cfg, InstallRequest{Name: "bench", Chart: charts["1.0.0"], Timeout: time.Minute})
			})
			i := 0
			for b.Loop() {
				i++
				do(b, ns, func(cfg *Config) (Result, error) {
					return Upgrade(ctx, cfg, UpgradeRequest{
						Name: "bench", Chart: charts["1.1.0"], Values: map[string]any{"message": fmt.Sprint(i)},
						Timeout: time.Minute, MaxHistory: 3,
					})
				})
			}
			reportRSS(b, r)
		})
	}
}

// reportRSS reports this process's peak RSS and the largest peak RSS of r's workers. (The
// kernel's rusage of children is no use here: a child's maximum RSS starts at its parent's.)
func reportRSS(b *testing.B, r *render.Isolated) {
	if peak := r.PeakRSS(); peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "worker-peak-MiB")
	}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb float64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil {
					b.ReportMetric(kb/1024, "process-peak-MiB")
				}
			}
		}
	}
}
