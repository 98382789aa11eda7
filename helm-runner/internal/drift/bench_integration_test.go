//go:build integration

package drift

import (
	"fmt"
	"strings"
	"testing"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// BenchmarkDetect10Objects measures one Detect of a 10-object release with nothing drifted:
// 10 GETs and 10 dry-run applies, 8 at a time, with a warm mapper.
func BenchmarkDetect10Objects(b *testing.B) {
	env := testenv.Load(b)
	c := newCluster(b, env, "")
	ns := namespace(b, c, "bench")
	rel := Release{Name: "bench", Namespace: ns}
	manifest := tenObjects()
	applyAsHelm(b, c, rel, manifest)
	ctx := testContext(b)

	for b.Loop() {
		report, err := Detect(ctx, c, rel, manifest, nil)
		if err != nil {
			b.Fatalf("Detect: %v", err)
		}
		if report.ObjectsChecked != 10 || len(report.Drifted) != 0 {
			b.Fatalf("report = %+v, want 10 checked, none drifted", report)
		}
	}
}

// tenObjects is a manifest of 4 ConfigMaps, 2 Secrets, 2 Services and 2 Deployments.
func tenObjects() string {
	var docs []string
	for i := range 4 {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n", i, i))
	}
	for i := range 2 {
		docs = append(docs,
			fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-%d\nstringData:\n  password: p-%d\n", i, i),
			fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\nspec:\n  selector: {app: a%d}\n  ports:\n  - port: 80\n", i, i),
			fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: d-%d
spec:
  replicas: 1
  selector: {matchLabels: {app: a%d}}
  template:
    metadata: {labels: {app: a%d}}
    spec:
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers: [{name: app, image: pause:3.10}]
`, i, i, i))
	}
	return "---\n" + strings.Join(docs, "---\n")
}
