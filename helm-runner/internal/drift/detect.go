package drift

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/project-planton/helm-release-controller/helm-runner/internal/failure"
)

// Detect compares every object of manifest, a release's stored manifest, with the cluster and
// returns those that drifted: Create for an object missing from the cluster, Update with the
// differing fields for one that a server-side apply of the manifest would change. Fields
// covered by ignore are not compared; an object whose only differences are ignored has not
// drifted. Detect writes nothing: each existing object costs one GET and one dry-run apply
// (twice when another writer changed it in between), at most eight objects at a time.
//
// Errors: an unparsable manifest is INTERNAL (it was stored by Helm); an invalid ignore path
// or a release without name or namespace INVALID_ARGUMENT; a kind the cluster does not serve KUBERNETES_API_ERROR; a refused request
// FORBIDDEN; the context's deadline TIMEOUT.
func Detect(ctx context.Context, c Cluster, rel Release, manifest string, ignore []IgnoreRule) (Report, error) {
	report, _, err := detect(ctx, c, rel, manifest, ignore)
	return report, err
}

// detect is Detect that also returns the target of each drifted object, in the same order,
// for Correct to re-apply.
func detect(ctx context.Context, c Cluster, rel Release, manifest string, ignore []IgnoreRule) (Report, []target, error) {
	if err := rel.validate(); err != nil {
		return Report{}, nil, err
	}
	ig, err := newIgnorer(ignore)
	if err != nil {
		return Report{}, nil, err
	}
	objs, err := parseManifest(manifest, failure.Internal)
	if err != nil {
		return Report{}, nil, err
	}
	targets, err := resolve(ctx, c, objs, rel)
	if err != nil {
		return Report{}, nil, err
	}
	diffs, err := compareAll(ctx, targets, ig)
	if err != nil {
		return Report{}, nil, err
	}
	report := Report{ObjectsChecked: len(targets)}
	var drifted []target
	for i, d := range diffs {
		if d.Change == Create || d.Change == Update {
			report.Drifted = append(report.Drifted, d)
			drifted = append(drifted, targets[i])
		}
	}
	return report, drifted, nil
}

// compareAll compares every target with the cluster. The result is in the order of targets.
func compareAll(ctx context.Context, targets []target, ig ignorer) ([]ObjectDiff, error) {
	diffs := make([]ObjectDiff, len(targets))
	err := forEach(ctx, len(targets), func(ctx context.Context, i int) error {
		var err error
		diffs[i], err = compareTarget(ctx, targets[i], ig.pathsFor(targets[i].id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return diffs, nil
}

// forEach calls fn for 0..n-1, at most parallelism at a time. The first error cancels the
// context of the remaining calls and is returned.
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// compareTarget compares one object with the cluster: Create when it is missing, otherwise
// Update or Unchanged from a dry-run apply. The live object and the dry run are two requests;
// when the object's resourceVersion moved between them, another writer raced with us and the
// pair is taken again once, so that a concurrent change is not reported as drift.
func compareTarget(ctx context.Context, t target, ignored [][]string) (ObjectDiff, error) {
	d := ObjectDiff{Object: t.id}
	for attempt := 0; ; attempt++ {
		live, err := t.live(ctx)
		if err != nil {
			return d, err
		}
		if live == nil {
			d.Change = Create
			return d, nil
		}
		applied, err := t.apply(ctx, true, true)
		if err != nil {
			return d, err
		}
		if applied.GetResourceVersion() != live.GetResourceVersion() && attempt == 0 {
			continue
		}
		d.Fields = compareObjects(t.config.Object, applied.Object, live.Object, t.secret, ignored)
		d.Change = Unchanged
		if len(d.Fields) > 0 {
			d.Change = Update
		}
		return d, nil
	}
}
