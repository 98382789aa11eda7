package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/action"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/chart"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/metrics"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/render"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/server"
)

// maxMessageBytes lifts gRPC's 4 MiB default: rendered manifests and diffs of big charts exceed it.
const maxMessageBytes = 64 << 20

// run serves until ctx is cancelled, then stops gracefully: health turns NOT_SERVING, in-flight
// Helm operations are cancelled so that each records its end in release storage (never leaving
// a release pending-*), and the server stops once they have returned or the grace period ends;
// the metrics endpoint stops last.
//
// Metrics are recorded whether or not --metrics-addr serves them: a few atomic additions per
// operation.
func run(ctx context.Context, args []string) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	log, err := newLogger(os.Stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	met, err := metrics.New(registry, server.Verbs())
	if err != nil {
		return err
	}
	if err := met.ObserveClientGo(); err != nil {
		return err
	}
	restConfig, err := loadRESTConfig(cfg.kubeconfig)
	if err != nil {
		return err
	}

	charts, err := chart.NewSource(cfg.cacheDir, chart.Limits{
		MaxArchiveBytes: cfg.maxArchiveBytes, MaxFileBytes: cfg.maxFileBytes, MaxIndexBytes: cfg.maxIndexBytes,
	}, chart.WithDiskCacheBytes(int64(cfg.maxCacheBytes)), chart.WithMemoryCacheBytes(int64(cfg.maxMemoryCacheBytes)),
		chart.WithLogger(log), chart.WithRecorder(met))
	if err != nil {
		return err
	}
	if err := met.ObserveChartCache(charts.CacheBytes); err != nil {
		return err
	}
	helmConfig, err := helmConfigs(cfg, met)
	if err != nil {
		return err
	}
	clients := kube.NewFactory(restConfig, kube.WithRateLimit(float32(cfg.kubeQPS), cfg.kubeBurst),
		kube.WithMaxIdentities(cfg.maxIdentities), kube.WithLogger(log), kube.WithWaitRecorder(met))
	srv := server.New(server.Options{
		Charts:            charts,
		Clients:           clients,
		Log:               log,
		AllowInsecureHTTP: cfg.allowInsecureHTTP,
		MaxValuesBytes:    cfg.maxValuesBytes,
		HelmConfig:        helmConfig,
		Metrics:           met,
	})

	grpcServer := grpc.NewServer(grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes),
		grpc.ChainUnaryInterceptor(srv.Interceptor()))
	runnerv1.RegisterHelmRunnerServiceServer(grpcServer, srv)
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(grpcServer, healthServer)

	// The metrics listener first: when its address is taken, nothing else has been opened.
	var metricsListener net.Listener
	if cfg.metricsAddr != "" {
		if metricsListener, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	listeners, err := listen(cfg)
	if err != nil {
		if metricsListener != nil {
			_ = metricsListener.Close()
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	stopMetrics := func() {}
	if metricsListener != nil {
		ms := &http.Server{Handler: metricsHandler(registry, healthServer), ReadHeaderTimeout: 5 * time.Second}
		log.Info("serving metrics", "address", metricsListener.Addr().String())
		g.Go(func() error {
			if err := ms.Serve(metricsListener); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		stopMetrics = func() {
			// A scrape in progress may finish; then the endpoint closes.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = ms.Shutdown(sctx)
		}
	}
	if cfg.debugAddr != "" {
		debug := &http.Server{Addr: cfg.debugAddr, Handler: pprofHandler(), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := debug.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error { <-gctx.Done(); return debug.Close() })
	}
	for _, l := range listeners {
		log.Info("serving", "network", l.Addr().Network(), "address", l.Addr().String())
		g.Go(func() error { return grpcServer.Serve(l) })
	}
	g.Go(func() error {
		<-gctx.Done()
		healthServer.Shutdown()
		log.Info("shutting down: cancelling in-flight operations", "grace", cfg.shutdownGrace)
		srv.Shutdown()
		stopped := make(chan struct{})
		go func() { grpcServer.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(cfg.shutdownGrace):
			log.Warn("grace period over: stopping now")
			grpcServer.Stop()
		}
		stopMetrics()
		return nil
	})
	err = g.Wait()
	if cfg.socket != "" {
		_ = os.Remove(cfg.socket)
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// helmConfigs is how each call's Helm configuration is built: rendering chart templates in
// render worker processes under the --render-* limits, each render reported to renders, or in
// this process with --render-isolation=false (not measured: Helm renders inside its action).
func helmConfigs(cfg config, renders render.Recorder) (func(*kube.Clients, string, *slog.Logger) (*action.Config, error), error) {
	if !cfg.renderIsolation {
		return action.NewConfig, nil
	}
	worker, err := render.SelfWorker()
	if err != nil {
		return nil, err
	}
	r, err := render.NewIsolated(worker, render.Limits{
		Memory: int64(cfg.renderMemoryLimit), Time: cfg.renderTimeLimit,
		Output: cfg.maxRenderOutputBytes, Concurrency: cfg.maxConcurrentRenders,
	}, render.WithRecorder(renders))
	if err != nil {
		return nil, err
	}
	return action.ConfigsRenderingWith(r), nil
}

// pprofHandler serves Go's profiles, for measuring the runner (make bench-runner).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a cluster: %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// listen opens the unix socket (mode 0600: only the reconciler's user may call) and, when
// asked, the loopback TCP listener.
func listen(cfg config) ([]net.Listener, error) {
	var ls []net.Listener
	if cfg.socket != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.socket), 0o700); err != nil {
			return nil, err
		}
		if err := os.Remove(cfg.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
		old := syscall.Umask(0o177)
		l, err := net.Listen("unix", cfg.socket)
		syscall.Umask(old)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(cfg.socket, 0o600); err != nil {
			_ = l.Close()
			return nil, err
		}
		ls = append(ls, l)
	}
	if cfg.listenTCP != "" {
		l, err := net.Listen("tcp", cfg.listenTCP)
		if err != nil {
			for _, o := range ls {
				_ = o.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}
