// Command helm-runner is the controller's Helm sidecar: it serves the HelmRunnerService
// (proto/planton/helmrunner/v1) on a unix socket and performs one Helm operation per call
// through the Helm SDK. It decides nothing; the reconciler does.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/render"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/server"
)

func main() {
	// The runner starts this binary as its own render worker (internal/render).
	if len(os.Args) > 1 && os.Args[1] == render.WorkerCommand {
		os.Exit(render.RunWorker(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helm-runner:", err)
		os.Exit(1)
	}
}

// newLogger returns the runner's JSON logger on w. Attributes whose keys look secret are
// redacted whatever logs them, as a safety net under the per-call redaction of named secrets. A
// line logged with a call's context names the call (server.LogHandler).
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(server.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: redact.ReplaceSecretKeys}))), nil
}
