package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/drift"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

// testSecret is a value from a Secret with characters that Go quoting and JSON escape, so that
// an API server's `Invalid value: "..."` quotes it differently from the raw value.
const testSecret = `s3cr3t "pa$$" <word>`

// leaks returns the forms of secret that text holds: raw, Go-quoted (as the API server quotes
// invalid values), JSON-escaped (as a JSON log line or object holds it) or base64 (a Secret's
// data).
func leaks(text, secret string) []string {
	jsonForm, _ := json.Marshal(secret)
	var found []string
	for name, form := range map[string]string{
		"raw":       secret,
		"Go-quoted": strings.Trim(strconv.Quote(secret), `"`),
		"JSON":      strings.Trim(string(jsonForm), `"`),
		"base64":    base64.StdEncoding.EncodeToString([]byte(secret)),
	} {
		if strings.Contains(text, form) {
			found = append(found, name)
		}
	}
	return found
}

func requireRedacted(t *testing.T, what, text string) {
	t.Helper()
	if l := leaks(text, testSecret); len(l) > 0 {
		t.Fatalf("%s holds the secret (%v): %s", what, l, text)
	}
	if !strings.Contains(text, redact.Marker) {
		t.Fatalf("%s = %q, want the secret's place marked %s", what, text, redact.Marker)
	}
}

