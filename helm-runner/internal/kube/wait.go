package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"golang.org/x/sync/errgroup"
	helmkube "helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Polling of the waiter. Most objects of a release are ready at once or within a second or two,
// so the first re-read comes soon; the interval then doubles, so that a wait lasting minutes
// costs one GET per object not yet ready every maxPollInterval.
const (
	initialPollInterval = 100 * time.Millisecond
	maxPollInterval     = 2 * time.Second
	// pollParallelism bounds the concurrent GETs of one wait; every wait of an identity also
	// shares the identity's rate limiter.
	pollParallelism = 8
)

// A waiter is the runner's helmkube.Waiter: it keeps the semantics of Helm's kstatus watcher
// (status.Compute on the live object; Current is ready, Failed ends the wait) but reads only the
// release's own objects, by name, with the identity's shared dynamic client and REST mapper. Helm's
// watcher instead builds a REST mapper per wait and starts informers that list and watch every
// object of the watched kinds in the namespace, which costs memory in proportion to the
// namespace, not to the release.
//
// Each round reads, at most pollParallelism at a time, every object not yet in the desired
// state; rounds are initialPollInterval apart at first, doubling up to maxPollInterval. A wait
// for readiness succeeds when one round saw every object Current (objects seen Current in
// earlier rounds are read once more at the end), fails at once when an object is Failed or an
// object cannot be read for lack of permission, and otherwise ends with the wait's context or
// timeout, naming each object not ready with its status and kstatus message. It is safe for
// concurrent use.
type waiter struct {
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
	// ctx ends every wait (the operation's context, ADR 0002); nil is context.Background().
	ctx    context.Context
	logger *slog.Logger
	// rec is told how each wait ended; nil: nowhere.
	rec WaitRecorder

	initial, max time.Duration
	parallelism  int
}

var _ helmkube.Waiter = (*waiter)(nil)

func newWaiter(dyn dynamic.Interface, mapper meta.RESTMapper, ctx context.Context, logger *slog.Logger) *waiter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &waiter{
		dynamic: dyn, mapper: mapper, ctx: ctx, logger: logger,
		initial: initialPollInterval, max: maxPollInterval, parallelism: pollParallelism,
	}
}

// statusFunc computes the status of a live object.
type statusFunc func(*unstructured.Unstructured) (*status.Result, error)

// Wait waits until every object of resources is Current (kstatus). Paused Deployments are not
// waited for, as Helm does.
func (w *waiter) Wait(resources helmkube.ResourceList, timeout time.Duration) error {
	return w.recorded(resources, func() error { return w.waitReady(resources, timeout, status.Compute) })
}

// WaitWithJobs is Wait, except that a Job is ready only once it has completed.
func (w *waiter) WaitWithJobs(resources helmkube.ResourceList, timeout time.Duration) error {
	return w.recorded(resources, func() error {
		return w.waitReady(resources, timeout, func(u *unstructured.Unstructured) (*status.Result, error) {
			if isKind(u, "batch", "Job") {
				return jobStatus(u)
			}
			return status.Compute(u)
		})
	})
}

// WatchUntilReady waits for hook objects, as Helm's watcher does: a Job until it has completed,
// a Pod until it has succeeded (a failed one ends the wait), any other object until it exists.
func (w *waiter) WatchUntilReady(resources helmkube.ResourceList, timeout time.Duration) error {
	return w.recorded(resources, func() error { return w.waitReady(resources, timeout, hookStatus) })
}

// WaitForDelete waits until no object of resources exists (GET answers 404, or its kind is no
// longer served).
func (w *waiter) WaitForDelete(resources helmkube.ResourceList, timeout time.Duration) error {
	return w.recorded(resources, func() error { return w.waitForDelete(resources, timeout) })
}

// recorded runs one wait for resources and tells w.rec how it ended.
func (w *waiter) recorded(resources helmkube.ResourceList, wait func() error) error {
	if w.rec == nil {
		return wait()
	}
	start := time.Now()
	err := wait()
	w.rec.WaitEnded(waitKind(resources), time.Since(start), err)
	return err
}

// waitKind is what a wait is for, from the objects' helm.sh/hook annotation: "tests" when they
// are test hooks, "hooks" when they are other hooks, "resources" (the release's own objects)
// otherwise.
func waitKind(resources helmkube.ResourceList) string {
	kind := "resources"
	for _, info := range resources {
		if info == nil || info.Object == nil {
			continue
		}
		acc, err := meta.Accessor(info.Object)
		if err != nil {
			continue
		}
		hook, ok := acc.GetAnnotations()[release.HookAnnotation]
		if !ok {
			continue
		}
		kind = "hooks"
		for event := range strings.SplitSeq(hook, ",") {
			if e := strings.TrimSpace(event); e == string(release.HookTest) || e == "test-success" {
				return "tests"
			}
		}
	}
	return kind
}

