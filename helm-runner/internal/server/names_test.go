package server

import (
	"strings"
	"testing"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
)

// The release-name rule generated from src/api/names.ts (which the CRD and the reconciler use)
// must accept exactly the names Helm's own validator accepts.
func TestReleaseNameRuleIsHelms(t *testing.T) {
	for _, name := range []string{
		"a", "a1", "my-release", "a.b", "a.b-c", "a-b.c-d", "0", strings.Repeat("e", 53),
		"", "a..b", "a.-b", "a-.b", ".a", "a.", "-a", "a-", "A", "a_b", "a b", "a/b", strings.Repeat("e", 54),
		"ünïcode", "a.b.", "1.2.3",
	} {
		helmErr := chartutil.ValidateReleaseName(name)
		ourErr := validateRelease(&runnerv1.ReleaseRef{Name: name, Namespace: "default"})
		if (helmErr == nil) != (ourErr == nil) {
			t.Errorf("release name %q: Helm says %v, the runner says %v", name, helmErr, ourErr)
		}
	}
}
