// Package drift compares the objects of a Helm release manifest with the cluster through
// server-side apply dry runs: drift detection, drift correction and the preview of an upgrade.
//
// The package decides nothing: it reports what applying a manifest would change and, for
// Correct, re-applies the objects it was asked to. Every request goes through the Cluster it is
// given, so the caller chooses the identity (impersonation) and shares the cached REST mapper.
package drift

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/dynamic"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// FieldManager is the server-side apply field manager of every dry run and apply. It is the
// name the Helm CLI sets (cmd/helm/helm.go: kube.ManagedFieldsManager = "helm"). The Helm SDK
// falls back to the binary's name when kube.ManagedFieldsManager is empty, so the runner must
// set kube.ManagedFieldsManager to this value; otherwise releases it installs are owned by
// another manager and Correct would add a second owner instead of restoring Helm's fields.
const FieldManager = "helm"

// parallelism bounds the concurrent requests of one call, so that a large release does not
// exhaust the client's rate limiter or the API server's inflight limit.
const parallelism = 8

// Cluster is what this package needs of a per-identity Kubernetes client. Mapper should be a
// cached (deferred discovery) mapper: it is called once per object. If it also implements
// meta.ResettableRESTMapper, it is reset once per call when a kind is unknown, so that a CRD
// installed since the cache was filled is found.
type Cluster interface {
	Mapper() meta.RESTMapper
	Dynamic() dynamic.Interface
}

// Release names the Helm release a manifest belongs to. Namespace is the default namespace of
// namespaced objects without one. Name and Namespace are also written into the ownership
// metadata Helm adds to every object it applies (meta.helm.sh/release-name,
// meta.helm.sh/release-namespace, app.kubernetes.io/managed-by), so that dry runs compare
// what Helm really applied and Correct keeps the object adoptable by the next upgrade.
type Release struct {
	Name      string
	Namespace string
}

func (r Release) validate() error {
	if r.Name == "" || r.Namespace == "" {
		return failure.New(failure.InvalidArgument, "release name and namespace are required")
	}
	return nil
}

// Object identifies one Kubernetes object. Namespace is empty for cluster-scoped objects.
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// Change is what applying the desired state would do to an object.
type Change int

// Changes, mirroring planton.helmrunner.v1.ChangeType.
const (
	// Create: the object is missing from the cluster.
	Create Change = iota + 1
	// Update: some fields would change.
	Update
	// Delete: the object is in the current manifest but not in the new one.
	Delete
	// Unchanged: applying would change nothing that matters.
	Unchanged
)

func (c Change) String() string {
	switch c {
	case Create:
		return "Create"
	case Update:
		return "Update"
	case Delete:
		return "Delete"
	case Unchanged:
		return "Unchanged"
	}
	return "Unspecified"
}

// FieldDiff is one field that differs. Path is an RFC 6901 JSON pointer; Desired is the value
// the object would have after the apply and Live its value now, both as JSON, "" when absent.
// For a Secret's data and stringData both are withheld and Redacted is true.
type FieldDiff struct {
	Path     string
	Desired  string
	Live     string
	Redacted bool
}

// ObjectDiff is what applying the desired state would do to one object. Fields is set only for
// Update, sorted by Path.
type ObjectDiff struct {
	Object
	Change Change
	Fields []FieldDiff
}

// IgnoreRule lists fields allowed to differ in the objects it selects. Paths are RFC 6901 JSON
// pointers ("~1" for "/", "~0" for "~"), each covering the field and everything below it. The
// selector fields Group, Version, Kind, Name and Namespace must all match when non-empty; all
// empty selects every object.
type IgnoreRule struct {
	Paths     []string
	Group     string
	Version   string
	Kind      string
	Name      string
	Namespace string
}

// Report is the result of Detect.
type Report struct {
	// ObjectsChecked is the number of objects of the manifest compared with the cluster.
	ObjectsChecked int
	// Drifted lists objects with Change Create or Update, in manifest order.
	Drifted []ObjectDiff
}
