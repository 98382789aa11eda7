//go:build integration

package action

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/kube"
	"github.com/project-planton/helm-release-controller/helm-runner/internal/testenv"
)

// cluster is the local cluster seen through one kube.Factory, with a count of the requests
// made to each path, as the runner's process would share it between calls.
type cluster struct {
	factory *kube.Factory
	admin   *kube.Clients
	mu      sync.Mutex
	paths   map[string]int
}

var (
	sharedOnce    sync.Once
	sharedCluster *cluster
	sharedErr     error
)

func localCluster(t *testing.T) *cluster {
	t.Helper()
	env := testenv.Load(t)
	sharedOnce.Do(func() {
		cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig())
		if err != nil {
			sharedErr = err
			return
		}
		c := &cluster{paths: map[string]int{}}
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				c.mu.Lock()
				c.paths[r.URL.Path]++
				c.mu.Unlock()
				return rt.RoundTrip(r)
			})
		}
		c.factory = kube.NewFactory(cfg)
		c.admin, sharedErr = c.factory.For(kube.Identity{})
		sharedCluster = c
	})
	if sharedErr != nil {
		t.Fatalf("local cluster: %v", sharedErr)
	}
	return sharedCluster
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// discoveryReads counts requests that read discovery or OpenAPI documents.
func (c *cluster) discoveryReads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, count := range c.paths {
		if p == "/api" || p == "/apis" || strings.HasPrefix(p, "/openapi") ||
			(strings.Count(p, "/") <= 3 && (strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"))) {
			n += count
		}
	}
	return n
}

// namespace creates a namespace for one test and deletes it afterwards.
func (c *cluster) namespace(t *testing.T) string {
	t.Helper()
	return testenv.Namespace(t, c.admin.Typed(), "act")
}

// config is a fresh Config for one call, as the server makes it.
func (c *cluster) config(t *testing.T, clients *kube.Clients, namespace string) *Config {
	t.Helper()
	cfg, err := NewConfig(clients, namespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// configMap returns the data of a ConfigMap, or nil when it does not exist.
func (c *cluster) configMap(t *testing.T, namespace, name string) map[string]string {
	t.Helper()
	cm, err := c.admin.Typed().CoreV1().ConfigMaps(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data == nil {
		return map[string]string{}
	}
	return cm.Data
}

// releaseSecrets counts the Secrets holding revisions of release name.
func (c *cluster) releaseSecrets(t *testing.T, namespace, name string) int {
	t.Helper()
	list, err := c.admin.Typed().CoreV1().Secrets(namespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
