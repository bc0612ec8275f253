package tlog

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// UnpublishedError reports an entry that is durably stored at Index but that
// no published checkpoint covered before the caller stopped waiting. The
// entry is in the log; submitting it again is safe.
type UnpublishedError struct {
	Index uint64
	Err   error
}

func (e *UnpublishedError) Error() string {
	return fmt.Sprintf("entry stored at index %d, but no checkpoint covering it was published in time: %v", e.Index, e.Err)
}

func (e *UnpublishedError) Unwrap() error { return e.Err }

// awaiter releases adds once a published checkpoint covers their index.
//
// Unlike Tessera's PublicationAwaiter it does not fail every waiter when one
// checkpoint read fails: the waiting entries are already durable, so they
// keep waiting (each bounded by its own context) while reads are retried.
// It polls only while someone waits.
type awaiter struct {
	read func(ctx context.Context) (raw []byte, size uint64, err error)
	poll time.Duration

	// mu guards everything below.
	mu sync.Mutex
	// size and raw are the latest checkpoint seen; changed is closed (and
	// replaced) whenever they advance.
	size    uint64
	raw     []byte
	changed chan struct{}
	// waiters counts callers inside wait; wake tells the poll loop that
	// the first one arrived.
	waiters int
	wake    chan struct{}
	// lastErr is the latest read failure, for error messages.
	lastErr error
}

func newAwaiter(ctx context.Context, poll time.Duration, read func(context.Context) ([]byte, uint64, error)) *awaiter {
	a := &awaiter{read: read, poll: poll, changed: make(chan struct{}), wake: make(chan struct{}, 1)}
	go a.loop(ctx)
	return a
}

func (a *awaiter) loop(ctx context.Context) {
	t := time.NewTicker(a.poll)
	defer t.Stop()
	for {
		a.mu.Lock()
		idle := a.waiters == 0
		a.mu.Unlock()
		if idle {
			select {
			case <-ctx.Done():
				return
			case <-a.wake:
			}
		}
		raw, size, err := a.read(ctx)
		a.mu.Lock()
		switch {
		case err != nil:
			a.lastErr = err
		case size > a.size:
			a.size, a.raw, a.lastErr = size, raw, nil
			close(a.changed)
			a.changed = make(chan struct{})
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// wait blocks until a checkpoint covering index is published, returning it,
// or until ctx ends, returning an *UnpublishedError.
func (a *awaiter) wait(ctx context.Context, index uint64) ([]byte, error) {
	a.mu.Lock()
	a.waiters++
	if a.waiters == 1 {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	defer func() { a.mu.Lock(); a.waiters--; a.mu.Unlock() }()
	for {
		if a.size > index {
			raw := a.raw
			a.mu.Unlock()
			return raw, nil
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			a.mu.Lock()
			err := ctx.Err()
			if a.lastErr != nil {
				err = fmt.Errorf("%w (last checkpoint read failed: %v)", err, a.lastErr)
			}
			a.mu.Unlock()
			return nil, &UnpublishedError{Index: index, Err: err}
		case <-ch:
		}
		a.mu.Lock()
	}
}
