package action

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactingHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redactingHandler{slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})

	log.With("password", "pw-1").Debug("pulling chart",
		"values", map[string]any{"db": "v-2"},
		"manifest", "kind: Secret v-3",
		"token", "tok-4",
		"Authorization", "Bearer tok-5",
		".dockerconfigjson", `{"auths":{"r":{"auth":"dXNlcjpwYXNz"}}}`,
		"apiKey", "key-6",
		"client-certificate-data", "cert-7",
		slog.Group("repo", "url", "oci://registry.example", "credentials", "cred-8"),
		"error", errors.New(`ConfigMap "x" is invalid: Invalid value: "v-9"`),
		"release", "web",
	)

	out := buf.String()
	for _, leaked := range []string{"pw-1", "v-2", "v-3", "tok-4", "tok-5", "dXNlcjpwYXNz", "key-6", "cert-7", "cred-8", "v-9"} {
		if strings.Contains(out, leaked) {
			t.Errorf("log line holds %q: %s", leaked, out)
		}
	}
	for _, kept := range []string{`"release":"web"`, `"url":"oci://registry.example"`, `"error":"failure reason KUBERNETES_API_ERROR"`, `"password":"[REDACTED]"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("log line lacks %s: %s", kept, out)
		}
	}
}
