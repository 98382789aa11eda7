//go:build integration

package action

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

func TestIntegrationFailedHookIsRolledBack(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	must(t, "install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "hk", Chart: loadChart(t, "hooks", "1.0.0"), Wait: true, Timeout: time.Minute}))

	res, err := Upgrade(ctx, c.config(t, c.admin, ns), UpgradeRequest{
		Name: "hk", Chart: loadChart(t, "hooks", "1.1.0"), Values: map[string]any{"failHook": true}, Atomic: true, Wait: true, Timeout: time.Minute,
	})
	if err != nil || res.Err == nil || res.Err.Reason != failure.HookFailed || !res.Remediated {
		t.Fatalf("upgrade: err %v, outcome %v, remediated %v", err, res.Err, res.Remediated)
	}
	_, history, err := GetReleaseState(ctx, c.config(t, c.admin, ns), "hk", 10)
	if err != nil || len(history) != 3 {
		t.Fatalf("history %+v, %v", history, err)
	}
	if h := history[0]; h.Revision != 3 || h.Status != common.StatusDeployed || h.ChartVersion != "1.0.0" || h.Description != "Rollback to 1" {
		t.Fatalf("latest revision after the rollback: %+v", h)
	}
	if h := history[1]; h.Revision != 2 || h.Status != common.StatusFailed {
		t.Fatalf("failed revision: %+v", h)
	}
}

func TestIntegrationWaitTimesOut(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ctx := context.Background()
	t.Run("a waited install that never gets ready is a TIMEOUT outcome", func(t *testing.T) {
		t.Parallel()
		ns := c.namespace(t)
		res, err := Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "nr", Chart: loadChart(t, "never-ready", "1.0.0"), Wait: true, Timeout: 5 * time.Second})
		if err != nil || res.Err == nil || res.Err.Reason != failure.Timeout || res.Remediated {
			t.Fatalf("install: err %v, outcome %v", err, res.Err)
		}
		if want := "resource Deployment/" + ns + "/nr-never-ready not ready. status: InProgress"; !strings.Contains(res.Err.Error(), want) {
			t.Fatalf("outcome %q does not name the deployment that is not ready (%q)", res.Err, want)
		}
		want := []write{{storage.Create, 1, common.StatusPendingInstall}, {storage.Update, 1, common.StatusFailed}}
		if got := writesOf(res.Writes); !reflect.DeepEqual(got, want) {
			t.Fatalf("writes = %+v, want %+v", got, want)
		}
	})
	t.Run("a cancelled wait still reports what was written", func(t *testing.T) {
		t.Parallel()
		ns := c.namespace(t)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		res, err := Install(cctx, c.config(t, c.admin, ns), InstallRequest{Name: "cx", Chart: loadChart(t, "never-ready", "1.0.0"), Wait: true, Timeout: time.Minute})
		want := []write{{storage.Create, 1, common.StatusPendingInstall}, {storage.Update, 1, common.StatusFailed}}
		if got := writesOf(res.Writes); err != nil || !reflect.DeepEqual(got, want) || res.Err == nil || res.Err.Reason != failure.Timeout {
			t.Fatalf("install: err %v, outcome %v, writes %+v", err, res.Err, got)
		}
		if n := c.releaseSecrets(t, ns, "cx"); n != 1 {
			t.Fatalf("%d release secrets", n)
		}
	})
	t.Run("an atomic upgrade that never gets ready returns to the previous chart", func(t *testing.T) {
		t.Parallel()
		ns := c.namespace(t)
		must(t, "install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "up", Chart: loadChart(t, "plain", "1.0.0"), Wait: true, Timeout: time.Minute}))
		res, err := Upgrade(ctx, c.config(t, c.admin, ns), UpgradeRequest{Name: "up", Chart: loadChart(t, "never-ready", "1.0.0"), Wait: true, Atomic: true, Timeout: 5 * time.Second})
		if err != nil || res.Err == nil || res.Err.Reason != failure.Timeout || !res.Remediated {
			t.Fatalf("upgrade: err %v, outcome %v, remediated %v", err, res.Err, res.Remediated)
		}
		if s := res.State; s.Revision != 3 || s.Status != common.StatusDeployed || s.ChartName != "plain" || s.ChartVersion != "1.0.0" {
			t.Fatalf("after the remediated upgrade: %+v", s)
		}
	})
}

