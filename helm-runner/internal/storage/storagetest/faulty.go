// Package storagetest holds fault injection for tests of code that writes Helm release storage.
package storagetest

import (
	"errors"
	"sync"

	"helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// ErrInjected is the error a Faulty driver returns for the writes it fails.
var ErrInjected = errors.New("injected storage failure")

// Faulty is a driver.Driver that fails chosen writes and delegates everything else. FailCreate,
// FailUpdate and FailDelete number the call to fail (1 = the first call); 0 never fails. A
// failed write changes nothing in the wrapped driver. Safe for concurrent use.
type Faulty struct {
	driver.Driver
	FailCreate int
	FailUpdate int
	FailDelete int

	mu                        sync.Mutex
	creates, updates, deletes int
}

// Create fails with ErrInjected when it is the FailCreate-th call.
func (f *Faulty) Create(key string, rls release.Releaser) error {
	if f.next(&f.creates, f.FailCreate) {
		return ErrInjected
	}
	return f.Driver.Create(key, rls)
}

// Update fails with ErrInjected when it is the FailUpdate-th call.
func (f *Faulty) Update(key string, rls release.Releaser) error {
	if f.next(&f.updates, f.FailUpdate) {
		return ErrInjected
	}
	return f.Driver.Update(key, rls)
}

// Delete fails with ErrInjected when it is the FailDelete-th call.
func (f *Faulty) Delete(key string) (release.Releaser, error) {
	if f.next(&f.deletes, f.FailDelete) {
		return nil, ErrInjected
	}
	return f.Driver.Delete(key)
}

func (f *Faulty) next(counter *int, failAt int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	*counter++
	return *counter == failAt
}
