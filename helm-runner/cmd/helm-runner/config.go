package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/chart"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/render"
)

// config is the runner's command line, parsed once at start-up.
type config struct {
	socket            string
	listenTCP         string
	kubeconfig        string
	cacheDir          string
	allowInsecureHTTP bool
	maxArchiveBytes   int64
	maxFileBytes      int64
	maxIndexBytes     int64
	maxValuesBytes    int64
	kubeQPS           float64
	kubeBurst         int
	shutdownGrace     time.Duration
	logLevel          string
	debugAddr         string
	metricsAddr       string
	// Bounded state: the chart caches (internal/chart) and per-identity clients (internal/kube).
	maxCacheBytes       byteSize
	maxMemoryCacheBytes byteSize
	maxIdentities       int
	// Rendering (internal/render).
	renderIsolation      bool
	renderMemoryLimit    byteSize
	renderTimeLimit      time.Duration
	maxRenderOutputBytes int64
	maxConcurrentRenders int
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("helm-runner", flag.ContinueOnError)
	fs.StringVar(&c.socket, "socket", "/var/run/helm-runner/runner.sock", "unix socket to serve on (created with mode 0600)")
	fs.StringVar(&c.listenTCP, "listen-tcp", "", "also serve on this loopback TCP address, for local work (e.g. 127.0.0.1:9443)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file; empty: in-cluster configuration")
	fs.StringVar(&c.cacheDir, "cache-dir", filepath.Join(os.TempDir(), "helm-runner-cache"), "directory of the pulled-chart cache")
	c.maxCacheBytes, c.maxMemoryCacheBytes = chart.DefaultDiskCacheBytes, chart.DefaultMemoryCacheBytes
	fs.Var(&c.maxCacheBytes, "max-cache-bytes", "disk space of the chart cache (a `size` such as 768MiB), counted in whole 4 KiB blocks; least recently used charts are removed first. Keep it below the cache volume's size: the default leaves a quarter of a 1Gi volume free")
	fs.Var(&c.maxMemoryCacheBytes, "max-memory-cache-bytes", "memory of chart archives kept in memory (a `size` such as 64MiB); least recently used are dropped first and read back from disk; 0 keeps none")
	fs.IntVar(&c.maxIdentities, "max-identities", kube.DefaultMaxIdentities, "impersonated ServiceAccounts whose Kubernetes clients (discovery cache, rate limiter) are kept when no operation uses them; the least recently used are dropped and rebuilt on their next use")
	fs.BoolVar(&c.allowInsecureHTTP, "allow-insecure-http", false, "allow plain-HTTP chart repositories and registries (local work and tests only)")
	fs.Int64Var(&c.maxArchiveBytes, "max-chart-archive-bytes", 20<<20, "largest chart archive accepted")
	fs.Int64Var(&c.maxFileBytes, "max-chart-file-bytes", 5<<20, "largest decompressed file in a chart accepted")
	fs.Int64Var(&c.maxIndexBytes, "max-index-bytes", 20<<20, "largest repository index.yaml accepted")
	fs.Int64Var(&c.maxValuesBytes, "max-values-bytes", 1<<20, "largest values document (JSON) accepted in a request")
	fs.Float64Var(&c.kubeQPS, "kube-api-qps", 200, "Kubernetes API queries per second, per identity (each install with wait makes about 15-20 requests)")
	fs.IntVar(&c.kubeBurst, "kube-api-burst", 400, "Kubernetes API burst, per identity")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 30*time.Second, "time given to in-flight operations to record their end on shutdown")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof/) on this loopback address; empty: off")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics) and /healthz over plain HTTP on this address (e.g. :8081; port 0 picks a free one, logged as \"serving metrics\"); empty: off")
	c.renderMemoryLimit = render.DefaultMemory
	fs.BoolVar(&c.renderIsolation, "render-isolation", true, "render chart templates in a separate, resource-limited process, so a hostile chart fails only its own release; false renders in the runner's process (for measuring only)")
	fs.Var(&c.renderMemoryLimit, "render-memory-limit", "memory of one render process (e.g. 512MiB, 1GiB); a render that needs more fails with RENDER_LIMIT_EXCEEDED")
	fs.DurationVar(&c.renderTimeLimit, "render-time-limit", render.DefaultTime, "longest time one render may take; the effective limit is the smaller of this and the operation's timeout")
	fs.Int64Var(&c.maxRenderOutputBytes, "max-render-output-bytes", render.DefaultOutput, "largest rendered output (all files of a chart) accepted from a render process")
	fs.IntVar(&c.maxConcurrentRenders, "max-concurrent-renders", render.DefaultConcurrency, "render processes running at once; an operation waits for a free one within its deadline")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.socket == "" && c.listenTCP == "" {
		return c, errors.New("nothing to serve on: give --socket or --listen-tcp")
	}
	if err := c.checkRenderLimits(); err != nil {
		return c, err
	}
	if err := c.checkStateBounds(); err != nil {
		return c, err
	}
	if c.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.metricsAddr); err != nil {
			return c, fmt.Errorf("--metrics-addr %q: %w", c.metricsAddr, err)
		}
	}
	for _, addr := range []string{c.listenTCP, c.debugAddr} {
		if addr == "" {
			continue
		}
		if err := requireLoopback(addr); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkRenderLimits refuses render limits that would fail every render.
func (c config) checkRenderLimits() error {
	switch {
	case int64(c.renderMemoryLimit) < render.MinMemory:
		return fmt.Errorf("--render-memory-limit must be at least %s", byteSize(render.MinMemory))
	case c.renderTimeLimit <= 0:
		return errors.New("--render-time-limit must be positive")
	case c.maxRenderOutputBytes <= 0:
		return errors.New("--max-render-output-bytes must be positive")
	case c.maxConcurrentRenders <= 0:
		return errors.New("--max-concurrent-renders must be positive")
	}
	return nil
}

// checkStateBounds refuses bounds that would keep no chart on disk or no identity's clients.
func (c config) checkStateBounds() error {
	switch {
	case c.maxCacheBytes <= 0:
		return errors.New("--max-cache-bytes must be positive")
	case c.maxIdentities <= 0:
		return errors.New("--max-identities must be positive")
	}
	return nil
}

// byteSize is a flag value in bytes, written as a number with an optional binary unit (KiB,
// MiB, GiB, or Ki, Mi, Gi).
type byteSize int64

func (b byteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, unit := s, int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return fmt.Errorf("%q is not a size in bytes (e.g. 512MiB)", s)
	}
	*b = byteSize(n * unit)
	return nil
}

// requireLoopback refuses a TCP address that is not on a loopback interface: the runner has no
// authentication of its own, so TCP is for local work only.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("listen address %q: only loopback addresses are allowed", addr)
}
