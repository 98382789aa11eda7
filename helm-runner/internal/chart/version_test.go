package chart

import (
	"strings"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestValidateVersion(t *testing.T) {
	accepted := []string{"1.0.0", "0.0.0", "10.20.30", "1.2.3-rc.1", "1.2.3-alpha.0.beta", "1.2.3+build.5", "1.2.3-alpha+001", "1.0.0-x-y-z.-"}
	for _, v := range accepted {
		t.Run("exact version "+v+" is accepted", func(t *testing.T) {
			if err := ValidateVersion(v); err != nil {
				t.Fatalf("ValidateVersion(%q) = %v", v, err)
			}
		})
	}
	refused := []struct {
		name, version, says string
	}{
		{"empty", "", "required"},
		{"latest", "latest", `"latest"`},
		{"caret range", "^1.2.0", "range"},
		{"tilde range", "~1", "range"},
		{"greater or equal", ">=1.0.0", "range"},
		{"less than", "<2.0.0", "range"},
		{"x wildcard", "1.x", "range"},
		{"patch wildcard", "1.2.x", "range"},
		{"star", "*", "range"},
		{"or", "1.0.0 || 2.0.0", "range"},
		{"hyphen range", "1.0.0 - 2.0.0", "range"},
		{"equals prefix", "=1.0.0", "range"},
		{"partial major.minor", "1.2", `"1.2"`},
		{"partial major", "1", `"1"`},
		{"v prefix", "v1.2.3", `"v1.2.3"`},
		{"leading zero", "01.2.3", `"01.2.3"`},
		{"numeric pre-release with leading zero", "1.2.3-01", `"1.2.3-01"`},
		{"trailing space", "1.2.3 ", "range"},
		{"empty build", "1.2.3+", `"1.2.3+"`},
		{"too long", "1.0.0-" + strings.Repeat("a", 200), "longer than 128"},
	}
	for _, tt := range refused {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			wantReason(t, ValidateVersion(tt.version), failure.InvalidVersion, tt.says)
		})
	}
}
