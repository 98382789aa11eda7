package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	helmv1 "github.com/project-planton/helm-release-controller/sdk/go/planton/helm/v1"
)

var (
	// ErrStalled is returned by WaitReady when the HelmRelease is Stalled for its current
	// generation: the controller will not make progress without a change to the spec or the
	// cluster.
	ErrStalled = errors.New("stalled")
	// ErrDeleted is returned by WaitReady when the HelmRelease is deleted while it waits.
	ErrDeleted = errors.New("deleted")
)

// Condition returns hr's condition of type conditionType, or nil.
func Condition(hr *helmv1.HelmRelease, conditionType string) *helmv1.Condition {
	for _, c := range hr.GetStatus().GetConditions() {
		if c.GetType() == conditionType {
			return c
		}
	}
	return nil
}

// Ready reports whether the controller has acted on hr's current spec and the release is
// installed and healthy: the Ready condition is True and the status describes hr's generation.
func Ready(hr *helmv1.HelmRelease) bool {
	return current(hr, "Ready")
}

// current reports whether hr's condition of type conditionType is True for hr's generation.
func current(hr *helmv1.HelmRelease, conditionType string) bool {
	c := Condition(hr, conditionType)
	return c != nil && c.GetStatus() == "True" &&
		hr.GetStatus().GetObservedGeneration() == hr.GetGeneration()
}

// WaitReady returns the HelmRelease namespace/name once it is Ready, watching it from its
// current state. It fails with the Get's status (codes.NotFound when it does not exist), with
// ErrStalled or ErrDeleted, or when ctx ends. A watch stream that ends (for example when the
// controller restarts) is watched again from the last resource version received, so no change
// is missed; an expired resource version (codes.OutOfRange) starts again from a Get.
func WaitReady(ctx context.Context, c helmv1.HelmReleaseServiceClient, namespace, name string) (*helmv1.HelmRelease, error) {
	resourceVersion := ""
	retry := backoff{next: 100 * time.Millisecond, max: 5 * time.Second}
	for {
		if resourceVersion == "" {
			got, err := c.Get(ctx, &helmv1.GetRequest{Namespace: namespace, Name: name})
			if err != nil {
				return nil, fmt.Errorf("get %s/%s: %w", namespace, name, err)
			}
			if done, err := settled(got.GetHelmRelease()); done {
				return got.GetHelmRelease(), err
			}
			resourceVersion = got.GetHelmRelease().GetResourceVersion()
		}
		hr, last, err := watchUntilSettled(ctx, c, namespace, name, resourceVersion)
		if hr != nil || err == nil {
			return hr, err
		}
		if last != "" {
			resourceVersion = last
		}
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("wait for %s/%s to be Ready: %w", namespace, name, ctx.Err())
		case status.Code(err) == codes.OutOfRange:
			resourceVersion = ""
		case errors.Is(err, io.EOF) || status.Code(err) == codes.Unavailable:
			if err := retry.wait(ctx); err != nil {
				return nil, fmt.Errorf("wait for %s/%s to be Ready: %w", namespace, name, err)
			}
		default:
			return nil, fmt.Errorf("watch %s/%s: %w", namespace, name, err)
		}
	}
}

// settled reports whether waiting for hr is over, and with which error.
func settled(hr *helmv1.HelmRelease) (bool, error) {
	switch {
	case Ready(hr):
		return true, nil
	case current(hr, "Stalled"):
		c := Condition(hr, "Stalled")
		return true, fmt.Errorf("%s/%s: %w: %s: %s", hr.GetNamespace(), hr.GetName(), ErrStalled, c.GetReason(), c.GetMessage())
	}
	return false, nil
}

// watchUntilSettled watches namespace/name after resourceVersion. It returns the HelmRelease
// once it is settled, or the stream's error (io.EOF when the server ended the stream) with the
// last resource version received.
func watchUntilSettled(ctx context.Context, c helmv1.HelmReleaseServiceClient, namespace, name, resourceVersion string) (*helmv1.HelmRelease, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// WaitForReady: after a controller restart the call waits for the connection to be made
	// again instead of failing at once.
	stream, err := c.Watch(ctx, &helmv1.WatchRequest{Namespace: namespace, Name: name, ResourceVersion: resourceVersion}, grpc.WaitForReady(true))
	if err != nil {
		return nil, "", err
	}
	last := ""
	for {
		event, err := stream.Recv()
		if err != nil {
			return nil, last, err
		}
		hr := event.GetHelmRelease()
		last = hr.GetResourceVersion()
		if event.GetType() == helmv1.WatchEventType_WATCH_EVENT_TYPE_DELETED {
			return hr, last, fmt.Errorf("%s/%s: %w", namespace, name, ErrDeleted)
		}
		if done, err := settled(hr); done {
			return hr, last, err
		}
	}
}

// backoff is a doubling delay between attempts, up to max.
type backoff struct {
	next, max time.Duration
}

func (b *backoff) wait(ctx context.Context) error {
	timer := time.NewTimer(b.next)
	defer timer.Stop()
	b.next = min(2*b.next, b.max)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
