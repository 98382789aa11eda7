package action

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

var (
	ownerA = &Owner{Namespace: "team-a", Name: "web", UID: "0b6d5e1c-5f7a-4f59-9d1e-1f2a3b4c5d6e"}
	ownerB = &Owner{Namespace: "team-b", Name: "web", UID: "7c1e2d3f-0000-4a5b-8c9d-abcdefabcdef"}
)

// revisionOwner is the owner that revision rev of release app records in storage.
func revisionOwner(t *testing.T, f *fakeCluster, rev int) Owner {
	t.Helper()
	r, err := f.config().helm.Releases.Get("app", rev)
	if err != nil {
		t.Fatalf("get revision %d: %v", rev, err)
	}
	return OwnerOf(asRelease(t, r))
}

func installAs(t *testing.T, f *fakeCluster, owner *Owner) {
	t.Helper()
	res, err := Install(context.Background(), f.config(), InstallRequest{
		Name: "app", Chart: loadChart(t, "plain", "1.0.0"), Timeout: time.Minute, ConfigDigest: "cfg-1", Owner: owner,
	})
	if err != nil || res.Err != nil {
		t.Fatalf("install: %v / %v", err, res.Err)
	}
}

func upgradeAs(t *testing.T, f *fakeCluster, owner *Owner) Result {
	t.Helper()
	req := upgradeRequest(t, nil)
	req.Owner = owner
	res, err := Upgrade(context.Background(), f.config(), req)
	if err != nil || res.Err != nil {
		t.Fatalf("upgrade: %v / %v", err, res.Err)
	}
	return res
}

func rollbackTo(t *testing.T, f *fakeCluster, rev int, owner *Owner) Result {
	t.Helper()
	res, err := Rollback(context.Background(), f.config(), RollbackRequest{Name: "app", Revision: rev, Timeout: time.Minute, Owner: owner})
	if err != nil || res.Err != nil {
		t.Fatalf("rollback: %v / %v", err, res.Err)
	}
	return res
}

func TestOwnerIsRecorded(t *testing.T) {
	t.Run("an install records the owner, which the release state returns", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, ownerA)
		if got := revisionOwner(t, f, 1); got != *ownerA {
			t.Fatalf("revision 1 owner = %+v, want %+v", got, *ownerA)
		}
		s, _, err := GetReleaseState(context.Background(), f.config(), "app", 0)
		if err != nil || s.Owner != *ownerA || s.ConfigDigest != "cfg-1" {
			t.Fatalf("state %+v, %v; want owner %+v and config digest cfg-1", s, err, *ownerA)
		}
	})
	t.Run("an install without an owner records none", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, nil)
		if got := revisionOwner(t, f, 1); !got.IsZero() {
			t.Fatalf("revision 1 owner = %+v, want none", got)
		}
	})
	t.Run("an upgrade keeps the owner", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, ownerA)
		if res := upgradeAs(t, f, ownerA); res.State.Owner != *ownerA || res.State.ConfigDigest != "" {
			t.Fatalf("state after the upgrade = %+v, want owner %+v and no config digest", res.State, *ownerA)
		}
	})
	t.Run("an upgrade that names no owner keeps the recorded one", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, ownerA)
		if res := upgradeAs(t, f, nil); res.State.Owner != *ownerA {
			t.Fatalf("owner after the upgrade = %+v, want %+v", res.State.Owner, *ownerA)
		}
	})
	t.Run("an upgrade of a release without an owner records the owner", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, nil)
		if res := upgradeAs(t, f, ownerA); res.State.Owner != *ownerA {
			t.Fatalf("owner after adoption = %+v, want %+v", res.State.Owner, *ownerA)
		}
		if got := revisionOwner(t, f, 1); !got.IsZero() {
			t.Fatalf("revision 1 owner = %+v, want none (an upgrade writes only its own revision)", got)
		}
	})
	t.Run("a name that is not a label value is not recorded, and a recorded one is removed", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, ownerA)
		long := &Owner{Namespace: ownerA.Namespace, Name: strings.Repeat("n", 64), UID: ownerA.UID}
		res := upgradeAs(t, f, long)
		if want := (Owner{Namespace: ownerA.Namespace, UID: ownerA.UID}); res.State.Owner != want {
			t.Fatalf("owner = %+v, want %+v", res.State.Owner, want)
		}
		if _, ok := res.Release.Labels[OwnerNameLabel]; ok {
			t.Fatalf("labels %v keep an owner name", res.Release.Labels)
		}
	})
	t.Run("a rollback to a revision without an owner keeps the release's owner", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, nil)
		upgradeAs(t, f, ownerA)
		res := rollbackTo(t, f, 1, nil)
		if res.State.Revision != 3 || res.State.Owner != *ownerA {
			t.Fatalf("state after the rollback = %+v, want revision 3 owned by %+v", res.State, *ownerA)
		}
		if got := revisionOwner(t, f, 1); !got.IsZero() {
			t.Fatalf("revision 1 owner = %+v after the rollback, want none: its labels must not change", got)
		}
	})
	t.Run("a rollback to a revision of another owner keeps the release's owner", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, ownerB)
		upgradeAs(t, f, ownerA)
		if res := rollbackTo(t, f, 1, ownerA); res.State.Owner != *ownerA {
			t.Fatalf("owner after the rollback = %+v, want %+v", res.State.Owner, *ownerA)
		}
	})
	t.Run("a rollback of a release without an owner records the call's owner", func(t *testing.T) {
		f := newFakeCluster()
		installAs(t, f, nil)
		upgradeAs(t, f, nil)
		if res := rollbackTo(t, f, 1, ownerA); res.State.Owner != *ownerA {
			t.Fatalf("owner after the rollback = %+v, want %+v", res.State.Owner, *ownerA)
		}
	})
	t.Run("the rollback of a failed atomic upgrade records the owner", func(t *testing.T) {
		f := newFakeCluster()
		if _, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: loadChart(t, "hooks", "1.0.0"), Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		f.kube.WatchUntilReadyError = errors.New("job failed: BackoffLimitExceeded")
		res, err := Upgrade(context.Background(), f.config(), UpgradeRequest{
			Name: "app", Chart: loadChart(t, "hooks", "1.1.0"), Atomic: true, Timeout: time.Minute, Owner: ownerA,
		})
		if err != nil || res.Err == nil || !res.Remediated {
			t.Fatalf("upgrade: %v, outcome %v, remediated %v; want a remediated failure", err, res.Err, res.Remediated)
		}
		if res.State.Revision != 3 || res.State.Owner != *ownerA {
			t.Fatalf("state after the rollback = %+v, want revision 3 owned by %+v", res.State, *ownerA)
		}
	})
}

