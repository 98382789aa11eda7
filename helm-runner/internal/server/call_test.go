package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

const testReconcileID = "3f9a0c1d2e4b5a6f"

func TestReconcileIDOf(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"the reconciler's 16 hex characters are taken", []string{testReconcileID}, testReconcileID},
		{"letters, digits and dashes up to 64 are taken", []string{strings.Repeat("aZ9-", 16)}, strings.Repeat("aZ9-", 16)},
		{"65 characters are ignored", []string{strings.Repeat("a", 65)}, ""},
		{"a space is ignored", []string{"abc def"}, ""},
		{"a quote and a newline are ignored", []string{"x\"\n{\"level\":\"ERROR\"}"}, ""},
		{"non-ASCII letters are ignored", []string{"réconcile"}, ""},
		{"an underscore is ignored", []string{"a_b"}, ""},
		{"an empty value is none", []string{""}, ""},
		{"no metadata is none", nil, ""},
		{"of several values the first is taken", []string{"first-1", "second-2"}, "first-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := metadata.MD{}
			if tt.values != nil {
				md[ReconcileIDMetadata] = tt.values
			}
			if got := reconcileIDOf(metadata.NewIncomingContext(context.Background(), md)); got != tt.want {
				t.Fatalf("reconcileIDOf(%q) = %q, want %q", tt.values, got, tt.want)
			}
		})
	}
}

