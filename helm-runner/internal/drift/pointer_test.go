package drift

import (
	"slices"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestPointerEscaping(t *testing.T) {
	tests := []struct {
		name    string
		pointer string
		tokens  []string
	}{
		{"the whole document", "", nil},
		{"plain tokens", "/spec/replicas", []string{"spec", "replicas"}},
		{"a slash in a key is ~1", "/metadata/annotations/meta.helm.sh~1release-name", []string{"metadata", "annotations", "meta.helm.sh/release-name"}},
		{"a tilde in a key is ~0", "/data/a~0b", []string{"data", "a~b"}},
		{"~01 is a literal ~1, not a slash", "/data/~01", []string{"data", "~1"}},
		{"an empty key", "/data/", []string{"data", ""}},
		{"an array index", "/spec/template/spec/containers/0/image", []string{"spec", "template", "spec", "containers", "0", "image"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePointer(tt.pointer)
			if err != nil {
				t.Fatalf("parsePointer(%q): %v", tt.pointer, err)
			}
			if !slices.Equal(got, tt.tokens) {
				t.Fatalf("parsePointer(%q) = %q, want %q", tt.pointer, got, tt.tokens)
			}
			if back := formatPointer(tt.tokens); back != tt.pointer {
				t.Fatalf("formatPointer(%q) = %q, want %q", tt.tokens, back, tt.pointer)
			}
		})
	}
}

func TestParsePointerRefusesMalformed(t *testing.T) {
	for _, p := range []string{"spec/replicas", "/data/a~2", "/data/a~"} {
		t.Run(p, func(t *testing.T) {
			if _, err := parsePointer(p); failure.ReasonOf(err) != failure.InvalidArgument {
				t.Fatalf("parsePointer(%q) error = %v, want INVALID_ARGUMENT", p, err)
			}
		})
	}
}

func TestCovered(t *testing.T) {
	ignored := [][]string{{"spec", "replicas"}, {"metadata", "labels", "a/b"}}
	tests := []struct {
		name string
		path []string
		want bool
	}{
		{"the path itself", []string{"spec", "replicas"}, true},
		{"below the path", []string{"metadata", "labels", "a/b", "x"}, true},
		{"a sibling with the same prefix text", []string{"spec", "replicasMax"}, false},
		{"the parent", []string{"spec"}, false},
		{"unrelated", []string{"data", "message"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := covered(tt.path, ignored); got != tt.want {
				t.Fatalf("covered(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestIgnoreRuleSelection(t *testing.T) {
	deploy := Object{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns", Name: "web"}
	service := Object{APIVersion: "v1", Kind: "Service", Namespace: "ns", Name: "web"}
	tests := []struct {
		name string
		rule IgnoreRule
		obj  Object
		want bool
	}{
		{"an empty selector selects everything", IgnoreRule{}, service, true},
		{"kind matches", IgnoreRule{Kind: "Deployment"}, deploy, true},
		{"kind differs", IgnoreRule{Kind: "Deployment"}, service, false},
		{"group comes from apiVersion", IgnoreRule{Group: "apps"}, deploy, true},
		{"the core group is not apps", IgnoreRule{Group: "apps"}, service, false},
		{"version comes from apiVersion", IgnoreRule{Group: "apps", Version: "v1"}, deploy, true},
		{"a core version matches", IgnoreRule{Version: "v1", Kind: "Service"}, service, true},
		{"version differs", IgnoreRule{Version: "v1beta1"}, deploy, false},
		{"all fields must match", IgnoreRule{Kind: "Deployment", Name: "web", Namespace: "other"}, deploy, false},
		{"name and namespace match", IgnoreRule{Kind: "Deployment", Name: "web", Namespace: "ns"}, deploy, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := selects(tt.rule, tt.obj); got != tt.want {
				t.Fatalf("selects(%+v, %+v) = %v, want %v", tt.rule, tt.obj, got, tt.want)
			}
		})
	}
}

func TestIgnorerPathsFor(t *testing.T) {
	ig, err := newIgnorer([]IgnoreRule{
		{Kind: "Deployment", Paths: []string{"/spec/replicas"}},
		{Paths: []string{"/metadata/labels/team"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ig.pathsFor(Object{APIVersion: "v1", Kind: "ConfigMap", Name: "c"})
	if len(got) != 1 || !slices.Equal(got[0], []string{"metadata", "labels", "team"}) {
		t.Fatalf("paths for a ConfigMap = %q, want only the label rule", got)
	}
	if _, err := newIgnorer([]IgnoreRule{{Paths: []string{"spec"}}}); failure.ReasonOf(err) != failure.InvalidArgument {
		t.Fatalf("a rule with a malformed path: err = %v, want INVALID_ARGUMENT", err)
	}
}
