package drift

import (
	"strings"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// formatPointer returns the RFC 6901 JSON pointer of a path given as unescaped tokens.
func formatPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// parsePointer returns the unescaped tokens of an RFC 6901 JSON pointer. "" is the whole
// document (no tokens). "~1" is decoded before "~0", as the RFC requires, so "~01" is "~1".
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, failure.New(failure.InvalidArgument, "ignore path %q is not a JSON pointer: it must start with /", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		if strings.Contains(strings.NewReplacer("~0", "", "~1", "").Replace(t), "~") {
			return nil, failure.New(failure.InvalidArgument, "ignore path %q has a ~ not followed by 0 or 1", p)
		}
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// hasPrefix reports whether path is prefix itself or lies below it.
func hasPrefix(path, prefix []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i := range prefix {
		if path[i] != prefix[i] {
			return false
		}
	}
	return true
}

// ignorer holds the parsed ignore rules of one call.
type ignorer struct {
	rules []compiledRule
}

type compiledRule struct {
	selector IgnoreRule
	paths    [][]string
}

// newIgnorer validates every path of rules; an invalid pointer fails with INVALID_ARGUMENT.
func newIgnorer(rules []IgnoreRule) (ignorer, error) {
	var ig ignorer
	for _, r := range rules {
		cr := compiledRule{selector: r}
		for _, p := range r.Paths {
			tokens, err := parsePointer(p)
			if err != nil {
				return ignorer{}, err
			}
			cr.paths = append(cr.paths, tokens)
		}
		ig.rules = append(ig.rules, cr)
	}
	return ig, nil
}

// pathsFor returns the ignored paths that apply to obj.
func (ig ignorer) pathsFor(obj Object) [][]string {
	var out [][]string
	for _, r := range ig.rules {
		if selects(r.selector, obj) {
			out = append(out, r.paths...)
		}
	}
	return out
}

// selects reports whether every non-empty selector field of rule matches obj. Group and
// Version are those of obj's apiVersion ("" is the core group, which an empty Group also
// matches as it matches any).
func selects(rule IgnoreRule, obj Object) bool {
	version := obj.APIVersion
	if i := strings.LastIndex(version, "/"); i >= 0 {
		version = version[i+1:]
	}
	return matches(rule.Group, groupOf(obj.APIVersion)) &&
		matches(rule.Version, version) &&
		matches(rule.Kind, obj.Kind) &&
		matches(rule.Name, obj.Name) &&
		matches(rule.Namespace, obj.Namespace)
}

func matches(want, got string) bool { return want == "" || want == got }

// covered reports whether path lies at or below one of ignored.
func covered(path []string, ignored [][]string) bool {
	for _, p := range ignored {
		if hasPrefix(path, p) {
			return true
		}
	}
	return false
}
