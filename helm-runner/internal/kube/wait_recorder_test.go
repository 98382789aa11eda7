package kube

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
)

// waitEnds records what a waiter reports, as "kind outcome".
type waitEnds struct {
	mu   sync.Mutex
	ends []string
}

func (w *waitEnds) WaitEnded(kind string, elapsed time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	outcome := "success"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	}
	if elapsed <= 0 {
		outcome += " without elapsed time"
	}
	w.ends = append(w.ends, kind+" "+outcome)
}

func (w *waitEnds) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.ends...)
}

// annotated is a mapped manifest object with Helm's hook annotation set to hook ("" none).
func annotated(gvk schema.GroupVersionKind, namespace, name, hook string) *resource.Info {
	i := info(gvk, namespace, name, true)
	if hook != "" {
		i.Object.(*unstructured.Unstructured).SetAnnotations(map[string]string{"helm.sh/hook": hook})
	}
	return i
}

func TestWaiterReportsEveryWaitByKindAndOutcome(t *testing.T) {
	const ns = "apps"
	phase := func(name, p string) *unstructured.Unstructured {
		return obj(podGVK, ns, name, map[string]any{"status": map[string]any{"phase": p}})
	}
	f := newFakeObjects()
	f.set("deployments", ns, "web", always(deployment(true)(ns, "web")))
	f.set("deployments", ns, "broken", always(failedDeployment(ns, "broken")))
	f.set("deployments", ns, "slow", always(deployment(false)(ns, "slow")))
	f.set("pods", ns, "pre", always(phase("pre", "Succeeded")))
	f.set("pods", ns, "pre-failing", always(phase("pre-failing", "Failed")))
	f.set("pods", ns, "test", always(phase("test", "Succeeded")))
	f.set("pods", ns, "old-test", always(phase("old-test", "Succeeded")))

	tests := []struct {
		name string
		wait func(w helmkube.Waiter) error
		want string
	}{
		{"a release's objects all ready", func(w helmkube.Waiter) error {
			return w.Wait(helmkube.ResourceList{annotated(deploymentGVK, ns, "web", "")}, time.Minute)
		}, "resources success"},
		{"a release's object failed", func(w helmkube.Waiter) error {
			return w.WaitWithJobs(helmkube.ResourceList{annotated(deploymentGVK, ns, "broken", "")}, time.Minute)
		}, "resources error"},
		{"a release's object not ready in time", func(w helmkube.Waiter) error {
			return w.Wait(helmkube.ResourceList{annotated(deploymentGVK, ns, "slow", "")}, 20*time.Millisecond)
		}, "resources timeout"},
		{"a hook that succeeded", func(w helmkube.Waiter) error {
			return w.WatchUntilReady(helmkube.ResourceList{annotated(podGVK, ns, "pre", "pre-install,pre-upgrade")}, time.Minute)
		}, "hooks success"},
		{"a hook that failed", func(w helmkube.Waiter) error {
			return w.WatchUntilReady(helmkube.ResourceList{annotated(podGVK, ns, "pre-failing", "pre-install")}, time.Minute)
		}, "hooks error"},
		{"a test that passed", func(w helmkube.Waiter) error {
			return w.WatchUntilReady(helmkube.ResourceList{annotated(podGVK, ns, "test", "test")}, time.Minute)
		}, "tests success"},
		{"a test of Helm 2's spelling", func(w helmkube.Waiter) error {
			return w.WatchUntilReady(helmkube.ResourceList{annotated(podGVK, ns, "old-test", " test-success")}, time.Minute)
		}, "tests success"},
		{"a hook deleted before it is created again", func(w helmkube.Waiter) error {
			return w.WaitForDelete(helmkube.ResourceList{annotated(configMapGVK, ns, "gone-hook", "pre-install")}, time.Minute)
		}, "hooks success"},
		{"a release's objects deleted at uninstall", func(w helmkube.Waiter) error {
			return w.WaitForDelete(helmkube.ResourceList{annotated(configMapGVK, ns, "gone", "")}, time.Minute)
		}, "resources success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &waitEnds{}
			w := testWaiter(f, nil)
			w.rec = rec
			_ = waitReturns(t, func() error { return tt.wait(w) })
			if got := rec.all(); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("recorded %q, want [%q]", got, tt.want)
			}
		})
	}

	t.Run("the hook-only strategy's waits that do nothing record nothing", func(t *testing.T) {
		rec := &waitEnds{}
		w := testWaiter(f, nil)
		w.rec = rec
		only := hooksOnly{w}
		list := helmkube.ResourceList{annotated(deploymentGVK, ns, "slow", "")}
		_ = only.Wait(list, time.Hour)
		_ = only.WaitWithJobs(list, time.Hour)
		_ = only.WaitForDelete(list, time.Hour)
		if err := only.WatchUntilReady(helmkube.ResourceList{annotated(podGVK, ns, "pre", "post-install")}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); len(got) != 1 || got[0] != "hooks success" {
			t.Fatalf("recorded %q, want only the hook's wait", got)
		}
	})
}
