package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	const secret = `p<a>s&s "w" 0rd\é`
	jsonOf := func(v string) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(string(b), `"`)
	}
	tests := []struct {
		name    string
		secrets []string
		text    string
		want    string
	}{
		{"the raw value is removed", []string{secret}, "execution error at (web/templates/cm.yaml:1:3): " + secret,
			"execution error at (web/templates/cm.yaml:1:3): [REDACTED]"},
		{"every occurrence is removed", []string{"hunter2"}, "hunter2, hunter2 and hunter2!",
			"[REDACTED], [REDACTED] and [REDACTED]!"},
		{"the JSON-escaped value is removed", []string{secret}, `{"data":{"k":"` + jsonOf(secret) + `"}}`,
			`{"data":{"k":"[REDACTED]"}}`},
		{"the Go-quoted value is removed, as the API server quotes invalid values",
			[]string{secret}, "metadata.labels: Invalid value: " + strconv.Quote(secret) + ": a valid label must be",
			`metadata.labels: Invalid value: "[REDACTED]": a valid label must be`},
		{"the ASCII Go-quoted value is removed", []string{secret}, "value " + strconv.QuoteToASCII(secret),
			`value "[REDACTED]"`},
		{"the base64 encoding is removed, as a Secret's data holds it", []string{secret},
			"data.password: " + base64.StdEncoding.EncodeToString([]byte(secret)), "data.password: [REDACTED]"},
		{"a secret containing another is removed whole", []string{"token", "my-token-value"},
			"got my-token-value and a token", "got [REDACTED] and a [REDACTED]"},
		{"overlapping secrets leave no part of either", []string{"abcd", "cdef"}, "xx abcdef yy", "xx [REDACTED] yy"},
		{"a secret that overlaps itself is removed whole", []string{"aa"}, "baaab", "b[REDACTED]b"},
		{"empty strings are ignored", []string{"", "x1"}, "x1 y", "[REDACTED] y"},
		{"text without a secret is unchanged", []string{"hunter2"}, "release apps/web failed", "release apps/web failed"},
		{"nothing to remove leaves the text", nil, "hunter2", "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(tt.secrets).String(tt.text); got != tt.want {
				t.Fatalf("String(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestNewWithNothingToRemoveIsNil(t *testing.T) {
	if s := New([]string{"", ""}); s != nil {
		t.Fatalf("New of empty strings = %+v, want nil", s)
	}
	var s *Secrets
	if s.String("anything") != "anything" {
		t.Fatal("a nil *Secrets must remove nothing")
	}
}

// BenchmarkString scrubs a 64 KiB text (a large drift report or error) of 20 secrets.
func BenchmarkString(b *testing.B) {
	var values []string
	for i := range 20 {
		values = append(values, fmt.Sprintf("secret-value-%02d", i))
	}
	s := New(values)
	text := strings.Repeat("an error text without anything secret in it; ", 64<<10/46) + values[7]
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.String(text)
	}
}