// logLines parses JSON log lines.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// useCallLogs makes a runner log into logs at debug level, through LogHandler as the runner's
// process does.
func useCallLogs(logs *logBuffer) func(*Options) {
	return func(o *Options) {
		o.Log = slog.New(LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
}

func TestEveryLogLineOfACallNamesTheCallAndItsReconcile(t *testing.T) {
	var logs logBuffer
	r, h, charts := startMemoryRunner(t, useCallLogs(&logs))
	withID := metadata.AppendToOutgoingContext(callContext(t), ReconcileIDMetadata, testReconcileID)
	minute := timeout(time.Minute)

	if _, err := r.client.Install(withID, &runnerv1.InstallRequest{
		Release: ownedRef("web", nil), Chart: chartRef("plain"), Timeout: minute,
	}); err != nil {
		t.Fatalf("Install: %v", err)
	}
	charts.next(t)
	installLines := logLines(t, logs.String())
	var helmLines int
	for _, l := range installLines {
		if l[reconcileIDKey] != testReconcileID || l[grpcMethodKey] != runnerv1.HelmRunnerService_Install_FullMethodName {
			t.Errorf("a line of the install lacks its reconcile or method: %v", l)
		}
		if !strings.HasPrefix(l["msg"].(string), "operation ") {
			helmLines++
		}
	}
	if len(installLines) < 3 || helmLines == 0 {
		t.Fatalf("the install logged %d lines, %d of them Helm's; want the runner's and Helm's:\n%s", len(installLines), helmLines, logs.String())
	}

	h.kube.WaitError = errors.New("resource ConfigMap/apps/web-plain not ready")
	defer func() { h.kube.WaitError = nil }()
	if resp, err := r.client.Upgrade(withID, &runnerv1.UpgradeRequest{
		Release: ownedRef("web", nil), Chart: chartRef("plain"), Wait: true, Timeout: minute,
	}); err != nil || resp.GetOutcome().GetSucceeded() {
		t.Fatalf("Upgrade = %v, %v; want a failed outcome", resp.GetOutcome(), err)
	}
	charts.next(t)
	upgradeLines := logLines(t, logs.String())[len(installLines):]
	if !slices.ContainsFunc(upgradeLines, func(l map[string]any) bool { return l["msg"] == "operation failed" }) {
		t.Fatalf("no failure line for the upgrade:\n%s", logs.String())
	}
	for _, l := range upgradeLines {
		if l[reconcileIDKey] != testReconcileID || l[grpcMethodKey] != runnerv1.HelmRunnerService_Upgrade_FullMethodName {
			t.Errorf("a line of the upgrade lacks its reconcile or method: %v", l)
		}
	}

	before := len(logLines(t, logs.String()))
	withBadID := metadata.AppendToOutgoingContext(callContext(t), ReconcileIDMetadata, `x","level":"ERROR`)
	_, err := r.client.Install(withBadID, &runnerv1.InstallRequest{Release: ownedRef("web", nil), Chart: chartRef("plain"), Timeout: minute})
	charts.next(t)
	requireStatus(t, err, codes.AlreadyExists, failure.ReleaseExists)
	refused := logLines(t, logs.String())[before:]
	if len(refused) == 0 {
		t.Fatal("the refused install logged nothing")
	}
	for _, l := range refused {
		if _, ok := l[reconcileIDKey]; ok || l[grpcMethodKey] != runnerv1.HelmRunnerService_Install_FullMethodName {
			t.Errorf("a line of a call with an invalid reconcile ID: %v; want its method and no reconcile ID", l)
		}
	}
}

func TestLogHandlerNamesTheCallOfTheContextOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := withCall(context.Background(), callID{method: "/svc/Install", reconcileID: testReconcileID})

	log.InfoContext(ctx, "chart cache write failed")
	log.With(callAttrs(ctx)...).With("op", "install").InfoContext(ctx, "from a call's logger")
	log.WithGroup("helm").InfoContext(context.Background(), "outside any call")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`"msg":"chart cache write failed","grpcMethod":"/svc/Install","reconcileID":"3f9a0c1d2e4b5a6f"}`,
		`"msg":"from a call's logger","grpcMethod":"/svc/Install","reconcileID":"3f9a0c1d2e4b5a6f","op":"install"}`,
		`"msg":"outside any call"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %s, want it to end %s", i, lines[i], w)
		}
	}
}

// operations records what the server reports, as "verb outcome", and the most operations that
// were in flight at once.
type operations struct {
	mu       sync.Mutex
	ended    []string
	inFlight int
	most     int
}

func (o *operations) OperationStarted(verb string) func(string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inFlight++
	o.most = max(o.most, o.inFlight)
	return func(outcome string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.inFlight--
		o.ended = append(o.ended, verb+" "+outcome)
	}
}

func (o *operations) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ended...)
}

func TestInterceptorRecordsEveryOperationByVerbAndOutcome(t *testing.T) {
	ops := &operations{}
	r, h, charts := startMemoryRunner(t, func(o *Options) { o.Metrics = ops })
	minute := timeout(time.Minute)
	ctx := callContext(t)

	if _, err := r.client.Install(ctx, &runnerv1.InstallRequest{Release: ownedRef("web", nil), Chart: chartRef("plain"), Timeout: minute}); err != nil {
		t.Fatal(err)
	}
	charts.next(t)
	if _, err := r.client.Install(ctx, &runnerv1.InstallRequest{Release: ownedRef("web", nil), Chart: chartRef("plain"), Timeout: minute}); err == nil {
		t.Fatal("a second install of the release succeeded")
	}
	charts.next(t)
	h.kube.WaitError = errors.New("resource ConfigMap/apps/web-plain not ready")
	if _, err := r.client.Upgrade(ctx, &runnerv1.UpgradeRequest{Release: ownedRef("web", nil), Chart: chartRef("plain"), Wait: true, Timeout: minute}); err != nil {
		t.Fatal(err)
	}
	h.kube.WaitError = nil
	charts.next(t)
	if _, err := r.client.GetReleaseState(ctx, &runnerv1.GetReleaseStateRequest{Release: ownedRef("web", nil)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Unlock(ctx, &runnerv1.UnlockRequest{Release: ownedRef("web", nil)}); err == nil {
		t.Fatal("an unlock without a revision succeeded")
	}

	want := []string{"install success", "install error", "upgrade failure", "get_release_state success", "unlock error"}
	if got := ops.all(); !slices.Equal(got, want) {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	if ops.most != 1 || ops.inFlight != 0 {
		t.Fatalf("in flight at most %d, %d at the end; want 1 and 0", ops.most, ops.inFlight)
	}
}

func TestEveryRPCHasAVerb(t *testing.T) {
	for _, m := range runnerv1.HelmRunnerService_ServiceDesc.Methods {
		full := "/" + runnerv1.HelmRunnerService_ServiceDesc.ServiceName + "/" + m.MethodName
		if verbs[full] == "" {
			t.Errorf("RPC %s has no verb: its operations would not be measured", full)
		}
	}
	if n := len(runnerv1.HelmRunnerService_ServiceDesc.Methods); len(Verbs()) != n {
		t.Errorf("%d verbs for %d RPCs", len(Verbs()), n)
	}
}
