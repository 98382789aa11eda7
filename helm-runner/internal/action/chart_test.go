package action

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

const configMapTemplate = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"

func TestSchemaReferencesOutsideTheChartAreRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"type":"object"}`))
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		schema string
		reason failure.Reason
	}{
		{"an http reference", `{"properties":{"a":{"$ref":"http://127.0.0.1:1/x.json"}}}`, failure.InvalidChart},
		{"a file reference", `{"$ref":"file:///etc/passwd"}`, failure.InvalidChart},
		{"a reference to a live server", `{"allOf":[{"$ref":"` + srv.URL + `/s.json"}]}`, failure.InvalidChart},
		{"a relative reference", `{"$id":"http://127.0.0.1:1/","$ref":"other.json"}`, failure.InvalidChart},
		{"an unknown dialect", `{"$schema":"` + srv.URL + `/meta.json"}`, failure.InvalidChart},
		{"a dynamic reference", `{"$dynamicRef":"` + srv.URL + `/d.json"}`, failure.InvalidChart},
		{"local references and a standard dialect are allowed",
			`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"n":{"type":"integer"}},"properties":{"a":{"$ref":"#/definitions/n"},"$ref":{"type":"string"}}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCluster()
			ch := memChart("schemed", "1.0.0", map[string]string{"cm.yaml": configMapTemplate})
			ch.Schema = []byte(tt.schema)
			res, err := Install(context.Background(), f.config(), InstallRequest{Name: "app", Chart: ch, Values: map[string]any{"a": 1.0}, Timeout: time.Minute})
			if failure.ReasonOf(err) != tt.reason {
				t.Fatalf("install: %v (%s), want %q", err, failure.ReasonOf(err), tt.reason)
			}
			if tt.reason != "" && len(res.Writes) != 0 {
				t.Fatalf("refused install wrote %+v", res.Writes)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the schema's server was called %d times", n)
	}
}

func TestSubchartSchemaReferencesAreRefused(t *testing.T) {
	parent := memChart("parent", "1.0.0", map[string]string{"cm.yaml": configMapTemplate})
	sub := memChart("sub", "1.0.0", nil)
	sub.Schema = []byte(`{"$ref":"file:///etc/passwd"}`)
	parent.AddDependency(sub)
	_, err := Install(context.Background(), newFakeCluster().config(), InstallRequest{Name: "app", Chart: parent, Timeout: time.Minute})
	if failure.ReasonOf(err) != failure.InvalidChart {
		t.Fatalf("install: %v", err)
	}
}

func TestSchemaViolationWritesNothing(t *testing.T) {
	f := newFakeCluster()
	res, err := Install(context.Background(), f.config(), InstallRequest{
		Name: "app", Chart: loadChart(t, "schema", "1.0.0"), Values: map[string]any{"replicaCount": 11.0}, Timeout: time.Minute,
	})
	if failure.ReasonOf(err) != failure.SchemaValidationFailed || len(res.Writes) != 0 {
		t.Fatalf("install: %v, writes %+v", err, res.Writes)
	}
	if msg := err.Error(); !strings.Contains(msg, "/replicaCount") {
		t.Fatalf("message %q does not name /replicaCount", msg)
	}
}
