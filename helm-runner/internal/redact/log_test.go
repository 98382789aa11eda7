package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	const secret = `hunter "2"`
	var buf bytes.Buffer
	log := slog.New(New([]string{secret}).Handler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))

	log.With("op", "install "+secret).WithGroup("helm").Debug("render failed: "+secret,
		"error", errors.New("execution error: "+secret),
		"detail", "Invalid value: "+strconv.Quote(secret),
		slog.Group("object", "name", "web", "note", secret),
		"any", []string{"x", secret},
		"revision", 3,
	)

	out := buf.String()
	if strings.Contains(out, "hunter") {
		t.Fatalf("log line holds the secret: %s", out)
	}
	for _, want := range []string{
		`"msg":"render failed: [REDACTED]"`, `"op":"install [REDACTED]"`, `"error":"execution error: [REDACTED]"`,
		`"detail":"Invalid value: \"[REDACTED]\""`, `"object":{"name":"web","note":"[REDACTED]"}`,
		`"any":"[x [REDACTED]]"`, `"revision":3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %s lacks %s", out, want)
		}
	}
}

func TestHandlerWithNothingToRemoveIsTheNextHandler(t *testing.T) {
	next := slog.NewTextHandler(&bytes.Buffer{}, nil)
	if h := New(nil).Handler(next); h != next {
		t.Fatalf("Handler = %T, want the next handler itself", h)
	}
}

func TestSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "Password": true, "db_password": true, "secret": true, "clientSecret": true,
		"token": true, "bearer-token": true, "auth": true, "Authorization": true, "basicAuth": true,
		".dockerconfigjson": true, "dockerconfigjson": true, "key": true, "apiKey": true, "tls.key": true,
		"private": true, "privateKeyPem": true, "credentials": true, "client-certificate-data": true,
		"certData": true, "keyData": true, "caData": true,
		"release": false, "op": false, "revision": false, "reason": false, "error": false, "name": false,
		"namespace": false, "kind": false, "keys": false, "status": false,
	} {
		if got := SecretKey(key); got != want {
			t.Errorf("SecretKey(%q) = %t, want %t", key, got, want)
		}
	}
}

func TestReplaceSecretKeys(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ReplaceSecretKeys}))
	log.With("token", "abc123").Info("pulled", "repo", "oci://r", slog.Group("auth", "password", "pw1"), "Authorization", "Basic eHl6")

	out := buf.String()
	for _, leaked := range []string{"abc123", "pw1", "eHl6"} {
		if strings.Contains(out, leaked) {
			t.Errorf("log line %s holds %q", out, leaked)
		}
	}
	for _, want := range []string{`"token":"[REDACTED]"`, `"password":"[REDACTED]"`, `"repo":"oci://r"`, `"msg":"pulled"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %s lacks %s", out, want)
		}
	}
}
