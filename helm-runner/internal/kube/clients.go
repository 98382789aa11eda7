package kube

import (
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/flowcontrol"
)

// Clients are the Kubernetes clients of one identity. They implement
// genericclioptions.RESTClientGetter, so Helm's kube client uses the shared discovery cache and
// REST mapper; every client made from ToRESTConfig shares one rate limiter. Safe for concurrent
// use.
type Clients struct {
	config    *rest.Config
	discovery discovery.CachedDiscoveryInterface
	mapper    *resettingMapper
	dynamic   dynamic.Interface
	typed     kubernetes.Interface

	capabilitiesTTL time.Duration
	// waits is told how the waits of HelmClient's waiter end; nil: nowhere.
	waits WaitRecorder

	capsMu sync.Mutex
	caps   *common.Capabilities
	capsAt time.Time
}

var _ genericclioptions.RESTClientGetter = (*Clients)(nil)

func newClients(base *rest.Config, identity Identity, s settings) (*Clients, error) {
	cfg := rest.CopyConfig(base)
	if user := identity.username(); user != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	}
	cfg.QPS, cfg.Burst = s.qps, s.burst
	// One limiter for every client derived from this config: the limit is per identity, not
	// per clientset (Helm and kubectl build a new clientset for almost every call).
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(s.qps, s.burst)

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Clients{
		config:          cfg,
		discovery:       memory.NewMemCacheClient(dc),
		dynamic:         dyn,
		typed:           typed,
		capabilitiesTTL: s.capabilitiesTTL,
		waits:           s.waits,
	}
	c.mapper = &resettingMapper{
		delegate: restmapper.NewDeferredDiscoveryRESTMapper(c.discovery),
		onReset:  c.expireCapabilities,
	}
	return c, nil
}

// ToRESTConfig returns a copy of the identity's REST config (callers such as kubectl's
// factory modify the config they get), sharing its rate limiter.
func (c *Clients) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(c.config), nil }

// ToDiscoveryClient returns the shared in-memory cached discovery client.
func (c *Clients) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return c.discovery, nil
}

// ToRESTMapper returns the shared REST mapper (see Mapper).
func (c *Clients) ToRESTMapper() (meta.RESTMapper, error) { return c.mapper, nil }

// ToRawKubeConfigLoader returns a loader for the identity's config. Its namespace is "default";
// Helm operations set the release namespace on Helm's kube client instead, since these clients
// serve every namespace.
func (c *Clients) ToRawKubeConfigLoader() clientcmd.ClientConfig { return clientConfig{c} }

// Mapper is the shared REST mapper over cached discovery. It implements
// meta.ResettableRESTMapper, and resets itself once when a kind is unknown, so that kinds of
// CRDs created after the cache was filled are found.
func (c *Clients) Mapper() meta.RESTMapper { return c.mapper }

// Dynamic is the identity's dynamic client.
func (c *Clients) Dynamic() dynamic.Interface { return c.dynamic }

// Typed is the identity's typed clientset.
func (c *Clients) Typed() kubernetes.Interface { return c.typed }

// Capabilities returns the cluster's capabilities as Helm templates see them
// (.Capabilities), read from discovery at most once per capabilities TTL, and again after the
// REST mapper was reset. The result is a copy the caller may modify.
func (c *Clients) Capabilities() (*common.Capabilities, error) {
	c.capsMu.Lock()
	defer c.capsMu.Unlock()
	if c.caps != nil && time.Since(c.capsAt) < c.capabilitiesTTL {
		return c.caps.Copy(), nil
	}
	// Expired: read discovery again, as Helm does on every operation.
	c.discovery.Invalidate()
	version, err := c.discovery.ServerVersion()
	if err != nil {
		return nil, err
	}
	apiVersions, err := action.GetVersionSet(c.discovery)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, err
	}
	c.caps = &common.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: common.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor},
		HelmVersion: common.DefaultCapabilities.HelmVersion,
	}
	c.capsAt = time.Now()
	return c.caps.Copy(), nil
}

func (c *Clients) expireCapabilities() {
	c.capsMu.Lock()
	c.caps = nil
	c.capsMu.Unlock()
}

// clientConfig is the minimal clientcmd.ClientConfig over an identity's REST config.
type clientConfig struct{ c *Clients }

func (cc clientConfig) RawConfig() (clientcmdapi.Config, error) { return clientcmdapi.Config{}, nil }

func (cc clientConfig) ClientConfig() (*rest.Config, error) { return cc.c.ToRESTConfig() }

func (cc clientConfig) Namespace() (string, bool, error) { return "default", false, nil }

func (cc clientConfig) ConfigAccess() clientcmd.ConfigAccess {
	return &clientcmd.ClientConfigLoadingRules{}
}
