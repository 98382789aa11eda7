package redact

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Handler returns a handler that passes records on to next with every secret removed from the
// message and from every attribute value: strings, errors (their text) and any other value
// (formatted as text). Numbers, booleans, times and durations are passed on as they are. A nil
// *Secrets returns next.
func (s *Secrets) Handler(next slog.Handler) slog.Handler {
	if s == nil {
		return next
	}
	return scrubbingHandler{next: next, secrets: s}
}

type scrubbingHandler struct {
	next    slog.Handler
	secrets *Secrets
}

func (h scrubbingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h scrubbingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.secrets.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.scrub(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h scrubbingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		scrubbed[i] = h.scrub(a)
	}
	return scrubbingHandler{next: h.next.WithAttrs(scrubbed), secrets: h.secrets}
}

func (h scrubbingHandler) WithGroup(name string) slog.Handler {
	return scrubbingHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

func (h scrubbingHandler) scrub(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.secrets.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		scrubbed := make([]any, len(attrs))
		for i, ga := range attrs {
			scrubbed[i] = h.scrub(ga)
		}
		return slog.Group(a.Key, scrubbed...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.secrets.String(err.Error()))
		}
		return slog.String(a.Key, h.secrets.String(fmt.Sprintf("%+v", v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// secretKeyWords are parts of attribute keys that name secret material. Keys are compared in
// lower case without separators ('-', '_', '.', ' '), so "client-certificate-data",
// ".dockerconfigjson" and "apiKey" all match.
var secretKeyWords = []string{
	"password", "passwd", "secret", "token", "auth", "dockerconfigjson", "private", "credential",
	"certdata", "certificatedata", "keydata", "cadata",
}

// SecretKey reports whether an attribute key looks like it names secret material: a password,
// secret, token, authentication or authorization, docker config, private key, credential, key or
// certificate data.
func SecretKey(key string) bool {
	k := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(key))
	if strings.HasSuffix(k, "key") {
		return true
	}
	for _, w := range secretKeyWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// ReplaceSecretKeys is a slog.HandlerOptions.ReplaceAttr that replaces the value of every
// attribute whose key looks secret (SecretKey) by Marker: a safety net under the key-blind
// redaction of named secrets.
func ReplaceSecretKeys(_ []string, a slog.Attr) slog.Attr {
	if SecretKey(a.Key) {
		return slog.String(a.Key, Marker)
	}
	return a
}
