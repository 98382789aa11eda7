//go:build integration

package drift

import (
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

func TestCorrectRestoresDriftedObjects(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "correct")
	manifest := installPlain(t, env, ns, "1.0.0")
	rel := Release{Name: "r", Namespace: ns}
	kubectl(t, env, "-n", ns, "scale", "deployment/r-plain", "--replicas=3")
	kubectl(t, env, "-n", ns, "patch", "configmap", "r-plain", "--type=merge", "-p", `{"data":{"message":"edited"}}`)
	kubectl(t, env, "-n", ns, "delete", "service", "r-plain", "--wait")

	report, err := Correct(testContext(t), c, rel, manifest, nil, true)
	if err != nil {
		t.Fatalf("Correct: %v", err)
	}
	if report.ObjectsChecked != 3 || len(report.Objects) != 3 || !report.AllCorrected() {
		t.Fatalf("report = %+v, want 3 checked and 3 corrected", report)
	}
	changes := map[string]Change{}
	for _, o := range report.Objects {
		changes[o.Drift.Kind] = o.Drift.Change
	}
	if changes["Deployment"] != Update || changes["ConfigMap"] != Update || changes["Service"] != Create {
		t.Fatalf("drift corrected = %v, want Deployment and ConfigMap updated, Service created", changes)
	}

	if got, _, _ := unstructured.NestedInt64(get(t, c, deployments, ns, "r-plain").Object, "spec", "replicas"); got != 1 {
		t.Errorf("replicas after Correct = %d, want 1", got)
	}
	cm := get(t, c, configMaps, ns, "r-plain")
	if got := cm.Object["data"].(map[string]any)["message"]; got != "hello" {
		t.Errorf("message after Correct = %v, want hello", got)
	}
	for _, mf := range cm.GetManagedFields() {
		if mf.Operation == metav1.ManagedFieldsOperationApply && mf.Manager != "helm" {
			t.Errorf("ConfigMap has a second apply owner %q besides helm's install", mf.Manager)
		}
	}
	svc := get(t, c, services, ns, "r-plain")
	if svc.GetAnnotations()[releaseNameAnnotation] != "r" || svc.GetLabels()[managedByLabel] != managedByHelm {
		t.Errorf("recreated Service lacks Helm's ownership metadata: %v %v", svc.GetAnnotations(), svc.GetLabels())
	}

	again, err := Detect(testContext(t), c, rel, manifest, nil)
	if err != nil {
		t.Fatalf("Detect after Correct: %v", err)
	}
	if len(again.Drifted) != 0 {
		t.Fatalf("drift after Correct = %+v, want none", again.Drifted)
	}
	// Helm refuses to upgrade over objects without its ownership metadata; this proves the
	// recreated Service is still the release's.
	run(t, env, env.Helm(), "upgrade", "r", env.OCIRepo()+"/plain", "--version", "1.1.0", "--plain-http", "-n", ns, "--wait", "--timeout", "90s")
}

func TestCorrectWithoutForceReportsConflicts(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "conflict")
	manifest := installPlain(t, env, ns, "1.0.0")
	rel := Release{Name: "r", Namespace: ns}
	// A server-side apply by another manager takes ownership of the field it changes.
	kubectl(t, env, "-n", ns, "patch", "configmap", "r-plain", "--type=merge", "--field-manager=someone", "-p", `{"data":{"message":"theirs"}}`)
	kubectl(t, env, "-n", ns, "delete", "service", "r-plain", "--wait")

	report, err := Correct(testContext(t), c, rel, manifest, nil, false)
	if err != nil {
		t.Fatalf("Correct: %v", err)
	}
	results := map[string]CorrectedObject{}
	for _, o := range report.Objects {
		results[o.Drift.Kind] = o
	}
	cm := results["ConfigMap"]
	if cm.Corrected || failure.ReasonOf(cm.Err) != failure.Conflict {
		t.Errorf("ConfigMap = %+v, want not corrected with reason CONFLICT", cm)
	}
	if got := get(t, c, configMaps, ns, "r-plain").Object["data"].(map[string]any)["message"]; got != "theirs" {
		t.Errorf("message = %v, want the other manager's value kept", got)
	}
	if svc := results["Service"]; !svc.Corrected {
		t.Errorf("Service = %+v, want recreated: one object's failure must not stop the others", svc)
	}
	if _, err := c.dyn.Resource(services).Namespace(ns).Get(testContext(t), "r-plain", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Errorf("Service was not recreated")
	}
	if report.AllCorrected() {
		t.Errorf("AllCorrected() = true with a conflict")
	}
}
