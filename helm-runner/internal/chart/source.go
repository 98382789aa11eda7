// Package chart is the runner's chart source: given a chart reference it returns a loaded,
// validated Helm chart, pulled from the repository at most once and cached on disk and in
// memory by (repository, name, version, credential).
package chart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Limits bound what a repository can make the runner read. Zero fields take the defaults.
type Limits struct {
	// MaxArchiveBytes bounds a chart archive as downloaded (default 20 MiB).
	MaxArchiveBytes int64
	// MaxFileBytes bounds one file of a chart, decompressed (default 5 MiB).
	MaxFileBytes int64
	// MaxIndexBytes bounds a repository's index.yaml (default 20 MiB).
	MaxIndexBytes int64
	// MaxDecompressedBytes bounds all files of a chart and of its sub-chart archives together,
	// decompressed (default 100 MiB). Helm's loader applies its own 100 MiB limit as well.
	MaxDecompressedBytes int64
}

// Default limits.
const (
	DefaultMaxArchiveBytes      = 20 << 20
	DefaultMaxFileBytes         = 5 << 20
	DefaultMaxIndexBytes        = 20 << 20
	DefaultMaxDecompressedBytes = 100 << 20
	// DefaultMemoryCacheBytes is the default budget of archives kept in memory: thousands of
	// typical charts, a small share of the runner's memory; the disk cache backs it.
	DefaultMemoryCacheBytes = 64 << 20
	// DefaultDiskCacheBytes is the default budget of archives kept on disk: three quarters of
	// the deployment's 1 GiB chart-cache volume, leaving room for what the budget does not
	// count (the directory itself, the credential key, temporary files a crash left behind
	// until the next start) before the kubelet evicts the pod at the volume's size limit.
	DefaultDiskCacheBytes = 768 << 20
)

func (l Limits) withDefaults() (Limits, error) {
	for _, f := range []struct {
		v   *int64
		def int64
	}{
		{&l.MaxArchiveBytes, DefaultMaxArchiveBytes},
		{&l.MaxFileBytes, DefaultMaxFileBytes},
		{&l.MaxIndexBytes, DefaultMaxIndexBytes},
		{&l.MaxDecompressedBytes, DefaultMaxDecompressedBytes},
	} {
		switch {
		case *f.v < 0:
			return l, failure.New(failure.InvalidArgument, "chart limits must not be negative")
		case *f.v == 0:
			*f.v = f.def
		}
	}
	return l, nil
}

// Option configures a Source.
type Option func(*Source)

// WithMemoryCacheBytes sets the byte budget of archives kept in memory (default 64 MiB);
// least recently used archives are dropped first and read back from disk when needed.
func WithMemoryCacheBytes(n int64) Option {
	return func(s *Source) { s.memory = newMemoryCache(n) }
}

// WithDiskCacheBytes sets the byte budget of archives kept on disk, counted in whole 4 KiB
// blocks (default 768 MiB); least recently used archives are removed first and pulled again
// when needed. Non-positive keeps the default.
func WithDiskCacheBytes(n int64) Option {
	return func(s *Source) {
		if n > 0 {
			s.diskBudget = n
		}
	}
}

// WithLogger sets where cache write failures (warn) and evictions (debug) are reported
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) { s.log = l }
}

// Recorder is told what a Source does, for the runner's metrics (internal/metrics).
type Recorder interface {
	// ChartPulled: one download of a chart archive from a repository of source ("http" or
	// "oci") ended, failed when err is not nil (an archive that fails inspection too).
	ChartPulled(source string, err error)
	// ChartCacheLookup: one lookup was served from memory or disk (hit) or pulled (miss).
	ChartCacheLookup(hit bool)
	// ChartCacheEvicted: one archive was dropped from tier ("disk" or "memory") to make room.
	ChartCacheEvicted(tier string)
}

// WithRecorder reports pulls, cache lookups and evictions to r (default: nowhere).
func WithRecorder(r Recorder) Option {
	return func(s *Source) { s.rec = r }
}

// noRecorder records nothing.
type noRecorder struct{}

func (noRecorder) ChartPulled(string, error) {}
func (noRecorder) ChartCacheLookup(bool)     {}
func (noRecorder) ChartCacheEvicted(string)  {}

// Source pulls, validates and caches charts. It is safe for concurrent use.
type Source struct {
	limits             Limits
	disk               *diskCache
	diskBudget         int64
	memory             *memoryCache
	flights            *flights
	transports         *transports
	credKey            []byte
	registryConfigPath string
	log                *slog.Logger
	rec                Recorder
}

