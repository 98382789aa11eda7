package action

import (
	"context"
	"testing"

	"helm.sh/helm/v4/pkg/release/common"
)

func TestDeployed(t *testing.T) {
	t.Run("no release has neither a deployed nor a latest revision", func(t *testing.T) {
		d, l, err := Deployed(context.Background(), newFakeCluster().config(), "app")
		if err != nil || d != nil || l != nil {
			t.Fatalf("deployed %v, latest %v, %v", d, l, err)
		}
	})
	t.Run("after a failed upgrade the deployed revision is the earlier one", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		if _, err := Upgrade(context.Background(), f.config(), upgradeRequest(t, nil)); err != nil {
			t.Fatal(err)
		}
		// Revision 2 failed, revision 1 is still the one deployed (Helm leaves it deployed).
		setStatus(t, f, 2, common.StatusFailed)
		setStatus(t, f, 1, common.StatusDeployed)
		d, l, err := Deployed(context.Background(), f.config(), "app")
		if err != nil || d == nil || d.Version != 1 || l == nil || l.Version != 2 {
			t.Fatalf("deployed %v, latest %v, %v", d, l, err)
		}
	})
	t.Run("a release whose only revision failed has no deployed revision", func(t *testing.T) {
		f := newFakeCluster()
		install(t, f, nil)
		setStatus(t, f, 1, common.StatusFailed)
		d, l, err := Deployed(context.Background(), f.config(), "app")
		if err != nil || d != nil || l == nil || l.Version != 1 {
			t.Fatalf("deployed %v, latest %v, %v", d, l, err)
		}
	})
}
