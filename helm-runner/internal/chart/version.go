package chart

import (
	"regexp"
	"strings"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// maxVersionLength is the longest version accepted: an OCI tag holds at most 128 characters.
const maxVersionLength = 128

// semver2 is the regular expression suggested by semver.org for SemVer 2.0.0: numeric
// identifiers without leading zeros, no `v` prefix, no partial versions.
var semver2 = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ValidateVersion accepts exactly one SemVer 2.0 version (MAJOR.MINOR.PATCH with optional
// pre-release and build parts). Ranges (`^1.2`, `~1`, `>=1.0.0`, `1.x`, `*`, `a || b`), `latest`,
// partial versions such as `1.2`, a `v` prefix and surrounding spaces fail with INVALID_VERSION
// and a message naming the offending version.
func ValidateVersion(v string) error {
	switch {
	case v == "":
		return failure.New(failure.InvalidVersion,
			"chart version is required: give one exact SemVer 2.0 version such as 1.2.3")
	case len(v) > maxVersionLength:
		return failure.New(failure.InvalidVersion,
			"chart version %q is longer than %d characters", shorten(v), maxVersionLength)
	case semver2.MatchString(v):
		return nil
	case strings.EqualFold(v, "latest"):
		return failure.New(failure.InvalidVersion,
			"chart version %q is not accepted: give one exact SemVer 2.0 version such as 1.2.3", v)
	case isRange(v):
		return failure.New(failure.InvalidVersion,
			"chart version %q is a range: give one exact SemVer 2.0 version such as 1.2.3", v)
	default:
		return failure.New(failure.InvalidVersion,
			"chart version %q is not an exact SemVer 2.0 version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], no \"v\" prefix)", v)
	}
}

// isRange reports whether v uses the syntax of a version constraint, to say so in the message.
func isRange(v string) bool {
	if strings.ContainsAny(v, "^~<>=!*| ,") {
		return true
	}
	core, _, _ := strings.Cut(v, "-")
	core, _, _ = strings.Cut(core, "+")
	for part := range strings.SplitSeq(core, ".") {
		if part == "x" || part == "X" {
			return true
		}
	}
	return false
}

// shorten keeps user-supplied text short enough for an error message.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
