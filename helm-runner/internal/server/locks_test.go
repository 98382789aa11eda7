package server

import "testing"

func TestReleaseLocks(t *testing.T) {
	l := newReleaseLocks()
	release, ok := l.tryAcquire("ns/a")
	if !ok {
		t.Fatal("a free release must be acquired")
	}
	if _, ok := l.tryAcquire("ns/a"); ok {
		t.Fatal("a second operation on a held release must be refused")
	}
	if _, ok := l.tryAcquire("ns/b"); !ok {
		t.Fatal("another release must not contend")
	}
	if !l.isHeld("ns/a") {
		t.Fatal("isHeld must report the held release")
	}
	release()
	release() // idempotent
	if l.isHeld("ns/a") {
		t.Fatal("released lock still held")
	}
	if _, ok := l.tryAcquire("ns/a"); !ok {
		t.Fatal("a released lock must be acquirable again")
	}
}