func TestIntegrationChartTests(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		values map[string]any
		phase  rspb.HookPhase
		reason failure.Reason
	}{
		{"a passing test succeeds", nil, rspb.HookPhaseSucceeded, ""},
		{"a failing test is TEST_FAILED", map[string]any{"testShouldFail": true}, rspb.HookPhaseFailed, failure.TestFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := c.namespace(t)
			must(t, "install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "tst", Chart: loadChart(t, "testable", "1.0.0"), Values: tt.values, Timeout: time.Minute}))
			res, err := Test(ctx, c.config(t, c.admin, ns), TestRequest{Name: "tst", Timeout: time.Minute})
			if err != nil || failure.ReasonOf(errOrNil(res.Err)) != tt.reason {
				t.Fatalf("test: err %v, outcome %v", err, res.Err)
			}
			if len(res.Tests) != 1 || res.Tests[0].Phase != tt.phase || res.Tests[0].Completed.IsZero() {
				t.Fatalf("results = %+v", res.Tests)
			}
			state, _, err := GetReleaseState(ctx, c.config(t, c.admin, ns), "tst", 0)
			if err != nil || !state.Tests.Ran || state.Tests.Succeeded != (tt.reason == "") {
				t.Fatalf("recorded test state %+v, %v", state.Tests, err)
			}
		})
	}
}

func TestIntegrationRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ctx := context.Background()
	t.Run("values against the schema fail naming the path and write nothing", func(t *testing.T) {
		ns := c.namespace(t)
		_, err := Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "sch", Chart: loadChart(t, "schema", "1.0.0"), Values: map[string]any{"replicaCount": 11.0}, Timeout: time.Minute})
		if failure.ReasonOf(err) != failure.SchemaValidationFailed || !strings.Contains(err.Error(), "/replicaCount") {
			t.Fatalf("install: %v", err)
		}
		if n := c.releaseSecrets(t, ns, "sch"); n != 0 {
			t.Fatalf("%d release secrets written", n)
		}
	})
	t.Run("an impersonated service account without RBAC is FORBIDDEN", func(t *testing.T) {
		ns := c.namespace(t)
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}
		if _, err := c.admin.Typed().CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		clients, err := c.factory.For(kube.Identity{ServiceAccountName: "nobody", ServiceAccountNamespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Install(ctx, c.config(t, clients, ns), InstallRequest{Name: "frb", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute})
		if failure.ReasonOf(err) != failure.Forbidden {
			t.Fatalf("install as a service account without RBAC: %v", err)
		}
	})
}

func TestIntegrationSharedDiscovery(t *testing.T) {
	c := localCluster(t)
	ctx := context.Background()
	ns := c.namespace(t)
	must(t, "install with CRDs")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "crd", Chart: loadChart(t, "with-crds", "1.0.0"), Timeout: time.Minute}))
	must(t, "first install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "warm", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute}))
	// Later operations read no discovery at all once the cache is warm, waited ones included:
	// the runner's waiter maps kinds with the shared mapper.
	before := c.discoveryReads()
	for name, wait := range map[string]bool{"second": false, "third": true} {
		must(t, name+" install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: name, Chart: loadChart(t, "plain", "1.0.0"), Wait: wait, Timeout: time.Minute}))
		must(t, name+" upgrade")(Upgrade(ctx, c.config(t, c.admin, ns), UpgradeRequest{Name: name, Chart: loadChart(t, "plain", "1.1.0"), Wait: wait, Timeout: time.Minute}))
	}
	if n := c.discoveryReads() - before; n != 0 {
		t.Fatalf("later operations read discovery or OpenAPI %d times; want 0", n)
	}
}
