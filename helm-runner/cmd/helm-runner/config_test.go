package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults serve on the unix socket", nil, ""},
		{"loopback TCP is allowed", []string{"--listen-tcp", "127.0.0.1:0"}, ""},
		{"localhost TCP is allowed", []string{"--listen-tcp", "localhost:9443"}, ""},
		{"a public TCP address is refused", []string{"--listen-tcp", "0.0.0.0:9443"}, "only loopback"},
		{"nothing to serve on is refused", []string{"--socket", ""}, "nothing to serve on"},
		{"stray arguments are refused", []string{"extra"}, "unexpected arguments"},
		{"an unknown flag is refused", []string{"--nope"}, "not defined"},
		{"a render memory limit below the minimum is refused", []string{"--render-memory-limit", "16MiB"}, "at least 64MiB"},
		{"a render memory limit that is no size is refused", []string{"--render-memory-limit", "lots"}, "not a size"},
		{"zero concurrent renders are refused", []string{"--max-concurrent-renders", "0"}, "must be positive"},
		{"a non-positive render time limit is refused", []string{"--render-time-limit", "0s"}, "must be positive"},
		{"a chart cache of no bytes is refused", []string{"--max-cache-bytes", "0"}, "--max-cache-bytes must be positive"},
		{"a chart cache size that is no size is refused", []string{"--max-cache-bytes", "big"}, "not a size"},
		{"no memory cache is allowed", []string{"--max-memory-cache-bytes", "0"}, ""},
		{"zero identities are refused", []string{"--max-identities", "0"}, "--max-identities must be positive"},
		{"metrics on every interface are allowed (the pod's port)", []string{"--metrics-addr", ":8081"}, ""},
		{"metrics on any free loopback port are allowed", []string{"--metrics-addr", "127.0.0.1:0"}, ""},
		{"a metrics address without a port is refused", []string{"--metrics-addr", "127.0.0.1"}, "--metrics-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRenderMemoryLimit(t *testing.T) {
	for arg, want := range map[string]int64{"": 512 << 20, "1GiB": 1 << 30, "768Mi": 768 << 20, "100000000": 100000000} {
		args := []string{}
		if arg != "" {
			args = []string{"--render-memory-limit", arg}
		}
		c, err := parseConfig(args)
		if err != nil || int64(c.renderMemoryLimit) != want {
			t.Errorf("--render-memory-limit %q = %d (%v), want %d", arg, int64(c.renderMemoryLimit), err, want)
		}
	}
}

func TestStateBounds(t *testing.T) {
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.maxCacheBytes != 768<<20 || c.maxMemoryCacheBytes != 64<<20 || c.maxIdentities != 256 {
		t.Fatalf("defaults: --max-cache-bytes %d, --max-memory-cache-bytes %d, --max-identities %d; want 768MiB, 64MiB, 256",
			c.maxCacheBytes, c.maxMemoryCacheBytes, c.maxIdentities)
	}
	c, err = parseConfig([]string{"--max-cache-bytes", "2GiB", "--max-memory-cache-bytes", "512Ki", "--max-identities", "10"})
	if err != nil {
		t.Fatal(err)
	}
	if c.maxCacheBytes != 2<<30 || c.maxMemoryCacheBytes != 512<<10 || c.maxIdentities != 10 {
		t.Fatalf("got --max-cache-bytes %d, --max-memory-cache-bytes %d, --max-identities %d", c.maxCacheBytes, c.maxMemoryCacheBytes, c.maxIdentities)
	}
}

// The manifests run the runner with arguments it accepts, and a disk cache bound below the size
// limit of the volume the cache lives in.
func TestDeploymentCacheFitsItsVolume(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "controller", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	i := slices.IndexFunc(pod.InitContainers, func(c corev1.Container) bool { return c.Name == "helm-runner" })
	if i < 0 {
		t.Fatal("no helm-runner container in the deployment")
	}
	runner := pod.InitContainers[i]
	c, err := parseConfig(runner.Args)
	if err != nil {
		t.Fatalf("the deployment's runner arguments: %v", err)
	}
	m := slices.IndexFunc(runner.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == c.cacheDir })
	if m < 0 {
		t.Fatalf("no volume is mounted at --cache-dir %s", c.cacheDir)
	}
	v := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == runner.VolumeMounts[m].Name })
	if v < 0 || pod.Volumes[v].EmptyDir == nil || pod.Volumes[v].EmptyDir.SizeLimit == nil {
		t.Fatalf("the cache volume %s is not an emptyDir with a sizeLimit", runner.VolumeMounts[m].Name)
	}
	if limit := pod.Volumes[v].EmptyDir.SizeLimit.Value(); int64(c.maxCacheBytes) >= limit {
		t.Fatalf("--max-cache-bytes %s is not below the cache volume's sizeLimit %s", c.maxCacheBytes, pod.Volumes[v].EmptyDir.SizeLimit)
	}
}
