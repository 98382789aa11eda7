package render

import (
	"fmt"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Limits bound one render and how many run at once. Zero fields take the defaults.
type Limits struct {
	// Memory bounds the render process's memory: its address space may grow this much beyond
	// what the process had mapped when it started (default 512 MiB).
	Memory int64
	// Time caps the wall-clock time of one render (default 60s); a render also ends at the
	// operation's timeout and at its context's deadline, whichever comes first.
	Time time.Duration
	// Output bounds the rendered files the runner reads back, as encoded (default 32 MiB).
	Output int64
	// Concurrency is how many render processes run at once (default 4); a render waits for a
	// free slot until its context ends.
	Concurrency int
}

// Default limits.
const (
	DefaultMemory      = 512 << 20
	DefaultTime        = 60 * time.Second
	DefaultOutput      = 32 << 20
	DefaultConcurrency = 4
)

// MinMemory is the least memory limit accepted: below it the worker cannot start Helm.
const MinMemory = 64 << 20

func (l Limits) withDefaults() (Limits, error) {
	if l.Memory < 0 || l.Time < 0 || l.Output < 0 || l.Concurrency < 0 {
		return l, failure.New(failure.InvalidArgument, "render limits must not be negative")
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemory
	}
	if l.Memory < MinMemory {
		return l, failure.New(failure.InvalidArgument, "render memory limit %s is below the minimum of %s", bytesText(l.Memory), bytesText(MinMemory))
	}
	if l.Time == 0 {
		l.Time = DefaultTime
	}
	if l.Output == 0 {
		l.Output = DefaultOutput
	}
	if l.Concurrency == 0 {
		l.Concurrency = DefaultConcurrency
	}
	return l, nil
}

// The RENDER_LIMIT_EXCEEDED failures, one per limit, each naming it.

func memoryExceeded(chartName string, limit int64) error {
	return failure.New(failure.RenderLimitExceeded,
		"rendering chart %s exceeded the render memory limit of %s", chartName, bytesText(limit))
}

func recursionExceeded(chartName string, limit int64) error {
	return failure.New(failure.RenderLimitExceeded,
		"rendering chart %s exceeded the render memory limit of %s: template recursion too deep", chartName, bytesText(limit))
}

func timeExceeded(chartName string, limit time.Duration) error {
	return failure.New(failure.RenderLimitExceeded,
		"rendering chart %s did not finish within %s", chartName, durationText(limit))
}

func outputExceeded(chartName string, limit int64) error {
	return failure.New(failure.RenderLimitExceeded,
		"rendering chart %s produced more than %s", chartName, bytesText(limit))
}

func killed(chartName, signal string) error {
	return failure.New(failure.RenderLimitExceeded,
		"rendering chart %s was stopped: the render process was killed (%s), most likely for lack of memory", chartName, signal)
}

// bytesText writes a size in the largest binary unit that divides it ("512 MiB", "1536 KiB").
func bytesText(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// durationText writes a limit to the second ("30s", "5m0s"), or to the millisecond when it is
// shorter than a second.
func durationText(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
