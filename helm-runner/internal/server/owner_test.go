package server

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

var (
	ownerA = &runnerv1.ReleaseOwner{Namespace: "team-a", Name: "web", Uid: "0b6d5e1c-5f7a-4f59-9d1e-1f2a3b4c5d6e"}
	ownerB = &runnerv1.ReleaseOwner{Namespace: "team-b", Name: "site", Uid: "7c1e2d3f-0000-4a5b-8c9d-abcdefabcdef"}
)

// ownedRef is release name in testNamespace, called for on behalf of owner (nil: none).
func ownedRef(name string, owner *runnerv1.ReleaseOwner) *runnerv1.ReleaseRef {
	return &runnerv1.ReleaseRef{Name: name, Namespace: testNamespace, Owner: owner}
}

// startMemoryRunner serves a runner whose releases live in Helm's memory driver and whose chart
// source always answers with the plain chart.
func startMemoryRunner(t *testing.T, opts ...func(*Options)) (*runner, *helmMemory, *fakeCharts) {
	t.Helper()
	plain, err := loader.Load("../../../test/charts/plain/1.0.0")
	if err != nil {
		t.Fatalf("load the plain chart: %v", err)
	}
	charts := newFakeCharts(nil)
	charts.chart = plain
	h := newHelmMemory()
	return startRunner(t, charts, append([]func(*Options){h.use}, opts...)...), h, charts
}

// writingCalls are the calls that write, each on release name on behalf of owner.
func writingCalls(name string, owner *runnerv1.ReleaseOwner) map[string]call {
	return writingCallsOn(func() *runnerv1.ReleaseRef { return ownedRef(name, owner) })
}

// writingCallsOn are the calls that write, each on the release ref returns.
func writingCallsOn(ref func() *runnerv1.ReleaseRef) map[string]call {
	minute := timeout(time.Minute)
	return map[string]call{
		"install":       install(&runnerv1.InstallRequest{Release: ref(), Chart: chartRef("plain"), Timeout: minute}),
		"upgrade":       upgrade(&runnerv1.UpgradeRequest{Release: ref(), Chart: chartRef("plain"), Timeout: minute}),
		"rollback":      rollback(&runnerv1.RollbackRequest{Release: ref(), Revision: 1, Timeout: minute}),
		"uninstall":     uninstall(&runnerv1.UninstallRequest{Release: ref(), Timeout: minute}),
		"test":          runTests(&runnerv1.TestRequest{Release: ref(), Timeout: minute}),
		"unlock":        unlock(&runnerv1.UnlockRequest{Release: ref(), Revision: 2}),
		"correct drift": correctDrift(&runnerv1.CorrectDriftRequest{Release: ref(), Timeout: minute}),
	}
}

func requireOwner(t *testing.T, what string, got, want *runnerv1.ReleaseOwner) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("%s owner = %v, want %v", what, got, want)
	}
}

func TestOwnerIsRecordedAndReturned(t *testing.T) {
	r, _, charts := startMemoryRunner(t)
	minute := timeout(time.Minute)

	installed, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	charts.next(t)
	requireOwner(t, "Install state", installed.GetState().GetOwner(), ownerA)

	upgraded, err := r.client.Upgrade(callContext(t), &runnerv1.UpgradeRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute})
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	charts.next(t)
	requireOwner(t, "Upgrade state", upgraded.GetState().GetOwner(), ownerA)

	rolled, err := r.client.Rollback(callContext(t), &runnerv1.RollbackRequest{Release: ownedRef("web", ownerA), Revision: 1, Timeout: minute})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if s := rolled.GetState(); s.GetRevision() != 3 {
		t.Fatalf("revision after the rollback = %d, want 3", s.GetRevision())
	}
	requireOwner(t, "Rollback state", rolled.GetState().GetOwner(), ownerA)

	state, err := r.client.GetReleaseState(callContext(t), &runnerv1.GetReleaseStateRequest{Release: ownedRef("web", nil)})
	if err != nil {
		t.Fatalf("GetReleaseState: %v", err)
	}
	requireOwner(t, "GetReleaseState", state.GetState().GetOwner(), ownerA)

	t.Run("a release installed without an owner has none", func(t *testing.T) {
		resp, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{Release: ownedRef("cli", nil), Chart: chartRef("plain"), Timeout: minute})
		if err != nil {
			t.Fatalf("Install: %v", err)
		}
		charts.next(t)
		requireOwner(t, "Install state", resp.GetState().GetOwner(), nil)
	})
	t.Run("upgrading a release without an owner records the owner", func(t *testing.T) {
		resp, err := r.client.Upgrade(callContext(t), &runnerv1.UpgradeRequest{Release: ownedRef("cli", ownerB), Chart: chartRef("plain"), Timeout: minute})
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		charts.next(t)
		requireOwner(t, "Upgrade state", resp.GetState().GetOwner(), ownerB)
		state, err := r.client.GetReleaseState(callContext(t), &runnerv1.GetReleaseStateRequest{Release: ownedRef("cli", nil)})
		if err != nil {
			t.Fatalf("GetReleaseState: %v", err)
		}
		requireOwner(t, "GetReleaseState", state.GetState().GetOwner(), ownerB)
	})
}

