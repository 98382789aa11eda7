package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Worker is how to start the render worker: a program and its arguments, to which the limit
// flags are appended.
type Worker struct {
	Path string
	Args []string
}

// SelfWorker is the running binary's render-worker subcommand. It starts /proc/self/exe, the
// very binary of this process even if its file was replaced or removed since (an upgrade
// rolling out, a rebuild), and os.Executable() where there is no /proc.
func SelfWorker() (Worker, error) {
	path := "/proc/self/exe"
	if _, err := os.Stat(path); err != nil {
		if path, err = os.Executable(); err != nil {
			return Worker{}, fmt.Errorf("find the runner's binary: %w", err)
		}
	}
	return Worker{Path: path, Args: []string{WorkerCommand}}, nil
}

// stderrKept is how much of a worker's error output is kept to tell how it died (the Go
// runtime's fatal error comes first).
const stderrKept = 16 << 10

// Isolated renders each chart in a new worker process under Limits. It is safe for concurrent
// use.
type Isolated struct {
	worker Worker
	limits Limits
	slots  chan struct{}
	// peakRSS is the largest peak RSS a worker reported, in bytes.
	peakRSS atomic.Int64
	rec     Recorder
}

// Recorder is told how each render ended, for the runner's metrics (internal/metrics).
type Recorder interface {
	// RenderEnded: one Render call returned err (nil on success) after elapsed, the wait for a
	// render slot included.
	RenderEnded(elapsed time.Duration, err error)
}

// IsolatedOption changes an Isolated.
type IsolatedOption func(*Isolated)

// WithRecorder reports every render to rec (default: nowhere).
func WithRecorder(rec Recorder) IsolatedOption {
	return func(r *Isolated) { r.rec = rec }
}

// NewIsolated returns a renderer that starts worker for every render. Zero limits take the
// defaults.
func NewIsolated(worker Worker, limits Limits, opts ...IsolatedOption) (*Isolated, error) {
	l, err := limits.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Isolated{worker: worker, limits: l, slots: make(chan struct{}, l.Concurrency)}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Limits returns the limits in force (defaults filled in).
func (r *Isolated) Limits() Limits { return r.limits }

// PeakRSS is the largest peak resident set size, in bytes, that a worker of r reported when it
// answered (workers killed at a limit report nothing).
func (r *Isolated) PeakRSS() int64 { return r.peakRSS.Load() }

// Render renders req in a worker process and returns the rendered files by template path, as
// Helm's engine returns them.
//
// It waits for a free render slot until ctx ends (TIMEOUT or CANCELLED). The render then gets
// the least of the renderer's time limit, req.Timeout and the time left before ctx's deadline.
// A render that runs out of time, memory or output fails with RENDER_LIMIT_EXCEEDED and a
// message naming the limit; its worker is killed. A template error is a *ChartError with
// Helm's message. Nothing of the chart runs in the calling process.
func (r *Isolated) Render(ctx context.Context, req Request) (files map[string]string, err error) {
	if r.rec != nil {
		start := time.Now()
		defer func() { r.rec.RenderEnded(time.Since(start), err) }()
	}
	if req.Chart == nil || req.Chart.Metadata == nil {
		return nil, failure.New(failure.InvalidArgument, "no chart given")
	}
	name := chartID(req.Chart)
	input, err := encodeRequest(req)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "rendering chart %s", name)
	}
	release, err := r.acquire(ctx, name)
	if err != nil {
		return nil, err
	}
	defer release()
	limit := r.limits.Time
	if req.Timeout > 0 && req.Timeout < limit {
		limit = req.Timeout
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < limit {
		limit = time.Until(deadline)
	}
	if limit <= 0 {
		return nil, failure.New(failure.Timeout, "rendering chart %s: no time left before the operation's deadline", name)
	}
	return r.run(ctx, name, input, limit)
}

func encodeRequest(req Request) ([]byte, error) {
	cluster, err := clusterToWire(req.Cluster)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireRequest{
		Chart: chartToWire(req.Chart), Values: req.Values, Release: req.Release,
		Capabilities: capabilitiesToWire(req.Capabilities), Cluster: cluster,
	})
}

// acquire takes a render slot, waiting until ctx ends.
func (r *Isolated) acquire(ctx context.Context, name string) (func(), error) {
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, nil
	default:
	}
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, nil
	case <-ctx.Done():
		return nil, failure.Wrap(failure.ReasonOf(ctx.Err()), ctx.Err(),
			"rendering chart %s: all %d render slots stayed busy", name, cap(r.slots))
	}
}

// stopReason is why the runner killed a worker.
type stopReason int

const (
	notStopped stopReason = iota
	stoppedAtDeadline
	stoppedCancelled
	stoppedOverOutput
)

