package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestLoggerRedactsSecretLookingKeys(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("pulling chart", "repo", "oci://registry.example/charts", "password", "pw-1", "dockerConfigJSON", "dc-2")

	out := buf.String()
	if strings.Contains(out, "pw-1") || strings.Contains(out, "dc-2") {
		t.Fatalf("log line holds a credential: %s", out)
	}
	if !strings.Contains(out, `"repo":"oci://registry.example/charts"`) || !strings.Contains(out, `"password":"[REDACTED]"`) {
		t.Fatalf("log line = %s, want the repository kept and the password redacted", out)
	}
}
