//go:build integration

package action

import (
	"context"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"helm.sh/helm/v4/pkg/release/common"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

// must fails the test unless the operation it is given succeeded.
func must(t *testing.T, what string) func(Result, error) Result {
	return func(res Result, err error) Result {
		t.Helper()
		return mustSucceed(t, what, res, err)
	}
}

func mustSucceed(t *testing.T, what string, res Result, err error) Result {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.Err != nil {
		t.Fatalf("%s failed after writing %+v: %v", what, writesOf(res.Writes), res.Err)
	}
	return res
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestIntegrationReleaseLifecycle(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	const name = "life"

	res := must(t, "install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{
		Name: name, Chart: loadChart(t, "plain", "1.0.0"), Wait: true, Timeout: time.Minute, ConfigDigest: "cfg-a",
	}))
	if s := res.State; s.Revision != 1 || s.Status != common.StatusDeployed || s.ConfigDigest != "cfg-a" {
		t.Fatalf("after install: %+v", s)
	}
	d, err := c.admin.Typed().AppsV1().Deployments(ns).Get(ctx, name+"-plain", metav1.GetOptions{})
	if err != nil || !available(d) {
		t.Fatalf("deployment after a waited install: %v, available %v", err, err == nil && available(d))
	}

	res = must(t, "upgrade")(Upgrade(ctx, c.config(t, c.admin, ns), UpgradeRequest{
		Name: name, Chart: loadChart(t, "plain", "1.1.0"), Values: map[string]any{"message": "two"}, Wait: true, Timeout: time.Minute,
	}))
	if s := res.State; s.Revision != 2 || s.ChartVersion != "1.1.0" || s.ValuesDigest != ValuesDigest(map[string]any{"message": "two"}) {
		t.Fatalf("after upgrade: %+v", s)
	}
	if cm := c.configMap(t, ns, name+"-plain"); cm["version"] != "1.1.0" || cm["message"] != "two" {
		t.Fatalf("configmap after upgrade: %v", cm)
	}

	res = must(t, "rollback")(Rollback(ctx, c.config(t, c.admin, ns), RollbackRequest{
		Name: name, Revision: 1, Wait: true, Timeout: time.Minute,
	}))
	if s := res.State; s.Revision != 3 || s.ChartVersion != "1.0.0" || s.Status != common.StatusDeployed || s.ConfigDigest != "cfg-a" {
		t.Fatalf("after rollback: %+v", s)
	}
	if cm := c.configMap(t, ns, name+"-plain"); cm == nil || cm["version"] != "" || cm["message"] != "hello" {
		t.Fatalf("configmap after rollback to 1: %v", cm)
	}

	res = must(t, "uninstall")(Uninstall(ctx, c.config(t, c.admin, ns), UninstallRequest{
		Name: name, KeepHistory: true, Wait: true, Timeout: time.Minute,
	}))
	if s := res.State; !s.Exists || s.Status != common.StatusUninstalled {
		t.Fatalf("after uninstall with history: %+v", s)
	}
	if cm := c.configMap(t, ns, name+"-plain"); cm != nil {
		t.Fatalf("configmap survived uninstall: %v", cm)
	}
	state, history, err := GetReleaseState(ctx, c.config(t, c.admin, ns), name, 10)
	if err != nil || state.Status != common.StatusUninstalled || len(history) != 3 {
		t.Fatalf("state %+v, %d revisions, %v", state, len(history), err)
	}
}

func TestIntegrationResourcePolicyKeep(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	ch := memChart("keeper", "1.0.0", map[string]string{
		"kept.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  annotations:\n    helm.sh/resource-policy: keep\ndata:\n  a: b\n",
		"gone.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\ndata:\n  a: b\n",
	})
	must(t, "install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "keep", Chart: ch, Timeout: time.Minute}))
	res := must(t, "uninstall")(Uninstall(ctx, c.config(t, c.admin, ns), UninstallRequest{Name: "keep", Timeout: time.Minute}))
	if res.State.Exists || c.releaseSecrets(t, ns, "keep") != 0 {
		t.Fatalf("release still stored: %+v", res.State)
	}
	if c.configMap(t, ns, "kept") == nil {
		t.Fatal("the ConfigMap annotated helm.sh/resource-policy: keep was deleted")
	}
	eventually(t, "ConfigMap gone to be deleted", func() bool { return c.configMap(t, ns, "gone") == nil })
}

func TestIntegrationUnlockAfterCrash(t *testing.T) {
	t.Parallel()
	c := localCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	must(t, "install")(Install(ctx, c.config(t, c.admin, ns), InstallRequest{Name: "stuck", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute}))

	// A process that died during an upgrade leaves the latest revision pending.
	cfg := c.config(t, c.admin, ns)
	latest, err := cfg.latest("stuck")
	if err != nil {
		t.Fatal(err)
	}
	latest.SetStatus(common.StatusPendingUpgrade, "Preparing upgrade")
	if err := cfg.helm.Releases.Update(latest); err != nil {
		t.Fatal(err)
	}
	if _, err := Upgrade(ctx, c.config(t, c.admin, ns), UpgradeRequest{Name: "stuck", Chart: loadChart(t, "plain", "1.1.0"), Timeout: time.Minute}); err == nil {
		t.Fatal("upgrade of a pending release succeeded")
	}

	res := must(t, "unlock")(Unlock(ctx, c.config(t, c.admin, ns), UnlockRequest{Name: "stuck", Revision: 1}))
	if got, want := writesOf(res.Writes), []write{{storage.Update, 1, common.StatusFailed}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("unlock writes = %+v, want %+v", got, want)
	}
	if res.State.Status != common.StatusFailed || res.State.Description != UnlockDescription {
		t.Fatalf("after unlock: %+v", res.State)
	}
	res = must(t, "upgrade after unlock")(Upgrade(ctx, c.config(t, c.admin, ns), UpgradeRequest{
		Name: "stuck", Chart: loadChart(t, "plain", "1.1.0"), Timeout: time.Minute,
	}))
	if res.State.Revision != 2 || res.State.Status != common.StatusDeployed {
		t.Fatalf("after upgrade: %+v", res.State)
	}
}
