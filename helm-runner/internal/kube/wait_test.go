package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
)

// fakeObjects is a fake dynamic client whose GETs answer from per-object functions of how many
// times the object was read before.
type fakeObjects struct {
	*dynamicfake.FakeDynamicClient
	mu      sync.Mutex
	objects map[string]func(reads int) (*unstructured.Unstructured, error)
	reads   map[string]int
	verbs   map[string]int
}

func newFakeObjects() *fakeObjects {
	f := &fakeObjects{
		FakeDynamicClient: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()),
		objects:           map[string]func(int) (*unstructured.Unstructured, error){},
		reads:             map[string]int{},
		verbs:             map[string]int{},
	}
	f.PrependReactor("*", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.verbs[a.GetVerb()]++
		get, ok := a.(clienttesting.GetAction)
		if !ok {
			return true, nil, fmt.Errorf("unexpected %s", a.GetVerb())
		}
		key := a.GetResource().Resource + "/" + a.GetNamespace() + "/" + get.GetName()
		fn, ok := f.objects[key]
		if !ok {
			return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), get.GetName())
		}
		n := f.reads[key]
		f.reads[key]++
		obj, err := fn(n)
		if obj == nil && err == nil {
			err = apierrors.NewNotFound(a.GetResource().GroupResource(), get.GetName())
		}
		return true, obj, err
	})
	return f
}

// set makes GETs of resource namespace/name answer fn(number of earlier reads).
func (f *fakeObjects) set(resource, namespace, name string, fn func(reads int) (*unstructured.Unstructured, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[resource+"/"+namespace+"/"+name] = fn
}

func (f *fakeObjects) readsOf(resource, namespace, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[resource+"/"+namespace+"/"+name]
}

func (f *fakeObjects) onlyGets(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for verb, n := range f.verbs {
		if verb != "get" {
			t.Errorf("%d %s requests; the waiter must only GET objects by name", n, verb)
		}
	}
}

var (
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	configMapGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	serviceGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	jobGVK        = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	podGVK        = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	namespaceGVK  = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	widgetGVK     = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
)

// testMapper maps the kinds used by these tests.
func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{deploymentGVK, configMapGVK, serviceGVK, jobGVK, podGVK, widgetGVK} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	m.Add(namespaceGVK, meta.RESTScopeRoot)
	return m
}

func obj(gvk schema.GroupVersionKind, namespace, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// info is a manifest object as Helm's Build returns it, with its REST mapping when mapped.
func info(gvk schema.GroupVersionKind, namespace, name string, mapped bool) *resource.Info {
	i := &resource.Info{Namespace: namespace, Name: name, Object: obj(gvk, namespace, name, nil)}
	if mapped {
		m, err := testMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			panic(err)
		}
		i.Mapping = m
	}
	return i
}

func deployment(available bool) func(string, string) *unstructured.Unstructured {
	return func(namespace, name string) *unstructured.Unstructured {
		st := map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1)}
		conds := []any{map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}}
		if available {
			st["readyReplicas"], st["availableReplicas"] = int64(1), int64(1)
			conds = append(conds, map[string]any{"type": "Available", "status": "True"})
		}
		st["conditions"] = conds
		u := obj(deploymentGVK, namespace, name, map[string]any{"spec": map[string]any{"replicas": int64(1)}, "status": st})
		u.SetGeneration(1)
		return u
	}
}

func failedDeployment(namespace, name string) *unstructured.Unstructured {
	u := deployment(false)(namespace, name)
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{
		"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
	}}, "status", "conditions")
	return u
}

func always(u *unstructured.Unstructured) func(int) (*unstructured.Unstructured, error) {
	return func(int) (*unstructured.Unstructured, error) { return u, nil }
}

// testWaiter polls the fake every millisecond or two.
func testWaiter(f *fakeObjects, ctx context.Context) *waiter {
	w := newWaiter(f, testMapper(), ctx, nil)
	w.initial, w.max = time.Millisecond, 2*time.Millisecond
	return w
}

// waitReturns runs wait and returns its error; it fails the test when wait has not returned
// after a generous deadline.
func waitReturns(t *testing.T, wait func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the wait did not return")
		return nil
	}
}

