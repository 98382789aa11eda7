//go:build integration

package drift

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

func TestDetectNoDriftRightAfterInstall(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "nodrift")
	manifest := installPlain(t, env, ns, "1.0.0")

	report, err := Detect(testContext(t), c, Release{Name: "r", Namespace: ns}, manifest, nil)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if report.ObjectsChecked != 3 || len(report.Drifted) != 0 {
		t.Fatalf("report = %+v, want 3 objects checked and none drifted", report)
	}
}

func TestDetectScaledDeployment(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "scaled")
	manifest := installPlain(t, env, ns, "1.0.0")
	kubectl(t, env, "-n", ns, "scale", "deployment/r-plain", "--replicas=3")
	rel := Release{Name: "r", Namespace: ns}

	t.Run("replicas drift is reported", func(t *testing.T) {
		report, err := Detect(testContext(t), c, rel, manifest, nil)
		if err != nil {
			t.Fatalf("Detect: %v", err)
		}
		if len(report.Drifted) != 1 {
			t.Fatalf("drifted = %+v, want only the Deployment", report.Drifted)
		}
		d := report.Drifted[0]
		if d.Kind != "Deployment" || d.Name != "r-plain" || d.Namespace != ns || d.Change != Update {
			t.Fatalf("drift = %+v, want an Update of Deployment %s/r-plain", d.Object, ns)
		}
		want := []FieldDiff{{Path: "/spec/replicas", Desired: "1", Live: "3"}}
		if fmt.Sprint(d.Fields) != fmt.Sprint(want) {
			t.Fatalf("fields = %+v, want %+v", d.Fields, want)
		}
	})
	t.Run("an ignore rule for Deployment replicas hides it", func(t *testing.T) {
		ignore := []IgnoreRule{{Kind: "Deployment", Paths: []string{"/spec/replicas"}}}
		report, err := Detect(testContext(t), c, rel, manifest, ignore)
		if err != nil {
			t.Fatalf("Detect: %v", err)
		}
		if report.ObjectsChecked != 3 || len(report.Drifted) != 0 {
			t.Fatalf("report = %+v, want 3 checked, none drifted", report)
		}
	})
	t.Run("an ignore rule selecting another kind does not", func(t *testing.T) {
		ignore := []IgnoreRule{{Kind: "Service", Paths: []string{"/spec/replicas"}}}
		report, err := Detect(testContext(t), c, rel, manifest, ignore)
		if err != nil {
			t.Fatalf("Detect: %v", err)
		}
		if len(report.Drifted) != 1 {
			t.Fatalf("drifted = %+v, want the Deployment", report.Drifted)
		}
	})
}

func TestDetectEditedConfigMap(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "edited")
	manifest := installPlain(t, env, ns, "1.0.0")
	kubectl(t, env, "-n", ns, "patch", "configmap", "r-plain", "--type=merge", "-p", `{"data":{"message":"edited"}}`)

	report, err := Detect(testContext(t), c, Release{Name: "r", Namespace: ns}, manifest, nil)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if len(report.Drifted) != 1 {
		t.Fatalf("drifted = %+v, want only the ConfigMap", report.Drifted)
	}
	f := findField(t, findDiff(t, report.Drifted, "ConfigMap"), "/data/message")
	if f.Desired != `"hello"` || f.Live != `"edited"` || f.Redacted {
		t.Fatalf("field = %+v, want desired \"hello\", live \"edited\"", f)
	}
}

func TestDetectDeletedService(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "deleted")
	manifest := installPlain(t, env, ns, "1.0.0")
	kubectl(t, env, "-n", ns, "delete", "service", "r-plain", "--wait")

	report, err := Detect(testContext(t), c, Release{Name: "r", Namespace: ns}, manifest, nil)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if len(report.Drifted) != 1 || report.Drifted[0].Kind != "Service" || report.Drifted[0].Change != Create {
		t.Fatalf("drifted = %+v, want a Create of the Service", report.Drifted)
	}
}

func TestDetectRedactsSecretDrift(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := newCluster(t, env, "")
	ns := namespace(t, c, "secret")
	rel := Release{Name: "r", Namespace: ns}
	manifest := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\nstringData:\n  password: s3cr3t-desired\n"
	applyAsHelm(t, c, rel, manifest)
	kubectl(t, env, "-n", ns, "patch", "secret", "creds", "--type=merge", "-p", `{"stringData":{"password":"s3cr3t-live"}}`)

	report, err := Detect(testContext(t), c, rel, manifest, nil)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	f := findField(t, findDiff(t, report.Drifted, "Secret"), "/data/password")
	if !f.Redacted || f.Desired != "" || f.Live != "" {
		t.Fatalf("field = %+v, want redacted with no values", f)
	}
	text := fmt.Sprintf("%+v", report)
	for _, secret := range []string{"s3cr3t", "czNjcjN0"} { // plaintext and base64 prefix
		if strings.Contains(text, secret) {
			t.Fatalf("report leaks the secret: %s", text)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	admin := newCluster(t, env, "")
	ns := namespace(t, admin, "errors")
	rel := Release{Name: "r", Namespace: ns}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n"
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	tests := []struct {
		name     string
		ctx      context.Context
		cluster  testCluster
		manifest string
		want     failure.Reason
		mention  string
	}{
		{"a kind the cluster does not serve", testContext(t), admin, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", failure.KubernetesAPIError, "Widget"},
		{"an identity without RBAC is forbidden", testContext(t), newCluster(t, env, "system:serviceaccount:"+ns+":nobody"), cm, failure.Forbidden, "ConfigMap"},
		{"an expired deadline is a timeout", expired, admin, cm, failure.Timeout, ""},
		{"an unparsable stored manifest is internal", testContext(t), admin, "kind: [", failure.Internal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Detect(tt.ctx, tt.cluster, rel, tt.manifest, nil)
			if got := failure.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (err %v), want %q", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not name %q", err, tt.mention)
			}
		})
	}
}
