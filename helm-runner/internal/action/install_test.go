package action

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

func install(t *testing.T, f *fakeCluster, values map[string]any) Result {
	t.Helper()
	res, err := Install(context.Background(), f.config(), InstallRequest{
		Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Values: values, Timeout: time.Minute, ConfigDigest: "cfg-1",
	})
	if err != nil || res.Err != nil {
		t.Fatalf("install: %v / %v", err, res.Err)
	}
	return res
}

func TestInstall(t *testing.T) {
	t.Run("an install writes a pending revision then marks it deployed", func(t *testing.T) {
		f := newFakeCluster()
		res := install(t, f, map[string]any{"message": "hi"})
		want := []write{{storage.Create, 1, common.StatusPendingInstall}, {storage.Update, 1, common.StatusDeployed}}
		if got := writesOf(res.Writes); !reflect.DeepEqual(got, want) {
			t.Fatalf("writes = %+v, want %+v", got, want)
		}
		s := res.State
		if !s.Exists || s.Revision != 1 || s.Status != common.StatusDeployed || s.ChartVersion != "1.0.0" ||
			s.ConfigDigest != "cfg-1" || s.ValuesDigest != ValuesDigest(map[string]any{"message": "hi"}) {
			t.Fatalf("state = %+v", s)
		}
	})
	t.Run("a release that exists is not installed again", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		res, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute})
		if failure.ReasonOf(err) != failure.ReleaseExists || len(res.Writes) != 0 {
			t.Fatalf("second install: %v, writes %+v", err, res.Writes)
		}
	})
	t.Run("a release uninstalled with its history is installed as the next revision", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		if _, err := Uninstall(context.Background(), f.config(), UninstallRequest{Name: "app", KeepHistory: true, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		res := install(t, f, nil)
		if res.State.Revision != 2 || res.State.Status != common.StatusDeployed {
			t.Fatalf("state = %+v", res.State)
		}
	})
	t.Run("a failed first storage write is an error with nothing written", func(t *testing.T) {
		f := newFakeCluster()
		f.storage.FailCreate = 1
		res, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute})
		if err == nil || len(res.Writes) != 0 || failure.ReasonOf(err) != failure.KubernetesAPIError {
			t.Fatalf("install: %v (%s), writes %+v", err, failure.ReasonOf(err), res.Writes)
		}
	})
	t.Run("install failure after storage write is an outcome", func(t *testing.T) {
		f := newFakeCluster()
		f.kube.WaitError = fmt.Errorf("resource Deployment/apps/app-plain not ready: %w", context.DeadlineExceeded)
		res, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Wait: true, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("install returned an error although it wrote storage: %v", err)
		}
		want := []write{{storage.Create, 1, common.StatusPendingInstall}, {storage.Update, 1, common.StatusFailed}}
		if got := writesOf(res.Writes); !reflect.DeepEqual(got, want) || res.Err == nil || res.Err.Reason != failure.Timeout || res.Remediated {
			t.Fatalf("writes %+v, err %v, remediated %v", got, res.Err, res.Remediated)
		}
		if res.State.Status != common.StatusFailed {
			t.Fatalf("state = %+v", res.State)
		}
	})
	t.Run("an atomic install that fails is uninstalled again", func(t *testing.T) {
		f := newFakeCluster()
		f.kube.WaitError = errors.New("resource not ready")
		res, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Atomic: true, Timeout: time.Minute})
		if err != nil || res.Err == nil || !res.Remediated || res.State.Exists {
			t.Fatalf("err %v, outcome %v, remediated %v, state %+v", err, res.Err, res.Remediated, res.State)
		}
		if last := res.Writes[len(res.Writes)-1]; last.Action != storage.Delete || last.Revision != 1 {
			t.Fatalf("last write = %+v, want the revision deleted", last)
		}
	})
	t.Run("a config digest that is not a label value is refused", func(t *testing.T) {
		_, err := Install(context.Background(), newFakeCluster().config(), InstallRequest{
			Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute, ConfigDigest: "has space",
		})
		if failure.ReasonOf(err) != failure.InvalidArgument {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a cancelled call writes nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f := newFakeCluster()
		_, err := Install(ctx, f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute})
		if failure.ReasonOf(err) != failure.Cancelled {
			t.Fatalf("err = %v", err)
		}
		if s, _, _ := GetReleaseState(context.Background(), f.config(), "app", 0); s.Exists {
			t.Fatal("release written")
		}
	})
}

func TestInstallDoesNotChangeTheSharedChart(t *testing.T) {
	ch := memChart("parent", "1.0.0", map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: parent\n"})
	ch.Metadata.Dependencies = []*chart.Dependency{{Name: "sub", Version: "1.0.0", Condition: "sub.enabled"}}
	ch.Values = map[string]any{"sub": map[string]any{"enabled": true}}
	ch.AddDependency(memChart("sub", "1.0.0", map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n"}))
	valuesBefore := fmt.Sprint(ch.Values)

	// Disabling the dependency makes Helm drop it from the chart it installs.
	values := map[string]any{"sub": map[string]any{"enabled": false}}
	if _, err := Install(context.Background(), newFakeCluster().config(), InstallRequest{Name: "app", Chart: ch, Values: values, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if len(ch.Dependencies()) != 1 || fmt.Sprint(ch.Values) != valuesBefore {
		t.Fatalf("chart changed: %d dependencies, values %v", len(ch.Dependencies()), ch.Values)
	}
	if fmt.Sprint(values) != "map[sub:map[enabled:false]]" {
		t.Fatalf("values changed: %v", values)
	}
}
