package drift

import (
	"context"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// resourcePolicyAnnotation with the value "keep" on a live object stops Helm from deleting it
// when it leaves the manifest (pkg/kube/resource_policy.go).
const (
	resourcePolicyAnnotation = "helm.sh/resource-policy"
	keepPolicy               = "keep"
)

// Diff previews an upgrade from currentManifest (the deployed revision's; "" for an install)
// to newManifest (freshly rendered). Each object of newManifest is Create when missing from
// the cluster, else Update with its fields or Unchanged, from a server-side apply dry run
// against the live object. Each object only in currentManifest is Delete, or Unchanged when it
// is already gone or carries helm.sh/resource-policy: keep, as Helm would then leave it.
// Objects are matched by group, kind, namespace and name, so an apiVersion change is an
// Update. The result lists newManifest's objects in order, then currentManifest's leftovers.
// Diff writes nothing.
//
// Errors: an unparsable newManifest is RENDER_FAILED, an unparsable currentManifest INTERNAL;
// an object the API server rejects KUBERNETES_API_ERROR; otherwise as Detect.
func Diff(ctx context.Context, c Cluster, rel Release, newManifest, currentManifest string) ([]ObjectDiff, error) {
	if err := rel.validate(); err != nil {
		return nil, err
	}
	newObjs, err := parseManifest(newManifest, failure.RenderFailed)
	if err != nil {
		return nil, err
	}
	curObjs, err := parseManifest(currentManifest, failure.Internal)
	if err != nil {
		return nil, err
	}
	next, err := resolve(ctx, c, newObjs, rel)
	if err != nil {
		return nil, err
	}
	current, err := resolve(ctx, c, curObjs, rel)
	if err != nil {
		return nil, err
	}
	diffs, err := compareAll(ctx, next, ignorer{})
	if err != nil {
		return nil, err
	}
	inNext := make(map[objectKey]bool, len(next))
	for _, t := range next {
		inNext[keyOf(t.id)] = true
	}
	var leaving []target
	for _, t := range current {
		if !inNext[keyOf(t.id)] {
			inNext[keyOf(t.id)] = true // a duplicate in the current manifest is listed once
			leaving = append(leaving, t)
		}
	}
	removals := make([]ObjectDiff, len(leaving))
	err = forEach(ctx, len(leaving), func(ctx context.Context, i int) error {
		var err error
		removals[i], err = removal(ctx, leaving[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return append(diffs, removals...), nil
}

// removal is what an upgrade does to an object that leaves the manifest.
func removal(ctx context.Context, t target) (ObjectDiff, error) {
	live, err := t.live(ctx)
	if err != nil {
		return ObjectDiff{}, err
	}
	d := ObjectDiff{Object: t.id, Change: Delete}
	if live == nil || live.GetAnnotations()[resourcePolicyAnnotation] == keepPolicy {
		d.Change = Unchanged
	}
	return d, nil
}
