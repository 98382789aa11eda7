//go:build integration

package chart

import (
	"fmt"
	"strings"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// The local cluster publishes plain 1.0.0 behind basic authentication in both an HTTP repository
// and an OCI registry (test/cluster/up.sh); these tests prove the credentials are used, and that
// missing or wrong ones are refused with AUTH_FAILED.
func TestIntegrationRepositoryCredentials(t *testing.T) {
	env := testenv.Load(t)
	username, password := env.Vars["PLANTON_REPO_USERNAME"], env.Vars["PLANTON_REPO_PASSWORD"]
	repos := map[string]string{"http": env.Vars["PLANTON_HTTP_AUTH_REPO"], "oci": env.Vars["PLANTON_OCI_AUTH_REPO"]}
	for kind, repo := range repos {
		if repo == "" || password == "" {
			t.Fatalf("the cluster's env has no password-protected %s repository; restart it with test/cluster/up.sh", kind)
		}
		tests := []struct {
			name               string
			username, password string
			want               failure.Reason
		}{
			{"the right credentials pull the chart", username, password, ""},
			{"a wrong password is AUTH_FAILED", username, password + "-wrong", failure.AuthFailed},
			{"no credentials is AUTH_FAILED", "", "", failure.AuthFailed},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s: %s", kind, tt.name), func(t *testing.T) {
				ref := Ref{Repo: repo, Name: "plain", Version: "1.0.0", Username: tt.username, Password: tt.password, AllowInsecureHTTP: true}
				c, _, err := newTestSource(t, Limits{}).Get(testContext(t), ref)
				if tt.want == "" {
					if err != nil || c.Name() != "plain" {
						t.Fatalf("Get with the right credentials: %v", err)
					}
					return
				}
				if got := failure.ReasonOf(err); got != tt.want {
					t.Fatalf("reason = %q (%v), want %q", got, err, tt.want)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Fatalf("the error repeats the password: %v", err)
				}
			})
		}
	}
}