func TestWaitReady(t *testing.T) {
	const ns = "apps"
	t.Run("objects that become ready after some polls end the wait", func(t *testing.T) {
		f := newFakeObjects()
		f.set("configmaps", ns, "cfg", always(obj(configMapGVK, ns, "cfg", nil)))
		f.set("deployments", ns, "web", func(reads int) (*unstructured.Unstructured, error) {
			return deployment(reads >= 3)(ns, "web"), nil
		})
		f.set("services", ns, "web", func(reads int) (*unstructured.Unstructured, error) {
			if reads < 2 {
				return nil, nil // not created yet
			}
			return obj(serviceGVK, ns, "web", nil), nil
		})
		err := testWaiter(f, nil).Wait(helmkube.ResourceList{
			info(configMapGVK, ns, "cfg", true), info(deploymentGVK, ns, "web", true), info(serviceGVK, ns, "web", false),
		}, time.Minute)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if n := f.readsOf("deployments", ns, "web"); n < 4 {
			t.Fatalf("the deployment was read %d times; it is ready from the fourth read on", n)
		}
		f.onlyGets(t)
	})
	t.Run("a Failed object ends the wait with its message", func(t *testing.T) {
		f := newFakeObjects()
		f.set("deployments", ns, "web", always(failedDeployment(ns, "web")))
		f.set("deployments", ns, "slow", always(deployment(false)(ns, "slow")))
		err := testWaiter(f, nil).Wait(helmkube.ResourceList{
			info(deploymentGVK, ns, "slow", true), info(deploymentGVK, ns, "web", true),
		}, time.Hour)
		want := "resource Deployment/apps/web not ready. status: Failed, message: Progress deadline exceeded"
		if err == nil || err.Error() != want {
			t.Fatalf("Wait = %v, want %q", err, want)
		}
	})
	t.Run("a timeout names each object not ready with its status", func(t *testing.T) {
		f := newFakeObjects()
		f.set("configmaps", ns, "cfg", always(obj(configMapGVK, ns, "cfg", nil)))
		f.set("deployments", ns, "web", always(deployment(false)(ns, "web")))
		err := testWaiter(f, nil).Wait(helmkube.ResourceList{
			info(configMapGVK, ns, "cfg", true), info(deploymentGVK, ns, "web", true), info(serviceGVK, ns, "missing", true),
		}, 50*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want a deadline", err)
		}
		msg := err.Error()
		for _, want := range []string{
			"resource Deployment/apps/web not ready. status: InProgress, message: Available: 0/1",
			"resource Service/apps/missing not ready. status: NotFound, message: Resource not found",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		}
		if strings.Contains(msg, "cfg") {
			t.Errorf("error %q names the ready ConfigMap", msg)
		}
	})
	t.Run("cancelling the wait context ends the wait", func(t *testing.T) {
		f := newFakeObjects()
		f.set("deployments", ns, "web", always(deployment(false)(ns, "web")))
		ctx, cancel := context.WithCancel(context.Background())
		w := newWaiter(f, testMapper(), ctx, nil) // the real intervals
		go func() {
			for f.readsOf("deployments", ns, "web") < 2 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		err := waitReturns(t, func() error { return w.Wait(helmkube.ResourceList{info(deploymentGVK, ns, "web", true)}, time.Hour) })
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "Deployment/apps/web not ready") {
			t.Fatalf("Wait = %v, want cancelled naming the deployment", err)
		}
	})
	t.Run("a wait whose context has already ended reads nothing", func(t *testing.T) {
		f := newFakeObjects()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := testWaiter(f, ctx).Wait(helmkube.ResourceList{info(configMapGVK, ns, "cfg", true)}, time.Minute)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "resource ConfigMap/apps/cfg not ready. status: Unknown") {
			t.Fatalf("Wait = %v", err)
		}
	})
	t.Run("an object that cannot be read for lack of permission ends the wait", func(t *testing.T) {
		f := newFakeObjects()
		f.set("deployments", ns, "web", func(int) (*unstructured.Unstructured, error) {
			return nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("no RBAC"))
		})
		err := testWaiter(f, nil).Wait(helmkube.ResourceList{info(deploymentGVK, ns, "web", true)}, time.Hour)
		if !apierrors.IsForbidden(err) {
			t.Fatalf("Wait = %v, want Forbidden", err)
		}
	})
	t.Run("other read errors are retried", func(t *testing.T) {
		f := newFakeObjects()
		f.set("configmaps", ns, "cfg", func(reads int) (*unstructured.Unstructured, error) {
			if reads < 2 {
				return nil, apierrors.NewServiceUnavailable("etcd is slow")
			}
			return obj(configMapGVK, ns, "cfg", nil), nil
		})
		if err := testWaiter(f, nil).Wait(helmkube.ResourceList{info(configMapGVK, ns, "cfg", true)}, time.Minute); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	})
	t.Run("success needs every object Current in one round", func(t *testing.T) {
		f := newFakeObjects()
		// The custom object is ready at first, regresses, then is ready again.
		f.set("widgets", ns, "w", func(reads int) (*unstructured.Unstructured, error) {
			ready := "True"
			if reads == 1 {
				ready = "False"
			}
			return obj(widgetGVK, ns, "w", map[string]any{"status": map[string]any{
				"conditions": []any{map[string]any{"type": "Ready", "status": ready}},
			}}), nil
		})
		f.set("deployments", ns, "web", func(reads int) (*unstructured.Unstructured, error) {
			return deployment(reads >= 1)(ns, "web"), nil
		})
		err := testWaiter(f, nil).Wait(helmkube.ResourceList{info(widgetGVK, ns, "w", true), info(deploymentGVK, ns, "web", true)}, time.Minute)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if n := f.readsOf("widgets", ns, "w"); n < 3 {
			t.Fatalf("the object was read %d times: it was not read again after it was seen not ready", n)
		}
	})
	t.Run("paused Deployments are not waited for", func(t *testing.T) {
		f := newFakeObjects()
		i := info(deploymentGVK, ns, "paused", true)
		_ = unstructured.SetNestedField(i.Object.(*unstructured.Unstructured).Object, true, "spec", "paused")
		if err := testWaiter(f, nil).Wait(helmkube.ResourceList{i}, time.Minute); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if n := f.readsOf("deployments", ns, "paused"); n != 0 {
			t.Fatalf("the paused deployment was read %d times", n)
		}
	})
	t.Run("cluster-scoped objects are read without a namespace", func(t *testing.T) {
		f := newFakeObjects()
		f.set("namespaces", "", "team", always(obj(namespaceGVK, "", "team", map[string]any{"status": map[string]any{"phase": "Active"}})))
		// Build gives cluster-scoped objects no namespace; an unmapped one is mapped on first read.
		i := info(namespaceGVK, "", "team", false)
		if err := testWaiter(f, nil).Wait(helmkube.ResourceList{i}, time.Minute); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	})
}

