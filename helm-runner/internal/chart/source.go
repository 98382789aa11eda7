// Package chart is the runner's chart source: given a chart reference it returns a loaded,
// validated Helm chart, pulled from the repository at most once and cached on disk and in
// memory by (repository, name, version, credential).
package chart

import (
	"context"
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
	// DefaultMemoryCacheBytes is the default budget of archives kept in memory.
	DefaultMemoryCacheBytes = 256 << 20
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

// WithMemoryCacheBytes sets the byte budget of archives kept in memory (default 256 MiB);
// least recently used archives are dropped first and read back from disk when needed.
func WithMemoryCacheBytes(n int64) Option {
	return func(s *Source) { s.memory = newMemoryCache(n) }
}

// WithLogger sets where cache write failures are reported (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) { s.log = l }
}

// Source pulls, validates and caches charts. It is safe for concurrent use.
type Source struct {
	limits             Limits
	disk               diskCache
	memory             *memoryCache
	flights            *flights
	transports         *transports
	credKey            []byte
	registryConfigPath string
	log                *slog.Logger
}

// NewSource returns a Source that caches under cacheDir, creating it (mode 0700) if needed.
// It keeps there the archives (charts/), a secret key for credential fingerprints, and an
// empty registry credentials path given to Helm's registry client.
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
		disk:               diskCache{dir: chartsDir, maxBytes: limits.MaxArchiveBytes},
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
	if !ok {
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
	if err := s.disk.store(key, a); err != nil {
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
