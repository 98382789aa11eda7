// Package testenv gives integration tests the local cluster and chart repositories started by
// test/cluster/up.sh, as described by the KEY=VALUE file .cluster/env at the repository root.
package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Env is the parsed .cluster/env.
type Env struct {
	// Root is the repository root: the directory holding .cluster/env.
	Root string
	// Vars holds every KEY=VALUE line of the file.
	Vars map[string]string
}

// Kubeconfig is the admin kubeconfig path.
func (e Env) Kubeconfig() string { return e.Vars["KUBECONFIG"] }

// Helm is the Helm CLI path, for fixtures and cross-checks.
func (e Env) Helm() string { return e.Vars["PLANTON_HELM"] }

// Kubectl is the kubectl path.
func (e Env) Kubectl() string { return e.Vars["PLANTON_KUBECTL"] }

// HTTPRepo is the URL of the index.yaml chart repository.
func (e Env) HTTPRepo() string { return e.Vars["PLANTON_HTTP_REPO"] }

// OCIRepo is the oci:// URL of the charts in the plain-HTTP registry.
func (e Env) OCIRepo() string { return e.Vars["PLANTON_OCI_REPO"] }

// CommandEnv returns os.Environ() with KUBECONFIG and the HELM_*_HOME variables of the file,
// for running the Helm CLI or kubectl against the local cluster without touching the user's
// own configuration.
func (e Env) CommandEnv() []string {
	out := os.Environ()
	for k, v := range e.Vars {
		if k == "KUBECONFIG" || strings.HasPrefix(k, "HELM_") {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// Load reads the cluster's env file ($CLUSTER_DIR/env when CLUSTER_DIR is set, as for the
// cluster scripts; otherwise .cluster/env found by walking up from the working directory). When
// the file is missing the test fails: integration tests are built only when asked for (the
// integration tag), and one that skipped would pass without having run.
func Load(t testing.TB) Env {
	t.Helper()
	if dir := os.Getenv("CLUSTER_DIR"); dir != "" {
		vars, err := parse(filepath.Join(dir, "env"))
		if err != nil {
			t.Fatalf("read $CLUSTER_DIR/env: %v", err)
		}
		return Env{Root: filepath.Dir(dir), Vars: vars}
	}
	root, err := findRoot()
	if err != nil {
		t.Fatalf("no local cluster (.cluster/env not found): %v; run test/cluster/up.sh (make cluster-up)", err)
	}
	vars, err := parse(filepath.Join(root, ".cluster", "env"))
	if err != nil {
		t.Fatalf("read .cluster/env: %v", err)
	}
	return Env{Root: root, Vars: vars}
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ".cluster", "env")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

func parse(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vars[strings.TrimSpace(key)] = strings.Trim(strings.TrimSpace(value), `"'`)
	}
	return vars, sc.Err()
}