func TestWaitForJobsAndHooks(t *testing.T) {
	const ns = "apps"
	job := func(cond string) *unstructured.Unstructured {
		st := map[string]any{"startTime": "2026-01-01T00:00:00Z", "active": int64(1)}
		if cond != "" {
			st["conditions"] = []any{map[string]any{"type": cond, "status": "True"}}
			st["active"] = int64(0)
			st[map[string]string{"Complete": "succeeded", "Failed": "failed"}[cond]] = int64(1)
		}
		return obj(jobGVK, ns, "migrate", map[string]any{"status": st})
	}
	pod := func(phase string) *unstructured.Unstructured {
		return obj(podGVK, ns, "test", map[string]any{"status": map[string]any{"phase": phase}})
	}
	jobs := helmkube.ResourceList{info(jobGVK, ns, "migrate", true)}

	t.Run("a running Job is ready for Wait (kstatus)", func(t *testing.T) {
		f := newFakeObjects()
		f.set("jobs", ns, "migrate", always(job("")))
		if err := testWaiter(f, nil).Wait(jobs, time.Minute); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	})
	t.Run("WaitWithJobs waits until the Job has completed", func(t *testing.T) {
		f := newFakeObjects()
		f.set("jobs", ns, "migrate", func(reads int) (*unstructured.Unstructured, error) {
			if reads < 3 {
				return job(""), nil
			}
			return job("Complete"), nil
		})
		if err := testWaiter(f, nil).WaitWithJobs(jobs, time.Minute); err != nil {
			t.Fatalf("WaitWithJobs: %v", err)
		}
		if n := f.readsOf("jobs", ns, "migrate"); n < 4 {
			t.Fatalf("the job was read %d times", n)
		}
	})
	t.Run("a failed hook Job ends the wait", func(t *testing.T) {
		f := newFakeObjects()
		f.set("jobs", ns, "migrate", always(job("Failed")))
		err := testWaiter(f, nil).WatchUntilReady(jobs, time.Hour)
		if want := "resource Job/apps/migrate not ready. status: Failed, message: Job Failed. failed: 1/1"; err == nil || err.Error() != want {
			t.Fatalf("WatchUntilReady = %v, want %q", err, want)
		}
	})
	t.Run("hook Pods wait until they succeed; other hook objects until they exist", func(t *testing.T) {
		f := newFakeObjects()
		f.set("pods", ns, "test", func(reads int) (*unstructured.Unstructured, error) {
			return pod(map[bool]string{false: "Running", true: "Succeeded"}[reads >= 2]), nil
		})
		f.set("configmaps", ns, "cfg", always(obj(configMapGVK, ns, "cfg", map[string]any{
			"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False"}}},
		})))
		err := testWaiter(f, nil).WatchUntilReady(helmkube.ResourceList{info(podGVK, ns, "test", true), info(configMapGVK, ns, "cfg", true)}, time.Minute)
		if err != nil {
			t.Fatalf("WatchUntilReady: %v", err)
		}
	})
	t.Run("a failed hook Pod ends the wait", func(t *testing.T) {
		f := newFakeObjects()
		f.set("pods", ns, "test", always(pod("Failed")))
		err := testWaiter(f, nil).WatchUntilReady(helmkube.ResourceList{info(podGVK, ns, "test", true)}, time.Hour)
		if err == nil || !strings.Contains(err.Error(), "status: Failed, message: pod test failed") {
			t.Fatalf("WatchUntilReady = %v", err)
		}
	})
}

