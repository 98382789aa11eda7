package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestClassify(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "deployments"}, "app", errors.New("no RBAC"))
	tests := []struct {
		name string
		err  error
		want failure.Reason
	}{
		{"a failure keeps its reason", failure.New(failure.InvalidChart, "bad"), failure.InvalidChart},
		{"a schema violation", errors.New("values don't meet the specifications of the schema(s) in the following chart(s):\nschema:\n- at '/replicaCount': maximum: got 11, want 10"), failure.SchemaValidationFailed},
		{"a template error", errors.New(`template: plain/templates/cm.yaml:4:11: executing "plain/templates/cm.yaml" at <.Values.x.y>: nil pointer evaluating interface {}.y`), failure.RenderFailed},
		{"a fail call in a template", errors.New("execution error at (testable/templates/test.yaml:3:4): testKind must be Job or Pod"), failure.RenderFailed},
		{"a parse error", errors.New("parse error at (plain/templates/cm.yaml:3): unexpected EOF"), failure.RenderFailed},
		{"a manifest that is not YAML", errors.New("YAML parse error on plain/templates/cm.yaml: error converting YAML to JSON"), failure.RenderFailed},
		{"a wait deadline", fmt.Errorf("resource Deployment/a/b not ready. status: InProgress\n%w", context.DeadlineExceeded), failure.Timeout},
		{"a deadline only in the text", errors.New(`release app failed: context deadline exceeded`), failure.Timeout},
		{"a cancellation", fmt.Errorf("wait: %w", context.Canceled), failure.Cancelled},
		{"a failed pre-install hook", errors.New("failed pre-install: resource Job/a/app-hooks-pre not ready. status: Failed"), failure.HookFailed},
		{"a failed pre-upgrade hook rolled back", errors.New("release app failed, and has been rolled back due to rollback-on-failure being set: pre-upgrade hooks failed: job failed"), failure.HookFailed},
		{"a hook that could not be created", errors.New("warning: Hook pre-delete app/templates/job.yaml failed: boom"), failure.HookFailed},
		{"RBAC forbade a request", fmt.Errorf("create: %w", forbidden), failure.Forbidden},
		{"RBAC forbade a request, text only", errors.New(`deployments.apps "x" is forbidden: User "system:serviceaccount:a:b" cannot create resource`), failure.Forbidden},
		{"a pending release", errors.New("another operation (install/upgrade/rollback) is in progress"), failure.ReleaseLocked},
		{"a release Secret over the size limit", errors.New(`create: failed to create: Secret "sh.helm.release.v1.app.v1" is invalid: data: Too long: may not be more than 1048576 bytes`), failure.ReleaseTooLarge},
		{"an etcd request over the size limit", errors.New("etcdserver: request is too large"), failure.ReleaseTooLarge},
		{"no deployed release", driver.NewErrNoDeployedReleases("app"), failure.ReleaseNotFound},
		{"no such release", fmt.Errorf("query: %w", driver.ErrReleaseNotFound), failure.ReleaseNotFound},
		{"a name still in use", errors.New("release name check failed: cannot reuse a name that is still in use"), failure.ReleaseExists},
		{"no such revision", errors.New("release has no 7 version"), failure.RevisionNotFound},
		{"a server-side apply conflict", errors.New(`Apply failed with 1 conflict: conflict with "kubectl-edit": .spec.replicas`), failure.Conflict},
		{"an object owned by another release", errors.New(`unable to continue with install: ConfigMap "x" in namespace "a" exists and cannot be imported into the current release`), failure.Conflict},
		{"an incompatible kube version", errors.New("chart requires kubeVersion: <1.20 which is incompatible with Kubernetes v1.36.3"), failure.InvalidChart},
		{"anything else is a Kubernetes API error", errors.New("connection refused"), failure.KubernetesAPIError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Fatalf("classify(%q) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
	if classify(nil) != "" {
		t.Fatal("nil has a reason")
	}
}

func TestSchemaMessageNamesPathsWithoutValues(t *testing.T) {
	helmText := "values don't meet the specifications of the schema(s) in the following chart(s):\nschema:\n" +
		"- at '': missing property 'mode'\n" +
		"- at '/replicaCount': maximum: got 11, want 10\n" +
		"- at '/token': 'hunter2secret' does not match pattern '^x'\n" +
		"- at '/mode': got number, want string\n" +
		"- at '/tier': value must be one of 'a', 'b'\n"
	got := asFailure(errors.New(helmText))
	if got.Reason != failure.SchemaValidationFailed {
		t.Fatalf("reason = %s", got.Reason)
	}
	msg := got.Error()
	for _, want := range []string{"at '/': missing property 'mode'", "at '/replicaCount': maximum", "at '/token'", "at '/mode': got number, want string", "at '/tier': value must be one of 'a', 'b'"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	for _, leaked := range []string{"11", "hunter2secret"} {
		if strings.Contains(msg, leaked) {
			t.Errorf("message %q quotes the value %q", msg, leaked)
		}
	}
}

func TestLogsNeverCarryValues(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redactingHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	log.With("values", map[string]any{"password": "p1"}).Warn("upgrade failed",
		"name", "app",
		"error", errors.New("values don't meet the specifications of the schema: - at '/password': got 'p2'"),
		slog.Group("release", "config", map[string]any{"password": "p3"}),
		"extra", map[string]any{"password": "p4"})
	out := buf.String()
	for _, leaked := range []string{"p1", "p2", "p3", "p4"} {
		if strings.Contains(out, leaked) {
			t.Errorf("log %q contains %q", out, leaked)
		}
	}
	if !strings.Contains(out, "name=app") || !strings.Contains(out, string(failure.SchemaValidationFailed)) {
		t.Errorf("log %q lost its safe content", out)
	}
}