func (w *waiter) waitForDelete(resources helmkube.ResourceList, timeout time.Duration) error {
	ctx, cancel := w.context(timeout)
	defer cancel()
	targets, err := newTargets(resources, false)
	if err != nil {
		return err
	}
	w.logger.Debug("waiting for resources to be deleted", "count", len(targets), "timeout", timeout)
	pending := targets
	for interval := w.initial; ; interval = min(2*interval, w.max) {
		if err := w.observe(ctx, pending, status.Compute, true); err != nil {
			return err
		}
		pending = without(pending, status.NotFoundStatus)
		if len(pending) == 0 {
			return nil
		}
		if !sleep(ctx, interval) {
			break
		}
	}
	errs := make([]error, 0, len(pending)+1)
	for _, t := range pending {
		errs = append(errs, fmt.Errorf("resource %s still exists. status: %s, message: %s", t, t.status, t.message))
	}
	return errors.Join(append(errs, ctx.Err())...)
}

func (w *waiter) waitReady(resources helmkube.ResourceList, timeout time.Duration, compute statusFunc) error {
	ctx, cancel := w.context(timeout)
	defer cancel()
	targets, err := newTargets(resources, true)
	if err != nil {
		return err
	}
	w.logger.Debug("waiting for resources", "count", len(targets), "timeout", timeout)
	pending := targets
	for interval := w.initial; ; {
		if err := w.observe(ctx, pending, compute, false); err != nil {
			return err
		}
		if failed := with(pending, status.FailedStatus); len(failed) > 0 {
			return notReady(failed, nil)
		}
		if ctx.Err() != nil {
			break
		}
		notCurrent := without(pending, status.CurrentStatus)
		if len(notCurrent) == 0 {
			if len(pending) == len(targets) {
				return nil
			}
			// Every object was Current, some in earlier rounds: read them all again at once, so
			// that success means all were Current in one round, as with Helm's watcher.
			pending = targets
			continue
		}
		pending = notCurrent
		if !sleep(ctx, interval) {
			break
		}
		interval = min(2*interval, w.max)
	}
	return notReady(without(targets, status.CurrentStatus), ctx.Err())
}

// context is the context of one wait: w.ctx bounded by timeout (Helm's default when zero, none
// when negative).
func (w *waiter) context(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx := w.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if timeout == 0 {
		timeout = helmkube.DefaultStatusWatcherTimeout
	}
	if timeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

// observe reads every target at once (at most w.parallelism at a time) and records its status.
// gone is true when waiting for deletion: an unknown kind then counts as not found. It fails
// only when a target cannot be read for lack of permission or (unless gone) its status cannot be
// computed; other read errors are recorded as the target's Unknown status and read again next
// round.
// Nothing is read once ctx has ended.
func (w *waiter) observe(ctx context.Context, targets []*target, compute statusFunc, gone bool) error {
	if ctx.Err() != nil {
		return nil
	}
	var g errgroup.Group
	g.SetLimit(w.parallelism)
	for _, t := range targets {
		g.Go(func() error { return w.read(ctx, t, compute, gone) })
	}
	return g.Wait()
}

func (w *waiter) read(ctx context.Context, t *target, compute statusFunc, gone bool) error {
	u, err := w.get(ctx, t)
	switch {
	case err == nil:
		res, err := compute(u)
		switch {
		case err == nil:
			t.status, t.message = res.Status, res.Message
		case gone:
			// The object exists, which is all a wait for deletion needs to know.
			t.status, t.message = status.UnknownStatus, err.Error()
		default:
			return fmt.Errorf("compute the status of %s: %w", t, err)
		}
	case apierrors.IsNotFound(err), gone && meta.IsNoMatchError(err):
		t.status, t.message = status.NotFoundStatus, "Resource not found"
	case ctx.Err() != nil:
		// The wait is ending: keep what was seen last.
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("read %s: %w", t, err)
	default:
		t.status, t.message = status.UnknownStatus, err.Error()
	}
	return nil
}

func (w *waiter) get(ctx context.Context, t *target) (*unstructured.Unstructured, error) {
	if t.mapping == nil {
		m, err := w.mapper.RESTMapping(t.gvk.GroupKind(), t.gvk.Version)
		if err != nil {
			return nil, err
		}
		t.mapping = m
	}
	client := w.dynamic.Resource(t.mapping.Resource)
	if t.mapping.Scope != nil && t.mapping.Scope.Name() == meta.RESTScopeNameRoot {
		return client.Get(ctx, t.name, metav1.GetOptions{})
	}
	return client.Namespace(t.namespace).Get(ctx, t.name, metav1.GetOptions{})
}

// sleep waits for d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// target is one object waited for, with what its last read showed.
type target struct {
	gvk       schema.GroupVersionKind
	namespace string
	name      string
	// mapping is the object's REST mapping: Helm's, resolved by the shared mapper when the
	// manifest was built, else resolved on first read.
	mapping *meta.RESTMapping

	status  status.Status
	message string
}

// String names the object as Helm's errors do: Kind/namespace/name.
func (t *target) String() string { return t.gvk.Kind + "/" + t.namespace + "/" + t.name }

// newTargets lists the objects of resources to wait for; skipPaused leaves out paused
// Deployments, as Helm does when waiting for readiness.
func newTargets(resources helmkube.ResourceList, skipPaused bool) ([]*target, error) {
	targets := make([]*target, 0, len(resources))
	for _, info := range resources {
		if info == nil || info.Object == nil {
			continue
		}
		gvk := info.Object.GetObjectKind().GroupVersionKind()
		if info.Mapping != nil {
			gvk = info.Mapping.GroupVersionKind
		}
		if gvk.Kind == "" || info.Name == "" {
			return nil, fmt.Errorf("cannot wait for %s %q: no kind or name", gvk.Kind, info.Name)
		}
		if skipPaused && pausedDeployment(gvk, info.Object) {
			continue
		}
		t := &target{
			gvk: gvk, namespace: info.Namespace, name: info.Name, mapping: info.Mapping,
			status: status.UnknownStatus, message: "not read before the wait ended",
		}
		if t.mapping != nil && t.mapping.Scope != nil && t.mapping.Scope.Name() == meta.RESTScopeNameRoot {
			t.namespace = ""
		}
		targets = append(targets, t)
	}
	return targets, nil
}

func pausedDeployment(gvk schema.GroupVersionKind, obj runtime.Object) bool {
	if gvk.Group != "apps" || gvk.Kind != "Deployment" {
		return false
	}
	var content map[string]any
	if u, ok := obj.(runtime.Unstructured); ok {
		content = u.UnstructuredContent()
	} else if c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err == nil {
		content = c
	}
	paused, _, _ := unstructured.NestedBool(content, "spec", "paused")
	return paused
}

func with(targets []*target, s status.Status) []*target {
	var out []*target
	for _, t := range targets {
		if t.status == s {
			out = append(out, t)
		}
	}
	return out
}

func without(targets []*target, s status.Status) []*target {
	var out []*target
	for _, t := range targets {
		if t.status != s {
			out = append(out, t)
		}
	}
	return out
}

// notReady is Helm's error for objects that did not become ready, joined with cause (the wait
// context's error) when there is one.
func notReady(targets []*target, cause error) error {
	errs := make([]error, 0, len(targets)+1)
	for _, t := range targets {
		errs = append(errs, fmt.Errorf("resource %s not ready. status: %s, message: %s", t, t.status, t.message))
	}
	if cause != nil {
		errs = append(errs, cause)
	}
	return errors.Join(errs...)
}

func isKind(u *unstructured.Unstructured, group, kind string) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == group && gvk.Kind == kind
}

