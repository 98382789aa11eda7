// Package redact removes secret strings from what the runner says about a call: error texts,
// outcomes, test details, drift reports and log lines. The reconciler names the strings (the
// values that came from Secrets, ReleaseRef.redact); Helm and the Kubernetes API server may quote
// them in their errors, raw or escaped, so every form in which they can be quoted is removed.
package redact

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Marker replaces every occurrence of a secret.
const Marker = "[REDACTED]"

// Secrets is the set of strings that must not appear in anything said about one call. A nil
// *Secrets removes nothing. It is safe for concurrent use.
type Secrets struct {
	// patterns are every form of every secret, unique, longest first.
	patterns []string
}

// New returns the Secrets that remove each non-empty string of values and the forms in which an
// error can quote it: its JSON string escape (json.Marshal, with and without HTML escaping, less
// the quotes), its Go quoting (strconv.Quote and QuoteToASCII, less the quotes; the API server
// quotes invalid values with %q) and its standard base64 encoding (a Secret's data). New returns
// nil when there is nothing to remove.
func New(values []string) *Secrets {
	seen := map[string]bool{}
	var patterns []string
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, form := range formsOf(v) {
			if form != "" && !seen[form] {
				seen[form] = true
				patterns = append(patterns, form)
			}
		}
	}
	if len(patterns) == 0 {
		return nil
	}
	slices.SortFunc(patterns, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	return &Secrets{patterns: patterns}
}

func formsOf(v string) []string {
	return []string{
		v,
		jsonEscaped(v, true),
		jsonEscaped(v, false),
		unquote(strconv.Quote(v)),
		unquote(strconv.QuoteToASCII(v)),
		base64.StdEncoding.EncodeToString([]byte(v)),
	}
}

// jsonEscaped is v as the inside of a JSON string.
func jsonEscaped(v string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return unquote(strings.TrimSuffix(buf.String(), "\n"))
}

func unquote(quoted string) string {
	return strings.TrimSuffix(strings.TrimPrefix(quoted, `"`), `"`)
}

// String returns text with every occurrence of a secret replaced by Marker. Occurrences that
// overlap or nest (one secret containing another, or two sharing characters) are replaced as
// one, so that no part of either is left.
func (s *Secrets) String(text string) string {
	if s == nil || text == "" {
		return text
	}
	spans := s.find(text)
	if len(spans) == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	last := 0
	for _, sp := range spans {
		b.WriteString(text[last:sp.start])
		b.WriteString(Marker)
		last = sp.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// span is a byte range [start, end) of a text.
type span struct{ start, end int }

// find returns the ranges of text covered by secrets, sorted, with overlapping ones merged.
func (s *Secrets) find(text string) []span {
	var found []span
	for _, p := range s.patterns {
		for from := 0; from < len(text); {
			i := strings.Index(text[from:], p)
			if i < 0 {
				break
			}
			found = append(found, span{from + i, from + i + len(p)})
			from += i + 1
		}
	}
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	merged := found[:1]
	for _, sp := range found[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}
