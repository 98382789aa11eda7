package drift

import (
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Object
		wantErr failure.Reason
	}{
		{
			name: "a Helm manifest with source comments and empty documents keeps document order",
			in: `---
# Source: plain/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: r-plain
data:
  message: hello
---
# Source: plain/templates/empty.yaml
---

---
# Source: plain/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: r-plain
  namespace: other
spec:
  replicas: 1
`,
			want: []Object{
				{APIVersion: "v1", Kind: "ConfigMap", Name: "r-plain"},
				{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "other", Name: "r-plain"},
			},
		},
		{
			name: "a List is flattened into its items",
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: Secret
  metadata: {name: b}
`,
			want: []Object{
				{APIVersion: "v1", Kind: "ConfigMap", Name: "a"},
				{APIVersion: "v1", Kind: "Secret", Name: "b"},
			},
		},
		{name: "an empty manifest has no objects", in: "", want: nil},
		{name: "an object without a name is refused", in: "apiVersion: v1\nkind: ConfigMap\n", wantErr: failure.Internal},
		{name: "an object without a kind is refused", in: "apiVersion: v1\nmetadata: {name: a}\n", wantErr: failure.Internal},
		{name: "a scalar document is refused", in: "just text\n", wantErr: failure.Internal},
		{name: "broken YAML is refused", in: "apiVersion: v1\nkind: [ConfigMap\n", wantErr: failure.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := parseManifest(tt.in, failure.Internal)
			if tt.wantErr != "" {
				if got := failure.ReasonOf(err); got != tt.wantErr {
					t.Fatalf("reason = %q (err %v), want %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseManifest: %v", err)
			}
			var got []Object
			for _, o := range objs {
				got = append(got, identify(o))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("objects = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("object %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseManifestKeepsIntegers(t *testing.T) {
	objs, err := parseManifest("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: 3}\n", failure.Internal)
	if err != nil {
		t.Fatal(err)
	}
	// The dry-run result decodes numbers as int64; a float64 here would not compare equal.
	if got, ok := objs[0].Object["spec"].(map[string]any)["replicas"].(int64); !ok || got != 3 {
		t.Fatalf("replicas = %#v, want int64(3)", objs[0].Object["spec"].(map[string]any)["replicas"])
	}
}

func TestKeyOfIgnoresVersion(t *testing.T) {
	a := keyOf(Object{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler", Namespace: "n", Name: "x"})
	b := keyOf(Object{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Namespace: "n", Name: "x"})
	if a != b {
		t.Fatalf("keys differ across versions: %+v %+v", a, b)
	}
	if core := keyOf(Object{APIVersion: "v1", Kind: "Service", Name: "x"}); core.Group != "" {
		t.Fatalf("core group = %q, want empty", core.Group)
	}
}
