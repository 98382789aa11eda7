//go:build integration

package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

// releaseSecretLabels are the labels of the Secret in which Helm stores revision rev of release
// web; nil when there is no such Secret.
func (r *liveRunner) releaseSecretLabels(t *testing.T, rev string) map[string]string {
	t.Helper()
	s, err := r.kube.CoreV1().Secrets(r.namespace).Get(r.ctx(t), "sh.helm.release.v1."+releaseName+".v"+rev, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get the release Secret of revision %s: %v", rev, err)
	}
	return s.Labels
}

func requireOwnerLabels(t *testing.T, rev string, labels map[string]string, want *runnerv1.ReleaseOwner) {
	t.Helper()
	if labels[action.OwnerUIDLabel] != want.GetUid() || labels[action.OwnerNamespaceLabel] != want.GetNamespace() ||
		labels[action.OwnerNameLabel] != want.GetName() {
		t.Fatalf("release Secret of revision %s has labels %v, want owner %v", rev, labels, want)
	}
}

func (r *liveRunner) ownedRelease(owner *runnerv1.ReleaseOwner) *runnerv1.ReleaseRef {
	ref := r.release(releaseName)
	ref.Owner = owner
	return ref
}

func TestLiveOwnerIsRecordedOnTheReleaseSecret(t *testing.T) {
	t.Parallel()
	r := startLiveRunner(t)
	limit := timeout(liveTimeout)

	// As the Helm CLI would: a release that records no owner.
	r.install(t, releaseName, "plain", "1.0.0", nil)
	if labels := r.releaseSecretLabels(t, "1"); labels == nil || labels[action.OwnerUIDLabel] != "" {
		t.Fatalf("revision 1 Secret labels = %v, want no owner", labels)
	}

	t.Run("an upgrade for a HelmRelease records it on the Secret, and the state reads it back", func(t *testing.T) {
		resp, err := r.client.Upgrade(r.ctx(t), &runnerv1.UpgradeRequest{
			Release: r.ownedRelease(ownerA), Chart: r.ociChart("plain", "1.1.0"), Timeout: limit,
		})
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		requireSucceeded(t, "Upgrade", resp.GetOutcome())
		requireOwnerLabels(t, "2", r.releaseSecretLabels(t, "2"), ownerA)
		requireOwner(t, "GetReleaseState", r.state(t, releaseName, 0).GetState().GetOwner(), ownerA)
	})
	t.Run("a rollback to the revision without an owner keeps the owner", func(t *testing.T) {
		resp, err := r.client.Rollback(r.ctx(t), &runnerv1.RollbackRequest{Release: r.ownedRelease(ownerA), Revision: 1, Timeout: limit})
		if err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		requireSucceeded(t, "Rollback", resp.GetOutcome())
		requireState(t, resp.GetState(), 3, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
		requireOwnerLabels(t, "3", r.releaseSecretLabels(t, "3"), ownerA)
		if labels := r.releaseSecretLabels(t, "1"); labels[action.OwnerUIDLabel] != "" {
			t.Fatalf("revision 1 Secret labels = %v after the rollback, want still no owner", labels)
		}
		requireOwner(t, "GetReleaseState", r.state(t, releaseName, 0).GetState().GetOwner(), ownerA)
	})
	t.Run("another HelmRelease is refused and nothing is written", func(t *testing.T) {
		for _, c := range []call{
			upgrade(&runnerv1.UpgradeRequest{Release: r.ownedRelease(ownerB), Chart: r.ociChart("plain", "1.1.0"), Timeout: limit}),
			uninstall(&runnerv1.UninstallRequest{Release: r.ownedRelease(ownerB), Timeout: limit}),
		} {
			requireStatus(t, c(r.ctx(t), r.client), codes.FailedPrecondition, failure.ReleaseOwnedByOther,
				"release "+r.namespace+"/web is owned by HelmRelease team-a/web (uid "+ownerA.GetUid()+")")
		}
		requireState(t, r.state(t, releaseName, 0).GetState(), 3, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
		if labels := r.releaseSecretLabels(t, "4"); labels != nil {
			t.Fatalf("a refused call wrote revision 4: %v", labels)
		}
		if data := r.configMapData(t, "web-plain"); data == nil {
			t.Fatal("a refused uninstall deleted the release's ConfigMap")
		}
	})
}

func TestLiveAPIRejectionQuotingASecretIsRedacted(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	r := startLiveRunner(t, logs.use)
	// Not a valid label value: the API server rejects the objects, quoting it (%q).
	values, err := structpb.NewStruct(map[string]any{"labels": map[string]any{"team": testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ref := r.release(releaseName)
	ref.Redact = []string{testSecret}

	resp, err := r.client.Install(r.ctx(t), &runnerv1.InstallRequest{
		Release: ref, Chart: r.ociChart("plain", "1.0.0"), Values: values, Timeout: timeout(liveTimeout),
	})
	if err != nil {
		t.Fatalf("Install: %v (a rejection after the pending revision was written is an outcome)", err)
	}
	o := resp.GetOutcome()
	if o.GetSucceeded() || !strings.Contains(o.GetMessage(), "Invalid value") {
		t.Fatalf("outcome = %v, want the API server's rejection", o)
	}
	requireRedacted(t, "outcome message", o.GetMessage())
	t.Logf("outcome message: %s", o.GetMessage())
	requireRedacted(t, "state description", resp.GetState().GetDescription())

	state, err := r.client.GetReleaseState(r.ctx(t), &runnerv1.GetReleaseStateRequest{Release: ref})
	if err != nil {
		t.Fatalf("GetReleaseState: %v", err)
	}
	requireRedacted(t, "GetReleaseState description", state.GetState().GetDescription())

	t.Run("a call without the redaction list would have quoted it", func(t *testing.T) {
		// The same release read without naming the secret: proves the API server's message
		// really carried it, so the redaction above removed something.
		plain, err := r.client.GetReleaseState(r.ctx(t), &runnerv1.GetReleaseStateRequest{Release: r.release(releaseName)})
		if err != nil {
			t.Fatalf("GetReleaseState: %v", err)
		}
		if l := leaks(plain.GetState().GetDescription(), testSecret); len(l) == 0 {
			t.Fatalf("description %q does not quote the value: the test proves nothing", plain.GetState().GetDescription())
		}
	})
	t.Run("the runner's log lines never hold it", func(t *testing.T) {
		out := logs.String()
		if l := leaks(out, testSecret); len(l) > 0 {
			t.Fatalf("logs hold the secret (%v):\n%s", l, out)
		}
		if !strings.Contains(out, redact.Marker) {
			t.Fatalf("logs never mention the failure's detail:\n%s", out)
		}
	})
}
