package main

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults serve on the unix socket", nil, ""},
		{"loopback TCP is allowed", []string{"--listen-tcp", "127.0.0.1:0"}, ""},
		{"localhost TCP is allowed", []string{"--listen-tcp", "localhost:9443"}, ""},
		{"a public TCP address is refused", []string{"--listen-tcp", "0.0.0.0:9443"}, "only loopback"},
		{"nothing to serve on is refused", []string{"--socket", ""}, "nothing to serve on"},
		{"stray arguments are refused", []string{"extra"}, "unexpected arguments"},
		{"an unknown flag is refused", []string{"--nope"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