// run starts one worker, feeds it input and reads its response, killing it (its whole process
// group) at limit, when ctx is cancelled, or once it wrote more than the output limit.
func (r *Isolated) run(ctx context.Context, name string, input []byte, limit time.Duration) (map[string]string, error) {
	cpuSeconds := uint64(limit/time.Second) + 2
	args := append(append([]string(nil), r.worker.Args...),
		"--memory-limit="+strconv.FormatInt(r.limits.Memory, 10), "--cpu-seconds="+strconv.FormatUint(cpuSeconds, 10),
		"--max-output-bytes="+strconv.FormatInt(r.limits.Output, 10))
	cmd := exec.Command(r.worker.Path, args...)
	cmd.Env = workerEnv()
	cmd.Stdin = bytes.NewReader(input)
	stderr := &headBuffer{max: stderrKept}
	cmd.Stderr = stderr
	// Its own process group, so a kill reaches anything it started; killed with the runner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "rendering chart %s: start the render process", name)
	}
	if err := cmd.Start(); err != nil {
		return nil, failure.Wrap(failure.Internal, err, "rendering chart %s: start the render process", name)
	}

	var (
		mu     sync.Mutex
		reason = notStopped
	)
	stop := func(why stopReason) {
		mu.Lock()
		defer mu.Unlock()
		if reason == notStopped {
			reason = why
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	timer := time.AfterFunc(limit, func() { stop(stoppedAtDeadline) })
	defer timer.Stop()
	unwatch := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			stop(stoppedAtDeadline)
		} else {
			stop(stoppedCancelled)
		}
	})
	defer unwatch()

	out, readErr := io.ReadAll(io.LimitReader(stdout, r.limits.Output+1))
	if int64(len(out)) > r.limits.Output {
		stop(stoppedOverOutput)
		out = nil
	}
	waitErr := cmd.Wait()
	mu.Lock()
	why := reason
	mu.Unlock()

	if waitErr == nil && readErr == nil && why != stoppedOverOutput {
		if resp, err := decodeResponse(out); err == nil || isChartError(err) {
			r.notePeakRSS(resp.PeakRSS)
			return resp.Files, err
		}
	}
	switch why {
	case stoppedOverOutput:
		return nil, outputExceeded(name, r.limits.Output)
	case stoppedAtDeadline:
		return nil, timeExceeded(name, limit)
	case stoppedCancelled:
		return nil, failure.Wrap(failure.Cancelled, ctx.Err(), "rendering chart %s", name)
	}
	return nil, r.death(name, cmd.ProcessState, stderr.String(), limit, cpuSeconds)
}

// death tells which limit ended a worker the runner did not kill: the worker's own output
// check, the Go runtime's fatal error text for memory and stack, the kernel's kill for CPU time
// (or, with the highest OOM score, for the container's memory).
func (r *Isolated) death(name string, ps *os.ProcessState, stderr string, limit time.Duration, cpuSeconds uint64) error {
	switch {
	case ps.ExitCode() == exitOverOutput:
		return outputExceeded(name, r.limits.Output)
	case strings.Contains(stderr, "fatal error: stack overflow"), strings.Contains(stderr, "stack exceeds"):
		return recursionExceeded(name, r.limits.Memory)
	case strings.Contains(stderr, "out of memory"), strings.Contains(stderr, "errno=12"):
		return memoryExceeded(name, r.limits.Memory)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		used := ps.UserTime() + ps.SystemTime()
		if ws.Signal() == syscall.SIGXCPU || used >= time.Duration(cpuSeconds)*time.Second-time.Second {
			return timeExceeded(name, limit)
		}
		return killed(name, ws.Signal().String())
	}
	return failure.New(failure.Internal, "rendering chart %s: the render process failed (%s): %s",
		name, ps.String(), firstLine(stderr))
}

func (r *Isolated) notePeakRSS(n int64) {
	for {
		old := r.peakRSS.Load()
		if n <= old || r.peakRSS.CompareAndSwap(old, n) {
			return
		}
	}
}

// decodeResponse reads a worker's answer; a template error is a *ChartError.
func decodeResponse(out []byte) (wireResponse, error) {
	var resp wireResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return wireResponse{}, errNoWorkerResponse
	}
	if resp.Error != "" {
		return wireResponse{PeakRSS: resp.PeakRSS}, &ChartError{Message: resp.Error}
	}
	if resp.Files == nil {
		resp.Files = map[string]string{}
	}
	return resp, nil
}

func isChartError(err error) bool {
	var ce *ChartError
	return errors.As(err, &ce)
}

// workerEnv is the worker's whole environment: none of the runner's, except proxy settings
// (lookups go where the runner's own requests go).
func workerEnv() []string {
	env := []string{"GOMAXPROCS=1", "GOTRACEBACK=none"}
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// headBuffer keeps the first max bytes written to it and discards the rest.
type headBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *headBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
