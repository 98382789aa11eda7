package action

import (
	"context"
	"errors"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

const testHook = `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-check
  annotations:
    helm.sh/hook: test
`

func TestTest(t *testing.T) {
	tests := []struct {
		name      string
		hookError error
		phase     rspb.HookPhase
		reason    failure.Reason
	}{
		{"passing tests succeed with one result each", nil, rspb.HookPhaseSucceeded, ""},
		{"a failing test is a TEST_FAILED outcome", errors.New("job failed: DeadlineExceeded"), rspb.HookPhaseFailed, failure.TestFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCluster()
			ch := memChart("testable", "1.0.0", map[string]string{"test.yaml": testHook})
			if _, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: ch, Timeout: time.Minute}); err != nil {
				t.Fatal(err)
			}
			f.kube.WatchUntilReadyError = tt.hookError
			res, err := Test(context.Background(), f.config(), TestRequest{Name: "app", Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if failure.ReasonOf(errOrNil(res.Err)) != tt.reason {
				t.Fatalf("outcome %v, want reason %q", res.Err, tt.reason)
			}
			if len(res.Tests) != 1 || res.Tests[0].Name != "app-check" || res.Tests[0].Phase != tt.phase || res.Tests[0].Started.IsZero() {
				t.Fatalf("results = %+v", res.Tests)
			}
			if len(res.Writes) == 0 || res.Writes[len(res.Writes)-1].Action != storage.Update {
				t.Fatalf("results not recorded in the release: writes %+v", res.Writes)
			}
			ts := res.State.Tests
			if !ts.HasTests || !ts.Ran || ts.Succeeded != (tt.reason == "") {
				t.Fatalf("test state = %+v", ts)
			}
		})
	}
}

func errOrNil(e *failure.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestRollback(t *testing.T) {
	f := newFakeCluster()
	install(t, f, nil)
	if _, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil)); err != nil {
		t.Fatal(err)
	}
	t.Run("revision 0 rolls back to the previous revision", func(t *testing.T) {
		res, err := Rollback(context.Background(), f.config(), RollbackRequest{Name: "app", Timeout: time.Minute})
		if err != nil || res.Err != nil {
			t.Fatalf("rollback: %v / %v", err, res.Err)
		}
		if s := res.State; s.Revision != 3 || s.ChartVersion != "1.0.0" || s.Status != common.StatusDeployed {
			t.Fatalf("state = %+v", s)
		}
	})
	t.Run("a revision that is not stored is not found", func(t *testing.T) {
		_, err := Rollback(context.Background(), f.config(), RollbackRequest{Name: "app", Revision: 9, Timeout: time.Minute})
		if failure.ReasonOf(err) != failure.RevisionNotFound {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUninstall(t *testing.T) {
	t.Run("an uninstall without history deletes every revision", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		res, err := Uninstall(context.Background(), f.config(), UninstallRequest{Name: "app", Timeout: time.Minute})
		if err != nil || res.Err != nil || res.State.Exists {
			t.Fatalf("uninstall: %v / %v, state %+v", err, res.Err, res.State)
		}
		if last := res.Writes[len(res.Writes)-1]; last.Action != storage.Delete {
			t.Fatalf("writes = %+v", res.Writes)
		}
	})
	t.Run("uninstalling again with history kept writes nothing", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		for range 2 {
			res, err := Uninstall(context.Background(), f.config(), UninstallRequest{Name: "app", KeepHistory: true, Timeout: time.Minute})
			if err != nil || res.Err != nil || res.State.Status != common.StatusUninstalled {
				t.Fatalf("uninstall: %v / %v, state %+v", err, res.Err, res.State)
			}
		}
	})
	t.Run("a release that does not exist is not found", func(t *testing.T) {
		_, err := Uninstall(context.Background(), newFakeCluster().config(), UninstallRequest{Name: "app", Timeout: time.Minute})
		if failure.ReasonOf(err) != failure.ReleaseNotFound {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestGetReleaseState(t *testing.T) {
	f := newFakeCluster()
	if s, h, err := GetReleaseState(context.Background(), f.config(), "app", 5); err != nil || s.Exists || h != nil {
		t.Fatalf("absent release: %+v %+v %v", s, h, err)
	}
	install(t, f, nil)
	if _, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, map[string]any{"message": "x"})); err != nil {
		t.Fatal(err)
	}
	s, history, err := GetReleaseState(context.Background(), f.config(), "app", 5)
	if err != nil || s.Revision != 2 || len(history) != 2 || history[0].Revision != 2 || history[1].Status != common.StatusSuperseded {
		t.Fatalf("state %+v, history %+v, %v", s, history, err)
	}
	if _, h, _ := GetReleaseState(context.Background(), f.config(), "app", 1); len(h) != 1 {
		t.Fatalf("history limit 1 gave %d revisions", len(h))
	}
	if _, _, err := GetReleaseState(context.Background(), f.config(), "Not_A_Name", 0); failure.ReasonOf(err) != failure.InvalidArgument {
		t.Fatalf("invalid name: %v", err)
	}
}
