package server

import "sync"

// releaseLocks makes operations on one release exclusive within this runner: a second operation
// on a release that is being operated on is refused, never queued or interleaved. Operations on
// different releases do not contend.
type releaseLocks struct {
	mu   sync.Mutex
	held map[string]struct{}
}

func newReleaseLocks() *releaseLocks {
	return &releaseLocks{held: map[string]struct{}{}}
}

func releaseKey(namespace, name string) string { return namespace + "/" + name }

// tryAcquire takes the release's lock if it is free. ok is false when another operation holds
// it; otherwise the caller must call release exactly once.
func (l *releaseLocks) tryAcquire(key string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.held[key]; busy {
		return nil, false
	}
	l.held[key] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, key)
			l.mu.Unlock()
		})
	}, true
}

// isHeld reports whether an operation on the release is in progress in this runner.
func (l *releaseLocks) isHeld(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, busy := l.held[key]
	return busy
}
