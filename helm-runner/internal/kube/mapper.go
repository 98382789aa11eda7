package kube

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// minResetInterval bounds how often an unknown kind resets the shared discovery cache: a chart
// that names a kind the cluster really lacks must not make every call re-read discovery.
const minResetInterval = 2 * time.Second

// resettingMapper is a REST mapper over cached discovery that, when a kind or resource is
// unknown, resets the cache once and retries: the kind may belong to a CRD created after the
// cache was filled (for example by the chart being installed). The deferred discovery mapper
// does not do this by itself once the in-memory cache has been filled.
type resettingMapper struct {
	delegate meta.ResettableRESTMapper
	onReset  func()

	mu        sync.Mutex
	lastReset time.Time
}

var _ meta.ResettableRESTMapper = (*resettingMapper)(nil)

// Reset drops the cached discovery; the next mapping re-reads it.
func (m *resettingMapper) Reset() {
	m.mu.Lock()
	m.lastReset = time.Now()
	m.mu.Unlock()
	m.delegate.Reset()
	if m.onReset != nil {
		m.onReset()
	}
}

// retry reports whether err is an unknown-kind error worth a reset, and resets if so.
func (m *resettingMapper) retry(err error) bool {
	if err == nil || !meta.IsNoMatchError(err) {
		return false
	}
	m.mu.Lock()
	recent := time.Since(m.lastReset) < minResetInterval
	m.mu.Unlock()
	if !recent {
		m.Reset()
	}
	return true
}

func (m *resettingMapper) KindFor(r schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	v, err := m.delegate.KindFor(r)
	if m.retry(err) {
		return m.delegate.KindFor(r)
	}
	return v, err
}

func (m *resettingMapper) KindsFor(r schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	v, err := m.delegate.KindsFor(r)
	if m.retry(err) {
		return m.delegate.KindsFor(r)
	}
	return v, err
}

func (m *resettingMapper) ResourceFor(r schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	v, err := m.delegate.ResourceFor(r)
	if m.retry(err) {
		return m.delegate.ResourceFor(r)
	}
	return v, err
}

func (m *resettingMapper) ResourcesFor(r schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	v, err := m.delegate.ResourcesFor(r)
	if m.retry(err) {
		return m.delegate.ResourcesFor(r)
	}
	return v, err
}

func (m *resettingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	v, err := m.delegate.RESTMapping(gk, versions...)
	if m.retry(err) {
		return m.delegate.RESTMapping(gk, versions...)
	}
	return v, err
}

func (m *resettingMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	v, err := m.delegate.RESTMappings(gk, versions...)
	if m.retry(err) {
		return m.delegate.RESTMappings(gk, versions...)
	}
	return v, err
}

func (m *resettingMapper) ResourceSingularizer(resource string) (string, error) {
	return m.delegate.ResourceSingularizer(resource)
}
