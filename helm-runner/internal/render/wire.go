package render

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/client-go/rest"
)

// The worker's input (stdin) and output (stdout), one JSON document each. Credentials travel
// only here, never in the worker's arguments or environment.

// wireRequest is a Request as sent to the worker.
type wireRequest struct {
	Chart        *wireChart            `json:"chart"`
	Values       map[string]any        `json:"values,omitempty"`
	Release      common.ReleaseOptions `json:"release"`
	Capabilities *wireCapabilities     `json:"capabilities,omitempty"`
	Cluster      *wireCluster          `json:"cluster,omitempty"`
}

// wireResponse is the worker's answer: the rendered files, or Helm's error message.
type wireResponse struct {
	Files map[string]string `json:"files,omitempty"`
	Error string            `json:"error,omitempty"`
	// PeakRSS is the worker's peak resident set size (VmHWM) in bytes when it answered.
	PeakRSS int64 `json:"peakRSS,omitempty"`
}

// wireChart is a loaded chart with its subcharts (a chart's JSON form leaves them out). Raw
// files are not sent: rendering never reads them.
type wireChart struct {
	Metadata     *chart.Metadata `json:"metadata"`
	Lock         *chart.Lock     `json:"lock,omitempty"`
	Templates    []*common.File  `json:"templates,omitempty"`
	Values       map[string]any  `json:"values,omitempty"`
	Schema       []byte          `json:"schema,omitempty"`
	Files        []*common.File  `json:"files,omitempty"`
	Dependencies []*wireChart    `json:"dependencies,omitempty"`
}

func chartToWire(ch *chart.Chart) *wireChart {
	w := &wireChart{
		Metadata: ch.Metadata, Lock: ch.Lock, Templates: ch.Templates, Values: ch.Values,
		Schema: ch.Schema, Files: ch.Files,
	}
	for _, d := range ch.Dependencies() {
		w.Dependencies = append(w.Dependencies, chartToWire(d))
	}
	return w
}

func chartFromWire(w *wireChart) *chart.Chart {
	ch := &chart.Chart{
		Metadata: w.Metadata, Lock: w.Lock, Templates: w.Templates, Values: w.Values,
		Schema: w.Schema, Files: w.Files,
	}
	for _, d := range w.Dependencies {
		ch.AddDependency(chartFromWire(d))
	}
	return ch
}

// wireCapabilities carries common.Capabilities, including whether the Kubernetes version was
// normalised (ParseKubeVersion), which changes what templates print for
// .Capabilities.KubeVersion and lives in an unexported field.
type wireCapabilities struct {
	KubeVersion           string            `json:"kubeVersion"`
	KubeVersionNormalized string            `json:"kubeVersionNormalized,omitempty"`
	KubeMajor             string            `json:"kubeMajor"`
	KubeMinor             string            `json:"kubeMinor"`
	APIVersions           common.VersionSet `json:"apiVersions"`
	HelmVersion           wireHelmVersion   `json:"helmVersion"`
}

// wireHelmVersion mirrors Helm's (internal) version.BuildInfo field by field.
type wireHelmVersion struct {
	Version           string `json:"version,omitempty"`
	GitCommit         string `json:"gitCommit,omitempty"`
	GitTreeState      string `json:"gitTreeState,omitempty"`
	GoVersion         string `json:"goVersion,omitempty"`
	KubeClientVersion string `json:"kubeClientVersion,omitempty"`
}

func capabilitiesToWire(c *common.Capabilities) *wireCapabilities {
	if c == nil {
		return nil
	}
	w := &wireCapabilities{
		KubeVersion: c.KubeVersion.Version, KubeMajor: c.KubeVersion.Major, KubeMinor: c.KubeVersion.Minor,
		APIVersions: c.APIVersions,
		HelmVersion: wireHelmVersion{
			Version: c.HelmVersion.Version, GitCommit: c.HelmVersion.GitCommit, GitTreeState: c.HelmVersion.GitTreeState,
			GoVersion: c.HelmVersion.GoVersion, KubeClientVersion: c.HelmVersion.KubeClientVersion,
		},
	}
	if s := c.KubeVersion.String(); s != c.KubeVersion.Version {
		w.KubeVersionNormalized = s
	}
	return w
}