func TestCheckOwner(t *testing.T) {
	long := &Owner{Namespace: "team-b", Name: strings.Repeat("n", 70), UID: ownerB.UID}
	tests := []struct {
		name        string
		recorded    *Owner // nil: the release records no owner
		absent      bool
		uninstalled bool
		caller      *Owner
		want        string // "" passes; else the message of RELEASE_OWNED_BY_OTHER
	}{
		{"a release that does not exist passes", nil, true, false, ownerA, ""},
		{"a release without an owner passes", nil, false, false, ownerA, ""},
		{"the recorded owner passes", ownerA, false, false, ownerA, ""},
		{"the same UID under another name passes", ownerA, false, false, &Owner{Namespace: "x", Name: "y", UID: ownerA.UID}, ""},
		{"a call that names no owner is not checked", ownerB, false, false, nil, ""},
		{"another owner is refused, named", ownerB, false, false, ownerA,
			"release apps/app is owned by HelmRelease team-b/web (uid " + ownerB.UID + ")"},
		{"another owner of a release uninstalled with its history is refused", ownerB, false, true, ownerA,
			"release apps/app is owned by HelmRelease team-b/web (uid " + ownerB.UID + ")"},
		{"another owner whose name is not recorded is refused by namespace and UID", long, false, false, ownerA,
			"release apps/app is owned by a HelmRelease in namespace team-b (uid " + ownerB.UID + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCluster()
			if !tt.absent {
				installAs(t, f, tt.recorded)
			}
			if tt.uninstalled {
				if _, err := Uninstall(context.Background(), f.config(), UninstallRequest{Name: "app", KeepHistory: true, Timeout: time.Minute}); err != nil {
					t.Fatal(err)
				}
			}
			err := CheckOwner(context.Background(), f.config(), "app", tt.caller)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckOwner = %v, want it to pass", err)
				}
				return
			}
			if failure.ReasonOf(err) != failure.ReleaseOwnedByOther || err.Error() != tt.want {
				t.Fatalf("CheckOwner = %v (%s), want RELEASE_OWNED_BY_OTHER %q", err, failure.ReasonOf(err), tt.want)
			}
		})
	}
}

func TestOwnerOfARevisionWithoutUIDIsNone(t *testing.T) {
	rel := &rspb.Release{Name: "app", Labels: map[string]string{OwnerNamespaceLabel: "team-a", OwnerNameLabel: "web"}}
	if got := OwnerOf(rel); !got.IsZero() {
		t.Fatalf("owner without a UID = %+v, want none: ownership is decided by UID", got)
	}
}