// quotingChart renders a ConfigMap, or fails quoting .Values.secret when .Values.fail is set,
// and has a test hook.
func quotingChart() *chartv2.Chart {
	ch := &chartv2.Chart{
		Metadata: &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: "quoting", Version: "1.0.0"},
		Values:   map[string]any{},
	}
	for file, body := range map[string]string{
		"cm.yaml": `{{ if .Values.fail }}{{ fail .Values.secret }}{{ end }}apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-quoting
data:
  token: {{ .Values.secret | quote }}
`,
		"test.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-check
  annotations:
    helm.sh/hook: test
spec:
  containers: [{name: check, image: busybox}]
`,
	} {
		ch.Templates = append(ch.Templates, &chartcommon.File{Name: "templates/" + file, Data: []byte(body)})
	}
	return ch
}

func secretValues(t *testing.T, fail bool) *structpb.Struct {
	t.Helper()
	v, err := structpb.NewStruct(map[string]any{"secret": testSecret, "fail": fail})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func redactingRef(name string) *runnerv1.ReleaseRef {
	return &runnerv1.ReleaseRef{Name: name, Namespace: testNamespace, Redact: []string{testSecret, ""}}
}

func TestSecretsNeverLeaveTheRunner(t *testing.T) {
	charts := newFakeCharts(nil)
	charts.chart = quotingChart()
	h := newHelmMemory()
	var logs logBuffer
	r := startRunner(t, charts, h.use, logs.use)
	minute := timeout(time.Minute)

	t.Run("a chart that fails quoting a value is a status without it", func(t *testing.T) {
		_, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{
			Release: redactingRef("failing"), Chart: chartRef("quoting"), Values: secretValues(t, true), Timeout: minute,
		})
		charts.next(t)
		requireStatus(t, err, codes.FailedPrecondition, failure.RenderFailed, "execution error")
		requireRedacted(t, "status message", status.Convert(err).Message())
	})

	t.Run("an API rejection quoting a value is an outcome without it", func(t *testing.T) {
		// Helm's fake kube client builds no objects, so nothing is created: the rejection comes
		// from the wait that follows, after the pending revision was written.
		h.kube.WaitError = apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "rejected-quoting", field.ErrorList{
			field.Invalid(field.NewPath("metadata", "labels"), testSecret, "a valid label must be an empty string or consist of alphanumeric characters"),
		})
		defer func() { h.kube.WaitError = nil }()
		resp, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{
			Release: redactingRef("rejected"), Chart: chartRef("quoting"), Values: secretValues(t, false), Wait: true, Timeout: minute,
		})
		charts.next(t)
		if err != nil {
			t.Fatalf("Install: %v (a failure after the pending revision was written is an outcome)", err)
		}
		if o := resp.GetOutcome(); o.GetSucceeded() || !strings.Contains(o.GetMessage(), "Invalid value") {
			t.Fatalf("outcome = %v, want the API server's rejection", o)
		}
		requireRedacted(t, "outcome message", resp.GetOutcome().GetMessage())
		requireRedacted(t, "state description", resp.GetState().GetDescription())

		state, err := r.client.GetReleaseState(callContext(t), &runnerv1.GetReleaseStateRequest{Release: redactingRef("rejected"), HistoryLimit: 1})
		if err != nil {
			t.Fatalf("GetReleaseState: %v", err)
		}
		requireRedacted(t, "GetReleaseState description", state.GetState().GetDescription())
		requireRedacted(t, "history description", state.GetHistory()[0].GetDescription())
	})

	t.Run("a failing test quoting a value has results without it", func(t *testing.T) {
		if _, err := r.client.Install(callContext(t), &runnerv1.InstallRequest{
			Release: redactingRef("tested"), Chart: chartRef("quoting"), Values: secretValues(t, false), Timeout: minute,
		}); err != nil {
			t.Fatalf("Install: %v", err)
		}
		charts.next(t)
		h.kube.WatchUntilReadyError = errors.New("pod tested-check failed: wrong password " + strconv.Quote(testSecret))
		defer func() { h.kube.WatchUntilReadyError = nil }()
		resp, err := r.client.Test(callContext(t), &runnerv1.TestRequest{Release: redactingRef("tested"), Timeout: minute})
		if err != nil {
			t.Fatalf("Test: %v", err)
		}
		if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetPhase() != runnerv1.TestPhase_TEST_PHASE_FAILED {
			t.Fatalf("results = %v, want one failed test", resp.GetResults())
		}
		requireRedacted(t, "test info", resp.GetResults()[0].GetInfo())
		requireRedacted(t, "outcome message", resp.GetOutcome().GetMessage())
	})

	t.Run("the runner's log lines never hold it", func(t *testing.T) {
		out := logs.String()
		if l := leaks(out, testSecret); len(l) > 0 {
			t.Fatalf("logs hold the secret (%v):\n%s", l, out)
		}
		for _, want := range []string{`"op":"install"`, `"reason":"RENDER_FAILED"`, `"reason":"KUBERNETES_API_ERROR"`, redact.Marker} {
			if !strings.Contains(out, want) {
				t.Errorf("logs lack %s:\n%s", want, out)
			}
		}
	})
}

func TestEveryCallRedactsItsErrors(t *testing.T) {
	r, _, charts := startMemoryRunner(t)
	minute := timeout(time.Minute)
	// An invalid namespace that is also a secret: every call quotes it in its refusal.
	const ns = "Secret_NS"
	ref := func() *runnerv1.ReleaseRef {
		return &runnerv1.ReleaseRef{Name: "web", Namespace: ns, Redact: []string{ns}}
	}
	calls := writingCallsOn(ref)
	calls["get state"] = getState(&runnerv1.GetReleaseStateRequest{Release: ref()})
	calls["diff"] = diff(&runnerv1.DiffRequest{Release: ref(), Chart: chartRef("plain"), Timeout: minute})
	calls["detect drift"] = detectDrift(&runnerv1.DetectDriftRequest{Release: ref(), Timeout: minute})
	for verb, c := range calls {
		t.Run(verb, func(t *testing.T) {
			err := c(callContext(t), r.client)
			requireStatus(t, err, codes.InvalidArgument, failure.InvalidArgument, `namespace "[REDACTED]"`)
			if msg := status.Convert(err).Message(); strings.Contains(msg, ns) {
				t.Fatalf("message %q holds the secret", msg)
			}
			charts.requireNoPull(t)
		})
	}
}

func TestStatusDetailsAreRedacted(t *testing.T) {
	secrets := redact.New([]string{testSecret})
	st, err := status.New(codes.FailedPrecondition, "rejected "+testSecret).WithDetails(&errdetails.ErrorInfo{
		Reason: "KUBERNETES_API_ERROR", Domain: ErrorDomain, Metadata: map[string]string{"value": strconv.Quote(testSecret)},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := status.Convert(toStatus(secrets, st.Err()))
	requireRedacted(t, "message", got.Message())
	info := errorInfo(got)
	if info == nil || info.GetReason() != "KUBERNETES_API_ERROR" {
		t.Fatalf("details = %v, want the ErrorInfo kept", got.Details())
	}
	requireRedacted(t, "ErrorInfo metadata", info.GetMetadata()["value"])
}

func TestDriftReportsAreRedacted(t *testing.T) {
	secrets := redact.New([]string{testSecret})
	quoted, _ := json.Marshal(testSecret)
	d := objectDiffOf(secrets, drift.ObjectDiff{
		Object: drift.Object{APIVersion: "v1", Kind: "ConfigMap", Namespace: testNamespace, Name: "web"}, Change: drift.Update,
		Fields: []drift.FieldDiff{{Path: "/data/token", Desired: string(quoted), Live: `"old-` + testSecret + `"`}},
	})
	f := d.GetFields()[0]
	requireRedacted(t, "desired", f.GetDesired())
	requireRedacted(t, "live", f.GetLive())
	if f.GetDesired() != `"[REDACTED]"` || f.GetPath() != "/data/token" || d.GetName() != "web" {
		t.Fatalf("diff = %v, want only the values redacted", d)
	}
}
