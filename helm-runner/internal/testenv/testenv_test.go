package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	// PLANTON_REQUIRE_CLUSTER once turned a skip into a failure; now nothing skips.
	for _, require := range []string{"", "1"} {
		t.Run("fails, never skips, PLANTON_REQUIRE_CLUSTER="+require, func(t *testing.T) {
			t.Chdir(t.TempDir())
			t.Setenv("CLUSTER_DIR", "")
			t.Setenv("PLANTON_REQUIRE_CLUSTER", require)
			if require == "" {
				os.Unsetenv("PLANTON_REQUIRE_CLUSTER")
			}
			r := &recorder{TB: t}
			Load(r)
			if want := "fatal: no local cluster (.cluster/env not found)"; !strings.HasPrefix(r.outcome, want) {
				t.Fatalf("outcome = %q, want %q…", r.outcome, want)
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