// hookStatus is the status of a hook object: a Job is Current once complete, a Pod once
// succeeded; any other object as soon as it exists.
func hookStatus(u *unstructured.Unstructured) (*status.Result, error) {
	switch {
	case isKind(u, "batch", "Job"):
		return jobStatus(u)
	case isKind(u, "", "Pod"):
		return podStatus(u)
	}
	return &status.Result{Status: status.CurrentStatus, Message: "Resource is current"}, nil
}

// jobStatus is Current once the Job has completed and Failed once it has failed; kstatus alone
// counts a Job that has started as Current.
func jobStatus(u *unstructured.Unstructured) (*status.Result, error) {
	obj := u.UnstructuredContent()
	parallelism := status.GetIntField(obj, ".spec.parallelism", 1)
	completions := status.GetIntField(obj, ".spec.completions", parallelism)
	objc, err := status.GetObjectWithConditions(obj)
	if err != nil {
		return nil, err
	}
	for _, c := range objc.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case "Complete":
			succeeded := status.GetIntField(obj, ".status.succeeded", 0)
			return &status.Result{Status: status.CurrentStatus,
				Message: fmt.Sprintf("Job Completed. succeeded: %d/%d", succeeded, completions)}, nil
		case "Failed":
			failed := status.GetIntField(obj, ".status.failed", 0)
			return &status.Result{Status: status.FailedStatus,
				Message: fmt.Sprintf("Job Failed. failed: %d/%d", failed, completions)}, nil
		}
	}
	return &status.Result{Status: status.InProgressStatus, Message: "Job in progress"}, nil
}

// podStatus is Current once the Pod has succeeded and Failed once it has failed.
func podStatus(u *unstructured.Unstructured) (*status.Result, error) {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	switch corev1.PodPhase(phase) {
	case corev1.PodSucceeded:
		return &status.Result{Status: status.CurrentStatus, Message: fmt.Sprintf("pod %s succeeded", u.GetName())}, nil
	case corev1.PodFailed:
		return &status.Result{Status: status.FailedStatus, Message: fmt.Sprintf("pod %s failed", u.GetName())}, nil
	}
	return &status.Result{Status: status.InProgressStatus, Message: "Pod in progress"}, nil
}