func capabilitiesFromWire(w *wireCapabilities) (*common.Capabilities, error) {
	if w == nil {
		return nil, nil
	}
	c := common.DefaultCapabilities.Copy()
	c.APIVersions = w.APIVersions
	c.HelmVersion.Version, c.HelmVersion.GitCommit, c.HelmVersion.GitTreeState = w.HelmVersion.Version, w.HelmVersion.GitCommit, w.HelmVersion.GitTreeState
	c.HelmVersion.GoVersion, c.HelmVersion.KubeClientVersion = w.HelmVersion.GoVersion, w.HelmVersion.KubeClientVersion
	c.KubeVersion = common.KubeVersion{Version: w.KubeVersion, Major: w.KubeMajor, Minor: w.KubeMinor}
	if w.KubeVersionNormalized != "" {
		kv, err := common.ParseKubeVersion(w.KubeVersion)
		if err != nil || kv.String() != w.KubeVersionNormalized {
			return nil, fmt.Errorf("kube version %q does not normalise to %q", w.KubeVersion, w.KubeVersionNormalized)
		}
		kv.Major, kv.Minor = w.KubeMajor, w.KubeMinor
		c.KubeVersion = *kv
	}
	return c, nil
}

// wireCluster is the part of a REST config the worker needs to call the API server as the
// release's identity; files it names are read and sent as data.
type wireCluster struct {
	Host        string                   `json:"host"`
	APIPath     string                   `json:"apiPath,omitempty"`
	Username    string                   `json:"username,omitempty"`
	Password    string                   `json:"password,omitempty"`
	BearerToken string                   `json:"bearerToken,omitempty"`
	Impersonate rest.ImpersonationConfig `json:"impersonate"`
	TLS         wireTLS                  `json:"tls"`
	UserAgent   string                   `json:"userAgent,omitempty"`
	TimeoutNano int64                    `json:"timeout,omitempty"`
}

type wireTLS struct {
	Insecure   bool     `json:"insecure,omitempty"`
	ServerName string   `json:"serverName,omitempty"`
	CAData     []byte   `json:"caData,omitempty"`
	CertData   []byte   `json:"certData,omitempty"`
	KeyData    []byte   `json:"keyData,omitempty"`
	NextProtos []string `json:"nextProtos,omitempty"`
}

// clusterToWire reads what c refers to. Credentials that run code or hold live objects (exec
// and auth-provider plugins, custom transports and dialers) cannot cross a process boundary
// and are refused. Transport wrappers (request counting, tracing) stay behind: the worker's
// requests carry the config's own credentials only.
func clusterToWire(c *rest.Config) (*wireCluster, error) {
	if c == nil {
		return nil, nil
	}
	if c.ExecProvider != nil || c.AuthProvider != nil || c.Transport != nil || c.Dial != nil {
		return nil, fmt.Errorf("the identity's credentials (plugin or custom transport) cannot be passed to a render process")
	}
	w := &wireCluster{
		Host: c.Host, APIPath: c.APIPath, Username: c.Username, Password: c.Password, BearerToken: c.BearerToken,
		Impersonate: c.Impersonate, UserAgent: c.UserAgent, TimeoutNano: int64(c.Timeout),
		TLS: wireTLS{
			Insecure: c.Insecure, ServerName: c.ServerName, CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData,
			NextProtos: c.NextProtos,
		},
	}
	var err error
	if w.BearerToken == "" && c.BearerTokenFile != "" {
		var b []byte
		if b, err = os.ReadFile(c.BearerTokenFile); err != nil {
			return nil, fmt.Errorf("read the identity's token file: %w", err)
		}
		w.BearerToken = string(bytes.TrimSpace(b))
	}
	for _, f := range []struct {
		data *[]byte
		file string
	}{{&w.TLS.CAData, c.CAFile}, {&w.TLS.CertData, c.CertFile}, {&w.TLS.KeyData, c.KeyFile}} {
		if len(*f.data) > 0 || f.file == "" {
			continue
		}
		if *f.data, err = os.ReadFile(f.file); err != nil {
			return nil, fmt.Errorf("read the identity's TLS file: %w", err)
		}
	}
	return w, nil
}

func clusterFromWire(w *wireCluster) *rest.Config {
	if w == nil {
		return nil
	}
	return &rest.Config{
		Host: w.Host, APIPath: w.APIPath, Username: w.Username, Password: w.Password, BearerToken: w.BearerToken,
		Impersonate: w.Impersonate, UserAgent: w.UserAgent,
		TLSClientConfig: rest.TLSClientConfig{
			Insecure: w.TLS.Insecure, ServerName: w.TLS.ServerName, CAData: w.TLS.CAData, CertData: w.TLS.CertData,
			KeyData: w.TLS.KeyData, NextProtos: w.TLS.NextProtos,
		},
		Timeout: time.Duration(w.TimeoutNano),
	}
}
