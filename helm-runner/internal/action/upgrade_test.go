package action

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/release/common"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

func upgradeRequest(t *testing.T, values map[string]any) UpgradeRequest {
	return UpgradeRequest{Name: "app", Chart: loadChart(t, "plain", "1.1.0"), Values: values, Timeout: time.Minute}
}

func TestUpgrade(t *testing.T) {
	t.Run("an upgrade writes the new revision and supersedes the previous one", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, map[string]any{"message": "one"})
		res, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, map[string]any{"message": "two"}))
		if err != nil || res.Err != nil {
			t.Fatalf("upgrade: %v / %v", err, res.Err)
		}
		want := []write{
			{storage.Create, 2, common.StatusPendingUpgrade},
			{storage.Update, 1, common.StatusSuperseded},
			{storage.Update, 2, common.StatusDeployed},
		}
		if got := writesOf(res.Writes); !reflect.DeepEqual(got, want) {
			t.Fatalf("writes = %+v, want %+v", got, want)
		}
		if res.State.Revision != 2 || res.State.ChartVersion != "1.1.0" || res.State.ConfigDigest != "" {
			t.Fatalf("state = %+v (an upgrade without a config digest drops the label)", res.State)
		}
	})
	t.Run("values replace the previous values entirely", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, map[string]any{"message": "one"})
		res, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil))
		if err != nil || res.Err != nil {
			t.Fatalf("upgrade: %v / %v", err, res.Err)
		}
		if res.State.ValuesDigest != ValuesDigest(nil) || len(res.Release.Config) != 0 {
			t.Fatalf("values reused: %v", res.Release.Config)
		}
	})
	t.Run("upgrade failure after storage write is an outcome", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		f.kube.WaitError = fmt.Errorf("resource not ready: %w", context.DeadlineExceeded)
		res, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil))
		if err != nil {
			t.Fatalf("upgrade returned an error although it wrote storage: %v", err)
		}
		want := []write{
			{storage.Create, 2, common.StatusPendingUpgrade},
			{storage.Update, 1, common.StatusDeployed},
			{storage.Update, 2, common.StatusFailed},
		}
		if got := writesOf(res.Writes); !reflect.DeepEqual(got, want) || res.Err == nil || res.Err.Reason != failure.Timeout {
			t.Fatalf("writes %+v, outcome %v", got, res.Err)
		}
	})
	t.Run("a failed storage write is not reported and fails the outcome", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		f.storage.FailUpdate = 3 // install made 1 update; the upgrade's second one fails
		res, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		want := []write{{storage.Create, 2, common.StatusPendingUpgrade}, {storage.Update, 1, common.StatusSuperseded}}
		if got := writesOf(res.Writes); !reflect.DeepEqual(got, want) || res.Err == nil || res.Err.Reason != failure.KubernetesAPIError {
			t.Fatalf("writes %+v, outcome %v", got, res.Err)
		}
	})
	t.Run("an atomic upgrade that fails is rolled back", func(t *testing.T) {
		f := newFakeCluster()
		if _, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "hooks", "1.0.0"), Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		f.kube.WatchUntilReadyError = errors.New("job failed: BackoffLimitExceeded")
		res, err := Upgrade(context.Background(), f.config(), UpgradeRequest{Name: "app", Chart: loadChart(t, "hooks", "1.1.0"), Atomic: true, Timeout: time.Minute})
		if err != nil || res.Err == nil || res.Err.Reason != failure.HookFailed || !res.Remediated {
			t.Fatalf("err %v, outcome %v, remediated %v", err, res.Err, res.Remediated)
		}
		if s := res.State; s.Revision != 3 || s.Status != common.StatusDeployed || s.ChartVersion != "1.0.0" {
			t.Fatalf("state after rollback = %+v", s)
		}
	})
	preconditions := []struct {
		name   string
		setup  func(t *testing.T, f *fakeCluster)
		reason failure.Reason
	}{
		{"a release that does not exist is not found", func(*testing.T, *fakeCluster) {}, failure.ReleaseNotFound},
		{"an uninstalled release is not found", func(t *testing.T, f *fakeCluster) {
			install(t, f, nil)
			if _, err := Uninstall(context.Background(), f.config(), UninstallRequest{Name: "app", KeepHistory: true, Timeout: time.Minute}); err != nil {
				t.Fatal(err)
			}
		}, failure.ReleaseNotFound},
		{"a pending release is locked", func(t *testing.T, f *fakeCluster) {
			install(t, f, nil)
			setStatus(t, f, 1, common.StatusPendingUpgrade)
		}, failure.ReleaseLocked},
	}
	for _, tt := range preconditions {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCluster()
			tt.setup(t, f)
			res, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil))
			if failure.ReasonOf(err) != tt.reason || len(res.Writes) != 0 {
				t.Fatalf("err %v (%s), writes %+v", err, failure.ReasonOf(err), res.Writes)
			}
		})
	}
}

// setStatus changes a stored revision's status directly, as a crashed process leaves it.
func setStatus(t *testing.T, f *fakeCluster, revision int, status common.Status) {
	t.Helper()
	cfg := f.config()
	rel, err := cfg.helm.Releases.Get("app", revision)
	if err != nil {
		t.Fatal(err)
	}
	r := asRelease(t, rel)
	r.Info.Status = status
	if err := cfg.helm.Releases.Update(r); err != nil {
		t.Fatal(err)
	}
}
