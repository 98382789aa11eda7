package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records the first Skip or Fatal instead of stopping.
type recorder struct {
	testing.TB
	outcome string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	if r.outcome == "" {
		r.outcome = "skip: " + fmt.Sprintf(format, args...)
	}
}
func (r *recorder) Fatalf(format string, args ...any) {
	if r.outcome == "" {
		r.outcome = "fatal: " + fmt.Sprintf(format, args...)
	}
}

func TestLoadWithoutClusterFile(t *testing.T) {
	tests := []struct {
		name    string
		require string
		want    string
	}{
		{"skips when the cluster is optional", "", "skip"},
		{"fails when the cluster is required", "1", "fatal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			t.Setenv(RequireClusterVar, tt.require)
			if tt.require == "" {
				os.Unsetenv(RequireClusterVar)
			}
			r := &recorder{TB: t}
			Load(r)
			if len(r.outcome) < len(tt.want) || r.outcome[:len(tt.want)] != tt.want {
				t.Fatalf("outcome = %q, want %s", r.outcome, tt.want)
			}
		})
	}
}

func TestLoadFindsTheFileAbove(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ".cluster"), 0o755); err != nil {
		t.Fatal(err)
	}
	content := "# comment\nKUBECONFIG=/k/config\nPLANTON_HELM=\"/bin/helm\"\n\nHELM_CACHE_HOME=/c\n"
	if err := os.WriteFile(filepath.Join(root, ".cluster", "env"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	env := Load(t)
	if env.Root != root || env.Kubeconfig() != "/k/config" || env.Helm() != "/bin/helm" || env.Vars["HELM_CACHE_HOME"] != "/c" {
		t.Fatalf("env = %+v", env)
	}
}
