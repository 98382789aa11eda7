package kube

import (
	"context"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
)

// HelmClient is Helm's kube client for one operation with the runner's own waiter: Helm gets its
// waiters from the kube client (action.Configuration.KubeClient), so wrapping the client is how
// the runner replaces Helm's kstatus watcher. Everything else is Helm's client.
//
// The watcher strategy (waiting for resources, hooks and deletions) and the hook-only strategy
// (hooks only; Wait, WaitWithJobs and WaitForDelete do nothing, as in Helm) get the runner's
// waiter; the legacy strategy gets Helm's.
type HelmClient struct {
	*helmkube.Client
	clients *Clients
	waitCtx context.Context
}

var (
	_ helmkube.Interface            = (*HelmClient)(nil)
	_ helmkube.InterfaceWaitOptions = (*HelmClient)(nil)
)

// HelmClient wraps kc, Helm's kube client made from c, so that its waits read objects through
// c's shared dynamic client and REST mapper.
func (c *Clients) HelmClient(kc *helmkube.Client) *HelmClient {
	return &HelmClient{Client: kc, clients: c}
}

// SetWaitContext makes every wait of the runner's waiter end when ctx ends. Helm's wait options
// (helmkube.WithWaitContext) cannot be read outside Helm, so the context is given here; the
// options are still passed on to the waiters that are Helm's.
func (h *HelmClient) SetWaitContext(ctx context.Context) { h.waitCtx = ctx }

// GetWaiter returns the waiter of strategy ws.
func (h *HelmClient) GetWaiter(ws helmkube.WaitStrategy) (helmkube.Waiter, error) {
	return h.GetWaiterWithOptions(ws)
}

// GetWaiterWithOptions returns the waiter of strategy ws: the runner's for the watcher and
// hook-only strategies, Helm's (with opts) otherwise.
func (h *HelmClient) GetWaiterWithOptions(ws helmkube.WaitStrategy, opts ...helmkube.WaitOption) (helmkube.Waiter, error) {
	switch ws {
	case helmkube.StatusWatcherStrategy:
		return h.waiter(), nil
	case helmkube.HookOnlyStrategy:
		return hooksOnly{h.waiter()}, nil
	}
	return h.Client.GetWaiterWithOptions(ws, opts...)
}

func (h *HelmClient) waiter() *waiter {
	w := newWaiter(h.clients.Dynamic(), h.clients.Mapper(), h.waitCtx, h.Client.Logger())
	w.rec = h.clients.waits
	return w
}

// hooksOnly waits for hooks only, like Helm's hook-only waiter.
type hooksOnly struct{ *waiter }

func (hooksOnly) Wait(helmkube.ResourceList, time.Duration) error          { return nil }
func (hooksOnly) WaitWithJobs(helmkube.ResourceList, time.Duration) error  { return nil }
func (hooksOnly) WaitForDelete(helmkube.ResourceList, time.Duration) error { return nil }
