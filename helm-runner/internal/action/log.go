package action

import (
	"context"
	"log/slog"
	"strings"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/redact"
)

// redactingHandler passes Helm's log records on without anything that may hold release values
// or credentials: attributes named like values, manifests or schemas, or like secret material
// (redact.SecretKey), are replaced by redact.Marker, and errors (whose texts may quote a value,
// as schema validation and API validation errors do) are replaced by their failure reason.
type redactingHandler struct{ next slog.Handler }

// redactedKeys are attribute keys whose values may contain release values or rendered objects.
var redactedKeys = map[string]bool{
	"values": true, "vals": true, "config": true, "manifest": true, "schema": true,
	"chart-values": true, "data": true, "stringdata": true,
}

func (h redactingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return redactingHandler{h.next.WithAttrs(red)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	if redactedKeys[strings.ToLower(a.Key)] || redact.SecretKey(a.Key) {
		return slog.String(a.Key, redact.Marker)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		red := make([]any, len(attrs))
		for i, ga := range attrs {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, "failure reason "+string(classify(err)))
		}
		if _, ok := v.Any().(map[string]any); ok {
			return slog.String(a.Key, redact.Marker)
		}
	}
	return a
}
