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
	}
	for _, o := range opts {
		o(s)
	}
	s.disk, err = openDiskCache(chartsDir, limits.MaxArchiveBytes, s.diskBudget, s.log)
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "read the chart cache directory")
	}
	return s, nil
}

// Get returns the chart ref names and the digest ("sha256:<hex>") of its archive. The ref is
// validated before any connection. The archive is downloaded only when neither cache holds it;
// concurrent Gets of the same ref share one download. Every call returns a chart of its own,
// which the caller may modify (Helm's install and upgrade do).
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
// and fills the caches.
func (s *Source) obtain(ctx context.Context, key string, t target) (archive, error) {
	if a, ok := s.memory.get(key); ok {
		return a, nil
	}
	if a, ok := s.disk.load(key); ok {
		if _, err := loadChart(a.data, s.limits, t.ref.Name, t.ref.Version); err == nil {
			s.memory.put(key, a)
			return a, nil
		}
		s.disk.remove(key)
	}
	data, err := s.fetch(ctx, t)
	if err != nil {
		return archive{}, err
	}
	if int64(len(data)) > s.limits.MaxArchiveBytes {
		return archive{}, sizeFailure("chart archive", s.limits.MaxArchiveBytes)
	}
	if _, err := loadChart(data, s.limits, t.ref.Name, t.ref.Version); err != nil {
		return archive{}, err
	}
	a := newArchive(data)
	if err := s.disk.store(key, a); errors.Is(err, errDiskCacheFull) {
		s.log.Debug("chart not cached on disk", "chart", t.ref.Name, "version", t.ref.Version, "keyDigest", key, "error", err)
	} else if err != nil {
		// The chart is good; without the disk copy it is only fetched again after a restart.
		s.log.Warn("chart cache write failed", "chart", t.ref.Name, "version", t.ref.Version, "error", err)
	}
	s.memory.put(key, a)
	return a, nil
}

func (s *Source) fetch(ctx context.Context, t target) ([]byte, error) {
	if t.kind == kindOCI {
		return s.fetchOCI(ctx, t)
	}
	return s.fetchHTTP(ctx, t)
}
