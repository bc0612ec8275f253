package tlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAwaiterReleasesCovered: each checkpoint releases exactly the waiters
// below its size, with that checkpoint; the others keep waiting, and one
// whose context ends leaves with an *UnpublishedError.
func TestAwaiterReleasesCovered(t *testing.T) {
	var size atomic.Uint64
	a := newAwaiter(t.Context(), time.Millisecond, func(context.Context) ([]byte, uint64, error) {
		n := size.Load()
		return fmt.Appendf(nil, "checkpoint %d", n), n, nil
	})
	type result struct {
		index uint64
		raw   string
		err   error
	}
	results := make(chan result, 100)
	var wg sync.WaitGroup
	for i := range uint64(100) {
		wg.Go(func() {
			raw, err := a.wait(t.Context(), i)
			results <- result{i, string(raw), err}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	late := make(chan error, 1)
	go func() { _, err := a.wait(ctx, 1000); late <- err }()
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.pending) == 101 })

	for _, s := range []uint64{10, 50, 100} {
		size.Store(s)
		waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.pending) == int(101-s) })
	}
	wg.Wait()
	close(results)
	for r := range results {
		var want uint64 = 10
		switch {
		case r.index >= 50:
			want = 100
		case r.index >= 10:
			want = 50
		}
		if r.err != nil || r.raw != fmt.Sprintf("checkpoint %d", want) {
			t.Errorf("waiter %d got %q, %v; want checkpoint %d", r.index, r.raw, r.err, want)
		}
	}
	cancel()
	var unpublished *UnpublishedError
	if err := <-late; !errors.As(err, &unpublished) || unpublished.Index != 1000 {
		t.Errorf("waiter whose context ended: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) != 0 {
		t.Errorf("%d waiters left pending", len(a.pending))
	}
	// Already covered: no wait at all.
	a.mu.Unlock()
	raw, err := a.wait(t.Context(), 99)
	a.mu.Lock()
	if err != nil || string(raw) != "checkpoint 100" {
		t.Errorf("covered index: %q, %v", raw, err)
	}
}

// TestAwaiterHint: a checkpoint signed by this process makes the awaiter
// poll at once and then every hintPoll, so a waiter learns of it long
// before the next regular poll (an hour here); it is released only once the
// checkpoint is read back as published.
func TestAwaiterHint(t *testing.T) {
	var size, reads atomic.Uint64
	a := newAwaiter(t.Context(), time.Hour, func(context.Context) ([]byte, uint64, error) {
		reads.Add(1)
		n := size.Load()
		return fmt.Appendf(nil, "checkpoint %d", n), n, nil
	})
	got := make(chan string, 1)
	go func() {
		raw, err := a.wait(t.Context(), 0)
		if err != nil {
			raw = []byte(err.Error())
		}
		got <- string(raw)
	}()
	waitFor(t, func() bool { return reads.Load() >= 1 }) // the first waiter's poll
	// Signed, not yet stored: polls every hintPoll from now on (a
	// wake-up already pending may add one read, not three).
	before := reads.Load()
	a.hint()
	waitFor(t, func() bool { return reads.Load() >= before+3 })
	select {
	case raw := <-got:
		t.Fatalf("waiter released with %q before the checkpoint was published", raw)
	default:
	}
	size.Store(1) // stored
	if raw := <-got; raw != "checkpoint 1" {
		t.Errorf("waiter got %q, want checkpoint 1", raw)
	}
}
