package server

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	runnerv1 "github.com/project-planton/helm-release-controller/helm-runner/gen/planton/helmrunner/v1"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestValidateRelease(t *testing.T) {
	tests := []struct {
		name    string
		ref     *runnerv1.ReleaseRef
		wantErr string
	}{
		{"a plain release is valid", &runnerv1.ReleaseRef{Name: "web", Namespace: "apps"}, ""},
		{"dots are allowed in release names", &runnerv1.ReleaseRef{Name: "web.v2", Namespace: "apps"}, ""},
		{"missing release", nil, "release is required"},
		{"empty name", &runnerv1.ReleaseRef{Namespace: "apps"}, "release name"},
		{"54 characters is too long", &runnerv1.ReleaseRef{Name: strings.Repeat("a", 54), Namespace: "apps"}, "at most 53"},
		{"uppercase is refused", &runnerv1.ReleaseRef{Name: "Web", Namespace: "apps"}, "release name"},
		{"bad namespace", &runnerv1.ReleaseRef{Name: "web", Namespace: "Apps_1"}, "namespace"},
		{"bad service account", &runnerv1.ReleaseRef{Name: "web", Namespace: "apps", ServiceAccountName: "a/b"}, "service account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateRelease(tt.ref)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || failure.ReasonOf(err) != failure.InvalidArgument {
				t.Fatalf("error = %v, want INVALID_ARGUMENT containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateTimeout(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 5 * time.Minute, time.Hour} {
		if got, err := validateTimeout(durationpb.New(d)); err != nil || got != d {
			t.Errorf("timeout %s: got %s, %v", d, got, err)
		}
	}
	for _, d := range []time.Duration{0, 999 * time.Millisecond, time.Hour + time.Second} {
		if _, err := validateTimeout(durationpb.New(d)); err == nil || !strings.Contains(err.Error(), "between 1s and 1h") {
			t.Errorf("timeout %s: error %v, want out of bounds", d, err)
		}
	}
	if _, err := validateTimeout(nil); err == nil {
		t.Error("a missing timeout must be refused")
	}
}

func TestValuesOf(t *testing.T) {
	v, _ := structpb.NewStruct(map[string]any{"message": "hi", "replicaCount": 2})
	got, err := valuesOf(v, 1<<20)
	if err != nil || got["message"] != "hi" || got["replicaCount"] != float64(2) {
		t.Fatalf("values = %v, %v", got, err)
	}
	big, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 2048)})
	if _, err := valuesOf(big, 1024); failure.ReasonOf(err) != failure.InvalidValues || !strings.Contains(err.Error(), "limit of 1024") {
		t.Fatalf("oversized values: %v", err)
	}
	if got, err := valuesOf(nil, 10); err != nil || len(got) != 0 {
		t.Fatalf("absent values: %v, %v", got, err)
	}
}
