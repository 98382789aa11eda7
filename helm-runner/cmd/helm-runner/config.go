package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
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
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("helm-runner", flag.ContinueOnError)
	fs.StringVar(&c.socket, "socket", "/var/run/helm-runner/runner.sock", "unix socket to serve on (created with mode 0600)")
	fs.StringVar(&c.listenTCP, "listen-tcp", "", "also serve on this loopback TCP address, for local work (e.g. 127.0.0.1:9443)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file; empty: in-cluster configuration")
	fs.StringVar(&c.cacheDir, "cache-dir", filepath.Join(os.TempDir(), "helm-runner-cache"), "directory of the pulled-chart cache")
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
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.socket == "" && c.listenTCP == "" {
		return c, errors.New("nothing to serve on: give --socket or --listen-tcp")
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
