//go:build integration

package server

import (
	"bytes"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/chart"
)

// cacheLog collects the chart source's debug log.
type cacheLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *cacheLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *cacheLog) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), `"msg":"`+msg+`"`)
}

// diskUse is the space the files under dir take on the volume (allocated blocks, as the
// kubelet measures an emptyDir).
func diskUse(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("measure %s: %v", dir, err)
	}
	return total
}

// The chart cache never takes more disk than its bound, however many charts are pulled, and
// charts it evicted are pulled again when an install needs them; after a restart with a
// smaller bound, the cache it finds is trimmed to that bound.
func TestLiveChartCacheStaysWithinItsBound(t *testing.T) {
	t.Parallel()
	// Every test chart archive is under 4 KiB: with its digest, 8 KiB on disk. Four fit.
	const bound = 32 << 10
	dir := t.TempDir()
	charts := filepath.Join(dir, "charts")
	logs := &cacheLog{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	source, err := chart.NewSource(dir, chart.Limits{}, chart.WithDiskCacheBytes(bound), chart.WithMemoryCacheBytes(0), chart.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	r := startLiveRunner(t, func(o *Options) { o.Charts = source })
	maxUse := int64(0)
	checkUse := func(after string) {
		t.Helper()
		use := diskUse(t, charts)
		if use > bound {
			t.Fatalf("after %s the chart cache takes %d bytes on disk, over its bound of %d", after, use, bound)
		}
		maxUse = max(maxUse, use)
	}

	r.install(t, releaseName, "plain", "1.0.0", nil)
	checkUse("the first install")

	versions := []struct{ name, version string }{
		{"plain", "1.0.0"}, {"plain", "1.1.0"}, {"hooks", "1.0.0"}, {"hooks", "1.1.0"}, {"never-ready", "1.0.0"},
		{"schema", "1.0.0"}, {"testable", "1.0.0"}, {"umbrella", "1.0.0"}, {"with-crds", "1.0.0"},
	}
	pulls := 0
	for _, repo := range []string{r.env.HTTPRepo(), r.env.OCIRepo()} {
		for _, v := range versions {
			ref := chart.Ref{Repo: repo, Name: v.name, Version: v.version, AllowInsecureHTTP: true}
			if _, _, err := source.Get(r.ctx(t), ref); err != nil {
				t.Fatalf("pull %s %s from %s: %v", v.name, v.version, repo, err)
			}
			pulls++
			checkUse("pulling " + v.name + " " + v.version + " from " + repo)
		}
	}
	const fit = bound / (8 << 10)
	if evicted := logs.count("chart cache eviction"); evicted < pulls-fit {
		t.Fatalf("%d pulls of distinct charts into a cache of %d made %d evictions, want at least %d", pulls, fit, evicted, pulls-fit)
	}

	// plain 1.1.0 from the OCI registry was pulled before four others: evicted, pulled again.
	upgraded := r.upgradePlain(t, releaseName, "1.1.0")
	requireState(t, upgraded.GetState(), 2, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.1.0")
	checkUse("the upgrade")
	resp, err := r.client.Install(r.ctx(t), &runnerv1.InstallRequest{
		Release: r.release("web-http"), Timeout: timeout(liveTimeout),
		Chart: &runnerv1.ChartRef{Repo: r.env.HTTPRepo(), Name: "plain", Version: "1.0.0", AllowInsecureHttp: true},
	})
	if err != nil {
		t.Fatalf("Install plain 1.0.0 from the HTTP repository: %v", err)
	}
	requireSucceeded(t, "Install", resp.GetOutcome())
	requireState(t, resp.GetState(), 1, runnerv1.ReleaseStatus_RELEASE_STATUS_DEPLOYED, "1.0.0")
	checkUse("the second install")
	t.Logf("%d pulls, %d evictions; chart cache at most %d bytes on disk (bound %d), whole cache directory %d bytes",
		pulls, logs.count("chart cache eviction"), maxUse, bound, diskUse(t, dir))

	const smaller = 16 << 10
	restarted, err := chart.NewSource(dir, chart.Limits{}, chart.WithDiskCacheBytes(smaller), chart.WithMemoryCacheBytes(0))
	if err != nil {
		t.Fatalf("restart the chart source: %v", err)
	}
	if use := diskUse(t, charts); use > smaller {
		t.Fatalf("after a restart with a bound of %d the chart cache takes %d bytes", smaller, use)
	}
	again := startLiveRunner(t, func(o *Options) { o.Charts = restarted })
	again.install(t, releaseName, "plain", "1.1.0", nil)
	if use := diskUse(t, charts); use > smaller {
		t.Fatalf("after an install with a bound of %d the chart cache takes %d bytes", smaller, use)
	}
}