// NewSource returns a Source that caches under cacheDir, creating it (mode 0700) if needed.
// It keeps there the archives (charts/), a secret key for credential fingerprints, and an
// empty registry credentials path given to Helm's registry client. Archives already in
// charts/ are counted against the disk budget, and the least recently used removed until
// the cache fits it.
func NewSource(cacheDir string, limits Limits, opts ...Option) (*Source, error) {
	limits, err := limits.withDefaults()
	if err != nil {
		return nil, err
	}
	if cacheDir == "" {
		return nil, failure.New(failure.InvalidArgument, "chart cache directory is required")
	}
	chartsDir := filepath.Join(cacheDir, "charts")
	if err := os.MkdirAll(chartsDir, 0o700); err != nil {
		return nil, failure.Wrap(failure.Internal, err, "create chart cache directory")
	}
	credKey, err := loadOrCreateKey(filepath.Join(cacheDir, "credential-key"))
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "read the chart cache's credential key")
	}
	s := &Source{
		limits:             limits,
		diskBudget:         DefaultDiskCacheBytes,
		memory:             newMemoryCache(DefaultMemoryCacheBytes),
		flights:            newFlights(),
		transports:         newTransports(),
		credKey:            credKey,
		registryConfigPath: filepath.Join(cacheDir, "registry-config-unused.json"),
		log:                slog.Default(),
		rec:                noRecorder{},
	}
	for _, o := range opts {
		o(s)
	}
	s.disk, err = openDiskCache(chartsDir, limits.MaxArchiveBytes, s.diskBudget, s.log, s.rec)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "read the chart cache directory")
	}
	return s, nil
}

// Get returns the chart ref names and the digest ("sha256:<hex>") of its archive. The ref is
// validated before any connection. The archive is downloaded only when neither cache holds it;
// concurrent Gets of the same ref share one lookup (and one download). Every call returns a
// chart of its own, which the caller may modify (Helm's install and upgrade do).
//
// Errors carry a failure reason: INVALID_ARGUMENT, INVALID_VERSION, INSECURE_REPOSITORY,
// CHART_NOT_FOUND, VERSION_NOT_FOUND, AUTH_FAILED, REPOSITORY_UNREACHABLE, CHART_TOO_LARGE,
// INVALID_CHART, TIMEOUT or CANCELLED.
func (s *Source) Get(ctx context.Context, ref Ref) (*chartv2.Chart, string, error) {
	t, err := ref.validate()
	if err != nil {
		return nil, "", err
	}
	key := cacheKey(t, s.credKey)
	a, ok := s.memory.get(key)
	if ok {
		s.rec.ChartCacheLookup(true)
		s.disk.touch(key)
	} else {
		what := fmt.Sprintf("pull of chart %s %s", ref.Name, ref.Version)
		a, err = s.flights.do(ctx, key, what, func(ctx context.Context) (archive, error) {
			return s.obtain(ctx, key, t)
		})
		if err != nil {
			return nil, "", err
		}
	}
	c, err := load(a.data)
	if err != nil {
		return nil, "", err
	}
	return c, a.digest, nil
}

// obtain returns the archive of key from memory, disk or the repository, in that order,
// and fills the caches. It is one lookup, whoever waits for it.
func (s *Source) obtain(ctx context.Context, key string, t target) (archive, error) {
	if a, ok := s.memory.get(key); ok {
		s.rec.ChartCacheLookup(true)
		return a, nil
	}
	if a, ok := s.disk.load(key); ok {
		if _, err := loadChart(a.data, s.limits, t.ref.Name, t.ref.Version); err == nil {
			s.rec.ChartCacheLookup(true)
			s.putMemory(key, a)
			return a, nil
		}
		s.disk.remove(key)
	}
	s.rec.ChartCacheLookup(false)
	data, err := s.pull(ctx, t)
	if err != nil {
		return archive{}, err
	}
	a := newArchive(data)
	if err := s.disk.store(key, a); errors.Is(err, errDiskCacheFull) {
		s.log.DebugContext(ctx, "chart not cached on disk", "chart", t.ref.Name, "version", t.ref.Version, "keyDigest", key, "error", err)
	} else if err != nil {
		// The chart is good; without the disk copy it is only fetched again after a restart.
		s.log.WarnContext(ctx, "chart cache write failed", "chart", t.ref.Name, "version", t.ref.Version, "error", err)
	}
	s.putMemory(key, a)
	return a, nil
}

// pull downloads and inspects t's archive, and records the pull.
func (s *Source) pull(ctx context.Context, t target) ([]byte, error) {
	data, err := s.fetch(ctx, t)
	if err == nil && int64(len(data)) > s.limits.MaxArchiveBytes {
		err = sizeFailure("chart archive", s.limits.MaxArchiveBytes)
	}
	if err == nil {
		_, err = loadChart(data, s.limits, t.ref.Name, t.ref.Version)
	}
	source := "http"
	if t.kind == kindOCI {
		source = "oci"
	}
	s.rec.ChartPulled(source, err)
	if err != nil {
		return nil, err
	}
	return data, nil
}

func (s *Source) fetch(ctx context.Context, t target) ([]byte, error) {
	if t.kind == kindOCI {
		return s.fetchOCI(ctx, t)
	}
	return s.fetchHTTP(ctx, t)
}

// putMemory keeps a in memory, recording the archives it displaced.
func (s *Source) putMemory(key string, a archive) {
	for range s.memory.put(key, a) {
		s.rec.ChartCacheEvicted("memory")
	}
}

// CacheBytes is what the caches hold: the bytes the disk cache counts against its budget (whole
// blocks) and the bytes of the archives in memory.
func (s *Source) CacheBytes() (disk, memory int64) {
	return s.disk.bytes(), s.memory.bytes()
}
