// Package storage observes what Helm really writes to its release storage.
//
// Helm's actions write several records per operation (a pending revision, status updates, the
// previous revision superseded, pruned history) and may fail after some of them. The runner
// reports those writes to the reconciler exactly, whether the operation succeeded or not, so
// they are recorded by wrapping the storage driver rather than inferred from the result.
package storage

import (
	"sync"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// Action is the kind of a storage write.
type Action string

// Write actions.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Write is one successful write to release storage: the record as it was written (for a
// delete, as it was before deletion).
type Write struct {
	Action       Action
	Revision     int
	Status       common.Status
	ChartVersion string
	Time         time.Time
}

// Observer is a driver.Driver that delegates to another driver and records every Create, Update
// and Delete that succeeded, in the order they returned. Failed writes are not recorded. Reads
// pass through unrecorded. Safe for concurrent use.
type Observer struct {
	driver.Driver

	mu      sync.Mutex
	writes  []Write
	restore func(*chart.Chart) *chart.Chart
}

// RestoreChart makes every later Create and Update store a release whose chart is replaced by
// restore(chart) (when that returns another chart), leaving the release Helm holds unchanged.
// With isolated rendering Helm runs on a chart whose templates are stubs; the record must keep
// the chart as it was given, templates included, as `helm get` and rollbacks read it.
func (o *Observer) RestoreChart(restore func(*chart.Chart) *chart.Chart) {
	o.mu.Lock()
	o.restore = restore
	o.mu.Unlock()
}

// stored is the record to write for rls.
func (o *Observer) stored(rls release.Releaser) release.Releaser {
	o.mu.Lock()
	restore := o.restore
	o.mu.Unlock()
	r, ok := rls.(*rspb.Release)
	if restore == nil || !ok || r.Chart == nil {
		return rls
	}
	ch := restore(r.Chart)
	if ch == r.Chart {
		return rls
	}
	cp := *r
	cp.Chart = ch
	return &cp
}

var _ driver.Driver = (*Observer)(nil)

// NewObserver wraps d.
func NewObserver(d driver.Driver) *Observer {
	return &Observer{Driver: d}
}

// Create stores rls through the wrapped driver and records it when that succeeded.
func (o *Observer) Create(key string, rls release.Releaser) error {
	if err := o.Driver.Create(key, o.stored(rls)); err != nil {
		return err
	}
	o.record(Create, rls)
	return nil
}

// Update stores rls through the wrapped driver and records it when that succeeded.
func (o *Observer) Update(key string, rls release.Releaser) error {
	if err := o.Driver.Update(key, o.stored(rls)); err != nil {
		return err
	}
	o.record(Update, rls)
	return nil
}

// Delete deletes through the wrapped driver and records the deleted record when that
// succeeded.
func (o *Observer) Delete(key string) (release.Releaser, error) {
	rls, err := o.Driver.Delete(key)
	if err != nil {
		return rls, err
	}
	o.record(Delete, rls)
	return rls, nil
}

// Writes returns a copy of the writes recorded so far, oldest first.
func (o *Observer) Writes() []Write {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Write(nil), o.writes...)
}

// Len returns how many writes were recorded so far; Writes()[n:] are the writes made after a
// call that returned n.
func (o *Observer) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.writes)
}

// record snapshots the record's fields now: Helm keeps mutating the same release object after
// writing it.
func (o *Observer) record(a Action, rls release.Releaser) {
	w := Write{Action: a, Time: time.Now()}
	if r := asV1(rls); r != nil {
		w.Revision = r.Version
		if r.Info != nil {
			w.Status = r.Info.Status
		}
		if r.Chart != nil && r.Chart.Metadata != nil {
			w.ChartVersion = r.Chart.Metadata.Version
		}
	} else if acc, err := release.NewAccessor(rls); err == nil {
		w.Revision = acc.Version()
		w.Status = common.Status(acc.Status())
	}
	o.mu.Lock()
	o.writes = append(o.writes, w)
	o.mu.Unlock()
}

func asV1(rls release.Releaser) *rspb.Release {
	switch r := rls.(type) {
	case *rspb.Release:
		return r
	case rspb.Release:
		return &r
	}
	return nil
}
