package drift

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Ownership metadata Helm merges into every object it applies (pkg/action/validate.go,
// setMetadataVisitor).
const (
	managedByLabel             = "app.kubernetes.io/managed-by"
	managedByHelm              = "Helm"
	releaseNameAnnotation      = "meta.helm.sh/release-name"
	releaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
)

// target is one manifest object resolved against the cluster.
type target struct {
	id Object
	// config is the applied configuration: the manifest object with its namespace defaulted
	// and Helm's ownership metadata, exactly what Helm sends.
	config   *unstructured.Unstructured
	resource dynamic.ResourceInterface
	secret   bool
}

// resolve maps every object to its API resource through c's cached mapper, defaults the
// namespace of namespaced objects to rel.Namespace, clears it on cluster-scoped ones and adds
// Helm's ownership metadata. A kind the cluster does not serve fails with KUBERNETES_API_ERROR
// naming it, after one reset of a resettable mapper.
func resolve(ctx context.Context, c Cluster, objs []*unstructured.Unstructured, rel Release) ([]target, error) {
	targets := make([]target, 0, len(objs))
	reset := false
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := restMapping(ctx, c.Mapper(), gvk)
		if meta.IsNoMatchError(err) && !reset {
			if r, ok := c.Mapper().(meta.ResettableRESTMapper); ok {
				r.Reset()
				reset = true
				mapping, err = restMapping(ctx, c.Mapper(), gvk)
			}
		}
		if err != nil {
			if meta.IsNoMatchError(err) {
				return nil, failure.Wrap(failure.KubernetesAPIError, err, "the cluster has no API resource for kind %s in %s", gvk.Kind, gvk.GroupVersion())
			}
			return nil, apiError(ctx, err, "map kind %s in %s", gvk.Kind, gvk.GroupVersion())
		}
		var ri dynamic.ResourceInterface = c.Dynamic().Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace(rel.Namespace)
			}
			ri = c.Dynamic().Resource(mapping.Resource).Namespace(obj.GetNamespace())
		} else {
			obj.SetNamespace("")
		}
		setOwnership(obj, rel)
		targets = append(targets, target{
			id:       identify(obj),
			config:   obj,
			resource: ri,
			secret:   gvk.Group == "" && gvk.Kind == "Secret",
		})
	}
	return targets, nil
}

func restMapping(ctx context.Context, m meta.RESTMapper, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if mc, ok := m.(meta.RESTMapperWithContext); ok {
		return mc.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	}
	return m.RESTMapping(gvk.GroupKind(), gvk.Version)
}

func setOwnership(obj *unstructured.Unstructured, rel Release) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[managedByLabel] = managedByHelm
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[releaseNameAnnotation] = rel.Name
	annotations[releaseNamespaceAnnotation] = rel.Namespace
	obj.SetAnnotations(annotations)
}

// live returns the object as it is in the cluster, or nil when it does not exist.
func (t target) live(ctx context.Context) (*unstructured.Unstructured, error) {
	obj, err := t.resource.Get(ctx, t.id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apiError(ctx, err, "get %s", describe(t.id))
	}
	return obj, nil
}

// apply sends the applied configuration as a server-side apply with Helm's field manager and
// strict field validation, as Helm does. With dryRun nothing is persisted and the result is
// what the object would become.
func (t target) apply(ctx context.Context, dryRun, force bool) (*unstructured.Unstructured, error) {
	body, err := t.config.MarshalJSON()
	if err != nil {
		return nil, failure.Wrap(failure.Internal, err, "encode %s", describe(t.id))
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force, FieldValidation: metav1.FieldValidationStrict}
	verb := "apply"
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
		verb = "dry-run apply"
	}
	obj, err := t.resource.Patch(ctx, t.id.Name, types.ApplyPatchType, body, opts)
	if err != nil {
		return nil, apiError(ctx, err, "%s %s", verb, describe(t.id))
	}
	return obj, nil
}

// apiError gives a Kubernetes API error its reason. The context is consulted first because
// client-go does not always wrap the context's error.
func apiError(ctx context.Context, err error, format string, args ...any) error {
	var reason failure.Reason
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		reason = failure.Timeout
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		reason = failure.Cancelled
	case apierrors.IsForbidden(err):
		reason = failure.Forbidden
	case apierrors.IsConflict(err):
		reason = failure.Conflict
	case apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err):
		reason = failure.Timeout
	default:
		reason = failure.KubernetesAPIError
	}
	return failure.Wrap(reason, err, format, args...)
}

func describe(o Object) string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}
