//go:build integration

package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// requestLog records the requests made through a Factory's clients.
type requestLog struct {
	mu       sync.Mutex
	requests []string
}

func (l *requestLog) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests[mark:]...)
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.requests)
}

// liveClients are the runner's own clients on the local cluster, with every request logged.
func liveClients(t *testing.T) (*Clients, *requestLog) {
	t.Helper()
	env := testenv.Load(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.mu.Lock()
			log.requests = append(log.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
			log.mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	c, err := NewFactory(cfg).For(Identity{})
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// deploymentManifest is a Deployment KWOK makes Available, unless nodeSelector names a label no
// node has.
func deploymentManifest(name, nodeSelector string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      nodeSelector: {%[2]s}
      tolerations:
        - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
      containers:
        - {name: app, image: pause}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s
data: {a: b}
`, name, nodeSelector)
}

// onlyGetsByName fails the test unless every request is a GET of one of the named objects.
func onlyGetsByName(t *testing.T, requests []string, names ...string) {
	t.Helper()
	if len(requests) == 0 {
		t.Fatal("the wait made no request")
	}
	for _, r := range requests {
		method, rest, _ := strings.Cut(r, " ")
		path, query, _ := strings.Cut(rest, "?")
		byName := false
		for _, n := range names {
			byName = byName || strings.HasSuffix(path, "/"+n)
		}
		if method != http.MethodGet || !byName || strings.Contains(query, "watch") {
			t.Errorf("request %q: the waiter must only GET the release's objects by name", r)
		}
	}
}

func TestIntegrationWaiter(t *testing.T) {
	clients, log := liveClients(t)
	ns := testenv.Namespace(t, clients.Typed(), "wait")
	kc := helmkube.New(clients)
	kc.Namespace = ns
	hc := clients.HelmClient(kc)
	ctx := context.Background()

	create := func(t *testing.T, manifest string) helmkube.ResourceList {
		t.Helper()
		resources, err := hc.Build(strings.NewReader(manifest), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hc.Create(resources); err != nil {
			t.Fatal(err)
		}
		return resources
	}
	waiter := func(t *testing.T) helmkube.Waiter {
		t.Helper()
		w, err := hc.GetWaiterWithOptions(helmkube.StatusWatcherStrategy, helmkube.WithWaitContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	t.Run("a Deployment that becomes Available ends the wait", func(t *testing.T) {
		resources := create(t, deploymentManifest("ready", ""))
		mark := log.len()
		if err := waiter(t).Wait(resources, time.Minute); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		onlyGetsByName(t, log.since(mark), "ready")
		d, err := clients.Typed().AppsV1().Deployments(ns).Get(ctx, "ready", metav1.GetOptions{})
		if err != nil || d.Status.AvailableReplicas != 1 {
			t.Fatalf("deployment after the wait: %v, %+v", err, d.Status)
		}
	})
	t.Run("a Deployment that never becomes ready is named when the wait times out", func(t *testing.T) {
		resources := create(t, deploymentManifest("never", "planton.test/never: 'true'"))
		err := waiter(t).Wait(resources, 3*time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want a deadline", err)
		}
		want := "resource Deployment/" + ns + "/never not ready. status: InProgress, message: "
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "ConfigMap") {
			t.Fatalf("Wait = %q, want only the deployment named (%q)", err, want)
		}
		t.Logf("Wait: %v", err)
	})
	t.Run("cancelling the wait context ends the wait", func(t *testing.T) {
		resources := create(t, deploymentManifest("cancelled", "planton.test/never: 'true'"))
		cctx, cancel := context.WithCancel(ctx)
		hc.SetWaitContext(cctx)
		defer hc.SetWaitContext(nil)
		w, err := hc.GetWaiter(helmkube.StatusWatcherStrategy)
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(500*time.Millisecond, cancel)
		if err := w.Wait(resources, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want cancelled", err)
		}
	})
	t.Run("deleted objects end the wait for their deletion", func(t *testing.T) {
		resources := create(t, deploymentManifest("deleted", ""))
		if _, errs := hc.Delete(resources, metav1.DeletePropagationBackground); len(errs) > 0 {
			t.Fatal(errs)
		}
		mark := log.len()
		if err := waiter(t).WaitForDelete(resources, time.Minute); err != nil {
			t.Fatalf("WaitForDelete: %v", err)
		}
		onlyGetsByName(t, log.since(mark), "deleted")
	})
}
