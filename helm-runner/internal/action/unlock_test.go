package action

import (
	"context"
	"reflect"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/release/common"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/storage"
)

func TestUnlock(t *testing.T) {
	tests := []struct {
		name     string
		status   common.Status // status given to revision 1 after install; "" means no release
		revision int
		reason   failure.Reason
	}{
		{"a release that does not exist is not found", "", 1, failure.ReleaseNotFound},
		{"a revision that is not the latest is a failed precondition", common.StatusPendingUpgrade, 2, failure.PreconditionFailed},
		{"a revision that is not pending is a failed precondition", common.StatusDeployed, 1, failure.PreconditionFailed},
		{"a pending latest revision is marked failed", common.StatusPendingUpgrade, 1, ""},
		{"a pending install is marked failed", common.StatusPendingInstall, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCluster()
			if tt.status != "" {
				install(t, f, nil)
				setStatus(t, f, 1, tt.status)
			}
			res, err := Unlock(context.Background(), f.config(), UnlockRequest{Name: "app", Revision: tt.revision})
			if tt.reason != "" {
				if failure.ReasonOf(err) != tt.reason || len(res.Writes) != 0 {
					t.Fatalf("err %v (%s), writes %+v", err, failure.ReasonOf(err), res.Writes)
				}
				return
			}
			if err != nil || res.Err != nil {
				t.Fatalf("unlock: %v / %v", err, res.Err)
			}
			if got, want := writesOf(res.Writes), []write{{storage.Update, 1, common.StatusFailed}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("writes = %+v, want %+v", got, want)
			}
			if res.State.Status != common.StatusFailed || res.State.Description != UnlockDescription || res.State.Pending {
				t.Fatalf("state = %+v", res.State)
			}
		})
	}
}

func TestUnlockedReleaseCanBeUpgraded(t *testing.T) {
	f := newFakeCluster()
	install(t, f, nil)
	setStatus(t, f, 1, common.StatusPendingUpgrade)
	if _, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil)); failure.ReasonOf(err) != failure.ReleaseLocked {
		t.Fatalf("upgrade of a pending release: %v", err)
	}
	if _, err := Unlock(context.Background(), f.config(), UnlockRequest{Name: "app", Revision: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := Upgrade(context.Background(), f.config(), UpgradeRequest{Name: "app", Chart: loadChart(t, "plain", "1.1.0"), Timeout: time.Minute})
	if err != nil || res.Err != nil || res.State.Revision != 2 || res.State.Status != common.StatusDeployed {
		t.Fatalf("upgrade after unlock: %v / %v, state %+v", err, res.Err, res.State)
	}
}
