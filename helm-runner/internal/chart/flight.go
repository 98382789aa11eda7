package chart

import (
	"context"
	"sync"
)

// flights runs one fetch per key at a time and shares its result with every caller that asks
// meanwhile. Unlike singleflight, a fetch is not tied to the first caller's context: it runs
// until it ends or until every waiting caller has given up, whichever comes first.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	result  archive
	err     error
	waiters int
	cancel  context.CancelFunc
}

func newFlights() *flights {
	return &flights{m: map[string]*flight{}}
}

// do returns fn's result for key, starting fn only if no call for key is in flight. fn gets a
// context that keeps ctx's values and is cancelled once no caller waits any more. When ctx
// ends first, do returns its TIMEOUT or CANCELLED failure.
func (f *flights) do(ctx context.Context, key, what string, fn func(context.Context) (archive, error)) (archive, error) {
	f.mu.Lock()
	fl, ok := f.m[key]
	if !ok {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		fl = &flight{done: make(chan struct{}), cancel: cancel}
		f.m[key] = fl
		go f.run(fctx, key, fl, fn)
	}
	fl.waiters++
	f.mu.Unlock()

	select {
	case <-fl.done:
		return fl.result, fl.err
	case <-ctx.Done():
		f.leave(key, fl)
		return archive{}, contextFailure(ctx, what)
	}
}

func (f *flights) run(ctx context.Context, key string, fl *flight, fn func(context.Context) (archive, error)) {
	fl.result, fl.err = fn(ctx)
	f.mu.Lock()
	if f.m[key] == fl {
		delete(f.m, key)
	}
	f.mu.Unlock()
	fl.cancel()
	close(fl.done)
}

// leave drops one waiter; the last one cancels the fetch and forgets it, so that a later
// caller starts afresh instead of joining a cancelled fetch.
func (f *flights) leave(key string, fl *flight) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.waiters--; fl.waiters > 0 {
		return
	}
	fl.cancel()
	if f.m[key] == fl {
		delete(f.m, key)
	}
}
