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
	"google.golang.org/protobuf/proto"

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
// ErrStalled or ErrDeleted, or when ctx ends. It watches with Watch, so a controller restart
// loses no change; an expired resource version (codes.OutOfRange) starts again from a Get.
func WaitReady(ctx context.Context, c helmv1.HelmReleaseServiceClient, namespace, name string) (*helmv1.HelmRelease, error) {
	for {
		got, err := c.Get(ctx, &helmv1.GetRequest{Namespace: namespace, Name: name})
		if err != nil {
			return nil, fmt.Errorf("get %s/%s: %w", namespace, name, err)
		}
		hr := got.GetHelmRelease()
		if done, err := settled(hr); done {
			return hr, err
		}
		req := &helmv1.WatchRequest{Namespace: namespace, Name: name, ResourceVersion: hr.GetResourceVersion()}
		err = Watch(ctx, c, req, func(event *helmv1.WatchResponse) (bool, error) {
			hr = event.GetHelmRelease()
			if event.GetType() == helmv1.WatchEventType_WATCH_EVENT_TYPE_DELETED {
				return true, fmt.Errorf("%s/%s: %w", namespace, name, ErrDeleted)
			}
			return settled(hr)
		})
		switch {
		case err == nil:
			return hr, nil
		case errors.Is(err, ErrDeleted) || errors.Is(err, ErrStalled):
			return hr, err
		case status.Code(err) == codes.OutOfRange && ctx.Err() == nil:
			continue
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

// Watch calls fn with each change that req selects, in order, until fn returns true or an
// error (which Watch returns), or ctx ends. When the stream ends (the controller restarts, or
// the connection breaks), Watch watches again from the last resource version received, so fn
// sees every change once; calls wait for the connection to be made again. It returns the
// stream's status for any other failure: codes.OutOfRange when the resource version is too old
// (list or get again, then watch from there), codes.PermissionDenied, and so on.
func Watch(ctx context.Context, c helmv1.HelmReleaseServiceClient, req *helmv1.WatchRequest, fn func(*helmv1.WatchResponse) (bool, error)) error {
	req = proto.CloneOf(req)
	retry := backoff{next: 100 * time.Millisecond, max: 5 * time.Second}
	for {
		received, finished, err := watchOnce(ctx, c, req, fn)
		if finished || !errors.Is(err, errStreamEnded) && status.Code(err) != codes.Unavailable {
			return err
		}
		if received {
			retry.next = 100 * time.Millisecond
		}
		if err := retry.wait(ctx); err != nil {
			return err
		}
	}
}

// errStreamEnded marks a stream that the server ended without an error.
var errStreamEnded = errors.New("watch stream ended")

// watchOnce runs one Watch stream, advancing req.ResourceVersion with each event. It returns
// whether any event came, and either finished with fn's verdict (nil once fn is done, or fn's
// error), or the stream's end: errStreamEnded, the stream's status, or ctx's error.
func watchOnce(ctx context.Context, c helmv1.HelmReleaseServiceClient, req *helmv1.WatchRequest, fn func(*helmv1.WatchResponse) (bool, error)) (received, finished bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// WaitForReady: after a controller restart the call waits for the connection to be made
	// again instead of failing at once.
	stream, err := c.Watch(ctx, req, grpc.WaitForReady(true))
	if err != nil {
		return false, false, err
	}
	for {
		event, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return received, false, errStreamEnded
		case err != nil && ctx.Err() != nil:
			return received, false, ctx.Err()
		case err != nil:
			return received, false, err
		}
		received = true
		req.ResourceVersion = event.GetHelmRelease().GetResourceVersion()
		if done, err := fn(event); done || err != nil {
			return received, true, err
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