func TestEveryWritingCallRefusesAReleaseOfAnotherOwner(t *testing.T) {
	r, h, charts := startMemoryRunner(t)
	minute := timeout(time.Minute)
	for _, c := range []call{
		install(&runnerv1.InstallRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute}),
		upgrade(&runnerv1.UpgradeRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute}),
	} {
		if err := c(callContext(t), r.client); err != nil {
			t.Fatalf("set-up: %v", err)
		}
		charts.next(t)
	}
	before := h.records(t, "web")
	if len(before) != 2 {
		t.Fatalf("set-up made %v, want 2 revisions", before)
	}
	message := "release apps/web is owned by HelmRelease team-a/web (uid " + ownerA.GetUid() + ")"

	for verb, c := range writingCalls("web", ownerB) {
		t.Run(verb+" for another HelmRelease is RELEASE_OWNED_BY_OTHER, writing nothing", func(t *testing.T) {
			requireStatus(t, c(callContext(t), r.client), codes.FailedPrecondition, failure.ReleaseOwnedByOther, message)
			charts.requireNoPull(t)
			if after := h.records(t, "web"); !reflect.DeepEqual(after, before) {
				t.Fatalf("release storage changed:\n%v\nwant\n%v", after, before)
			}
		})
	}
	t.Run("the owner itself is not refused", func(t *testing.T) {
		resp, err := r.client.Upgrade(callContext(t), &runnerv1.UpgradeRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute})
		if err != nil || !resp.GetOutcome().GetSucceeded() || resp.GetState().GetRevision() != 3 {
			t.Fatalf("Upgrade by the owner: %v, %v", err, resp)
		}
		charts.next(t)
	})
}

func TestInstallOverAnUninstalledReleaseChecksItsOwner(t *testing.T) {
	r, h, charts := startMemoryRunner(t)
	minute := timeout(time.Minute)
	if _, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute}); err != nil {
		t.Fatalf("Install: %v", err)
	}
	charts.next(t)
	if _, err := r.client.Uninstall(callContext(t), &runnerv1.UninstallRequest{Release: ownedRef("web", ownerA), KeepHistory: true, Timeout: minute}); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	before := h.records(t, "web")

	_, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{Release: ownedRef("web", ownerB), Chart: chartRef("plain"), Timeout: minute})
	requireStatus(t, err, codes.FailedPrecondition, failure.ReleaseOwnedByOther, "HelmRelease team-a/web")
	charts.requireNoPull(t)
	if after := h.records(t, "web"); !reflect.DeepEqual(after, before) {
		t.Fatalf("release storage changed:\n%v\nwant\n%v", after, before)
	}

	resp, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{Release: ownedRef("web", ownerA), Chart: chartRef("plain"), Timeout: minute})
	if err != nil {
		t.Fatalf("Install by the owner: %v", err)
	}
	charts.next(t)
	if resp.GetState().GetRevision() != 2 {
		t.Fatalf("revision = %d, want 2", resp.GetState().GetRevision())
	}
	requireOwner(t, "Install state", resp.GetState().GetOwner(), ownerA)
}

func TestOwnerValidation(t *testing.T) {
	r, _, charts := startMemoryRunner(t)
	tests := []struct {
		name    string
		owner   *runnerv1.ReleaseOwner
		mention string
	}{
		{"an owner without a uid", &runnerv1.ReleaseOwner{Namespace: "team-a", Name: "web"}, `owner uid ""`},
		{"an owner uid that is not a label value", &runnerv1.ReleaseOwner{Namespace: "team-a", Name: "web", Uid: "a b"}, `owner uid "a b"`},
		{"an owner without a namespace", &runnerv1.ReleaseOwner{Name: "web", Uid: "u-1"}, `owner namespace ""`},
		{"an owner without a name", &runnerv1.ReleaseOwner{Namespace: "team-a", Uid: "u-1"}, `owner name ""`},
		{"an owner name that is not a HelmRelease name", &runnerv1.ReleaseOwner{Namespace: "team-a", Name: "Web!", Uid: "u-1"}, `owner name "Web!"`},
	}
	for _, tt := range tests {
		for verb, c := range writingCalls("web", tt.owner) {
			t.Run(tt.name+" is refused by "+verb, func(t *testing.T) {
				requireStatus(t, c(callContext(t), r.client), codes.InvalidArgument, failure.InvalidArgument, tt.mention)
				charts.requireNoPull(t)
			})
		}
	}
	t.Run("a 64-character owner name is accepted and not recorded", func(t *testing.T) {
		long := &runnerv1.ReleaseOwner{Namespace: "team-a", Name: strings.Repeat("w", 64), Uid: "u-1"}
		resp, err := r.client.Install(context.Background(), &runnerv1.InstallRequest{Release: ownedRef("long", long), Chart: chartRef("plain"), Timeout: timeout(time.Minute)})
		if err != nil {
			t.Fatalf("Install: %v", err)
		}
		charts.next(t)
		requireOwner(t, "Install state", resp.GetState().GetOwner(), &runnerv1.ReleaseOwner{Namespace: "team-a", Uid: "u-1"})
	})
}