func TestWaitForDelete(t *testing.T) {
	const ns = "apps"
	t.Run("objects deleted after some polls end the wait", func(t *testing.T) {
		f := newFakeObjects()
		f.set("configmaps", ns, "cfg", func(reads int) (*unstructured.Unstructured, error) {
			if reads >= 3 {
				return nil, nil
			}
			u := obj(configMapGVK, ns, "cfg", nil)
			u.Object["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
			return u, nil
		})
		err := testWaiter(f, nil).WaitForDelete(helmkube.ResourceList{info(configMapGVK, ns, "cfg", true), info(serviceGVK, ns, "gone", true)}, time.Minute)
		if err != nil {
			t.Fatalf("WaitForDelete: %v", err)
		}
		if n := f.readsOf("configmaps", ns, "cfg"); n != 4 {
			t.Fatalf("the ConfigMap was read %d times, want 4 (until the 404)", n)
		}
		f.onlyGets(t)
	})
	t.Run("an object that stays is named when the wait times out", func(t *testing.T) {
		f := newFakeObjects()
		f.set("configmaps", ns, "cfg", always(obj(configMapGVK, ns, "cfg", nil)))
		err := testWaiter(f, nil).WaitForDelete(helmkube.ResourceList{info(configMapGVK, ns, "cfg", true)}, 30*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "resource ConfigMap/apps/cfg still exists. status: Current") {
			t.Fatalf("WaitForDelete = %v", err)
		}
	})
	t.Run("an object of a kind no longer served is gone", func(t *testing.T) {
		f := newFakeObjects()
		i := info(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Gadget"}, ns, "g", false)
		if err := testWaiter(f, nil).WaitForDelete(helmkube.ResourceList{i}, time.Minute); err != nil {
			t.Fatalf("WaitForDelete: %v", err)
		}
	})
}

func TestHelmClientWaiters(t *testing.T) {
	srv := newFakeAPIServer(t) // answers 404 to every object
	clients, err := NewFactory(&rest.Config{Host: srv.URL}).For(Identity{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clients.HelmClient(helmkube.New(clients))
	cm := helmkube.ResourceList{info(configMapGVK, "apps", "cfg", false)}

	t.Run("the watcher strategy is the runner's waiter, over the identity's clients", func(t *testing.T) {
		w, err := kc.GetWaiterWithOptions(helmkube.StatusWatcherStrategy, helmkube.WithWaitContext(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := w.(*waiter); !ok {
			t.Fatalf("waiter of type %T", w)
		}
		before := srv.count("/api/v1/namespaces/apps/configmaps/cfg")
		if err := w.WaitForDelete(cm, time.Minute); err != nil {
			t.Fatalf("WaitForDelete of an object that does not exist: %v", err)
		}
		if srv.count("/api/v1/namespaces/apps/configmaps/cfg") != before+1 {
			t.Fatal("the object was not read by name")
		}
	})
	t.Run("the wait context set on the client ends its waits", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		kc.SetWaitContext(ctx)
		defer kc.SetWaitContext(nil)
		w, err := kc.GetWaiter(helmkube.StatusWatcherStrategy)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		err = waitReturns(t, func() error { return w.Wait(cm, time.Hour) })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want cancelled", err)
		}
	})
	t.Run("the hook-only strategy waits for hooks only", func(t *testing.T) {
		w, err := kc.GetWaiter(helmkube.HookOnlyStrategy)
		if err != nil {
			t.Fatal(err)
		}
		before := srv.count("/api/v1/namespaces/apps/configmaps/cfg")
		if err := w.Wait(cm, time.Hour); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if err := w.WaitForDelete(cm, time.Hour); err != nil {
			t.Fatalf("WaitForDelete: %v", err)
		}
		if srv.count("/api/v1/namespaces/apps/configmaps/cfg") != before {
			t.Fatal("a hook-only waiter read objects outside hooks")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		kc.SetWaitContext(ctx)
		defer kc.SetWaitContext(nil)
		w, _ = kc.GetWaiter(helmkube.HookOnlyStrategy)
		if err := w.WatchUntilReady(cm, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WatchUntilReady of a hook that does not exist = %v", err)
		}
	})
	t.Run("the legacy strategy is Helm's", func(t *testing.T) {
		w, err := kc.GetWaiter(helmkube.LegacyStrategy)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := w.(*waiter); ok {
			t.Fatal("the legacy strategy got the runner's waiter")
		}
	})
}
