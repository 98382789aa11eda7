package render

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"syscall"

	"k8s.io/client-go/util/flowcontrol"
)

// WorkerCommand is the runner's subcommand that runs RunWorker. It is internal: the runner
// starts it, nobody else should.
const WorkerCommand = "render-worker"

// The worker's Kubernetes client rate for `lookup`, shared by all of a render's lookups: a
// chart calling lookup in a loop must not load the API server on the runner's behalf.
const (
	lookupQPS   = 5
	lookupBurst = 10
)

// Exit codes of the worker when it wrote no response.
const (
	exitUsage  = 2
	exitFailed = 3
	// exitOverOutput: the rendered files are larger than --max-output-bytes.
	exitOverOutput = 4
)

// RunWorker is the render worker: it limits its own process (limitSelf), reads one request
// (wireRequest, JSON) from in, renders it as Helm's action would, and writes one wireResponse to
// out. A template error is a response, exit code 0; a worker that cannot render at all writes
// why to errOut and exits non-zero. When a limit is hit the Go runtime or the kernel ends the
// process; the runner tells which limit from how it ended.
//
// Flags: --memory-limit (bytes above the process's start-up address space), --cpu-seconds and
// --max-output-bytes (rendered files larger than this are not written: exit code 4).
func RunWorker(args []string, in io.Reader, out, errOut io.Writer) int {
	fs := flag.NewFlagSet(WorkerCommand, flag.ContinueOnError)
	fs.SetOutput(errOut)
	memory := fs.Int64("memory-limit", DefaultMemory, "bytes of address space the worker may add to what it has at start")
	cpuSeconds := fs.Uint64("cpu-seconds", uint64(DefaultTime.Seconds())+1, "CPU seconds after which the kernel kills the worker")
	maxOutput := fs.Int64("max-output-bytes", DefaultOutput, "largest rendered output written")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := limitSelf(*memory, *cpuSeconds); err != nil {
		fmt.Fprintln(errOut, "render-worker: set limits:", err)
		return exitFailed
	}
	resp, err := work(in)
	if err != nil {
		fmt.Fprintln(errOut, "render-worker:", err)
		return exitFailed
	}
	if n := rawSize(resp.Files); n > *maxOutput {
		// Not written at all: the runner would only read the first bytes and discard them.
		fmt.Fprintf(errOut, "render-worker: rendered files of %d bytes exceed %d\n", n, *maxOutput)
		return exitOverOutput
	}
	resp.PeakRSS, _ = procStatus("VmHWM:")
	if err := writeResponse(out, resp); err != nil {
		fmt.Fprintln(errOut, "render-worker: write response:", err)
		return exitFailed
	}
	return 0
}

// work decodes the request and renders it; a template error becomes the response's Error.
func work(in io.Reader) (wireResponse, error) {
	var req wireRequest
	if err := json.NewDecoder(bufio.NewReader(in)).Decode(&req); err != nil {
		return wireResponse{}, fmt.Errorf("read request: %w", err)
	}
	if req.Chart == nil || req.Chart.Metadata == nil {
		return wireResponse{}, errors.New("read request: no chart")
	}
	caps, err := capabilitiesFromWire(req.Capabilities)
	if err != nil {
		return wireResponse{}, fmt.Errorf("read request: %w", err)
	}
	cluster := clusterFromWire(req.Cluster)
	if cluster != nil {
		cluster.QPS, cluster.Burst = lookupQPS, lookupBurst
		cluster.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(lookupQPS, lookupBurst)
	}
	ch := chartFromWire(req.Chart)
	req.Chart = nil
	files, err := renderFiles(context.Background(), ch, Request{
		Values: req.Values, Release: req.Release, Capabilities: caps, Cluster: cluster,
	})
	var ce *ChartError
	if errors.As(err, &ce) {
		return wireResponse{Error: ce.Message}, nil
	}
	if err != nil {
		return wireResponse{}, err
	}
	return wireResponse{Files: files}, nil
}

// rawSize is the size of the files' names and contents, a lower bound of their JSON encoding.
func rawSize(files map[string]string) int64 {
	var n int64
	for name, content := range files {
		n += int64(len(name) + len(content))
	}
	return n
}

// writeResponse writes resp as JSON, one file at a time, so that the worker never holds a
// second copy of all its output.
func writeResponse(out io.Writer, resp wireResponse) error {
	w := bufio.NewWriterSize(out, 64<<10)
	if resp.Files == nil {
		if err := json.NewEncoder(w).Encode(resp); err != nil {
			return err
		}
		return w.Flush()
	}
	peak, err := json.Marshal(resp.PeakRSS)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(resp.Files))
	for name := range resp.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	_, _ = w.WriteString(`{"files":{`)
	for i, name := range names {
		if i > 0 {
			_ = w.WriteByte(',')
		}
		k, err := json.Marshal(name)
		if err != nil {
			return err
		}
		v, err := json.Marshal(resp.Files[name])
		if err != nil {
			return err
		}
		delete(resp.Files, name)
		_, _ = w.Write(k)
		_ = w.WriteByte(':')
		if _, err := w.Write(v); err != nil {
			return err
		}
	}
	_, _ = w.WriteString(`},"peakRSS":`)
	_, _ = w.Write(peak)
	_, _ = w.WriteString("}\n")
	return w.Flush()
}

// limitSelf bounds the worker before it reads anything:
//   - one P for Go code (GOMAXPROCS 1): a render is sequential, and the worker's CPU time
//     then tracks its wall time;
//   - RLIMIT_AS: the address space may grow by memory beyond what the process has mapped now
//     (the Go runtime reserves address space at start); past it allocations fail and the Go
//     runtime dies with "out of memory";
//   - the Go soft memory limit a little below it, so the collector works harder before that;
//   - a maximum goroutine stack of an eighth of memory, so an endless recursion dies with
//     "stack overflow" instead of growing its stack into the memory limit;
//   - RLIMIT_CPU as a backstop: the kernel kills the worker after cpuSeconds of CPU time
//     even if the runner could not;
//   - no core dumps, no files written, few descriptors;
//   - the highest OOM score, so that if the container runs out of memory the kernel kills a
//     render worker, not the runner.
func limitSelf(memory int64, cpuSeconds uint64) error {
	if memory < MinMemory {
		return fmt.Errorf("memory limit %d is below the minimum of %d", memory, MinMemory)
	}
	runtime.GOMAXPROCS(1)
	debug.SetMemoryLimit(memory / 8 * 7)
	debug.SetMaxStack(int(memory / 8))
	// Best effort: without /proc the score stays as it is.
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	start, err := procStatus("VmSize:")
	if err != nil {
		return err
	}
	for _, l := range []struct {
		resource int
		value    uint64
	}{
		{syscall.RLIMIT_AS, uint64(start + memory)},
		{syscall.RLIMIT_CPU, cpuSeconds},
		{syscall.RLIMIT_CORE, 0},
		{syscall.RLIMIT_FSIZE, 0},
		{syscall.RLIMIT_NOFILE, 64},
	} {
		if err := syscall.Setrlimit(l.resource, &syscall.Rlimit{Cur: l.value, Max: l.value}); err != nil {
			return fmt.Errorf("rlimit %d: %w", l.resource, err)
		}
	}
	return nil
}

// procStatus returns a size field of /proc/self/status ("VmSize:", "VmHWM:") in bytes.
func procStatus(field string) (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(field))
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}
