package tlog

import (
	"container/heap"
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
// It polls only while someone waits, and a new checkpoint wakes only the
// waiters it covers: with thousands of adds in flight, most wait for a
// later checkpoint than the next, and waking them all for each one cost
// more than proving the covered ones.
type awaiter struct {
	read func(ctx context.Context) (raw []byte, size uint64, err error)
	poll time.Duration

	// mu guards everything below.
	mu sync.Mutex
	// size and raw are the latest checkpoint seen.
	size uint64
	raw  []byte
	// pending holds the waiters not yet covered, lowest index first;
	// advance takes out those a new checkpoint covers and sends it to
	// each (their channels have room for it).
	pending waiterHeap
	// wake tells the poll loop that the first waiter arrived, or that
	// this process signed a checkpoint (hint).
	wake chan struct{}
	// hintUntil, set by hint, makes the loop poll every hintPoll instead
	// of every poll until it sees a larger tree or this time passes.
	hintUntil time.Time
	// lastErr is the latest read failure, for error messages.
	lastErr error
}

// waiter is one caller of wait: its index and where its checkpoint goes.
// at is its position in the heap, -1 once taken out.
type waiter struct {
	index uint64
	ch    chan []byte
	at    int
}

// waiterHeap is a container/heap of waiters by index.
type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].index < h[j].index }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}
func (h *waiterHeap) Push(x any) { w := x.(*waiter); w.at = len(*h); *h = append(*h, w) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.at = -1
	return w
}

func newAwaiter(ctx context.Context, poll time.Duration, read func(context.Context) ([]byte, uint64, error)) *awaiter {
	a := &awaiter{read: read, poll: poll, wake: make(chan struct{}, 1)}
	go a.loop(ctx)
	return a
}

// hintPoll is how often the loop polls after a hint, until the signed
// checkpoint is published: storing it takes a few milliseconds after the
// signature (a file written and synced, or a transaction committed).
const hintPoll = time.Millisecond

func (a *awaiter) loop(ctx context.Context) {
	t := time.NewTimer(a.poll)
	defer t.Stop()
	for {
		a.mu.Lock()
		idle := len(a.pending) == 0
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
		if err != nil {
			a.lastErr = err
		} else if size > a.size {
			a.advance(raw, size)
			a.hintUntil = time.Time{}
		}
		next := a.poll
		if time.Now().Before(a.hintUntil) {
			next = hintPoll
		}
		a.mu.Unlock()
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.wake:
		}
	}
}

// hint tells the awaiter that this process has just signed a checkpoint,
// which its store is about to publish: while adds wait, it polls every
// hintPoll instead of every poll, for at most one poll, so that they learn
// of the checkpoint within about a millisecond of its publication. Tessera
// signs before it stores, so the signature is the earliest signal it
// gives; nothing is released before the checkpoint is read back as
// published.
func (a *awaiter) hint() {
	a.mu.Lock()
	a.hintUntil = time.Now().Add(a.poll)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// advance records a new checkpoint and releases the waiters it covers.
// a.mu must be held.
func (a *awaiter) advance(raw []byte, size uint64) {
	a.size, a.raw, a.lastErr = size, raw, nil
	for len(a.pending) > 0 && a.pending[0].index < size {
		w := heap.Pop(&a.pending).(*waiter)
		w.ch <- raw
	}
}

// wait blocks until a checkpoint covering index is published, returning it,
// or until ctx ends, returning an *UnpublishedError.
func (a *awaiter) wait(ctx context.Context, index uint64) ([]byte, error) {
	a.mu.Lock()
	if a.size > index {
		raw := a.raw
		a.mu.Unlock()
		return raw, nil
	}
	w := &waiter{index: index, ch: make(chan []byte, 1)}
	heap.Push(&a.pending, w)
	if len(a.pending) == 1 {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	a.mu.Unlock()
	select {
	case raw := <-w.ch:
		return raw, nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.at < 0 {
		// Released while ctx ended: the checkpoint is here, take it.
		return <-w.ch, nil
	}
	heap.Remove(&a.pending, w.at)
	err := ctx.Err()
	if a.lastErr != nil {
		err = fmt.Errorf("%w (last checkpoint read failed: %v)", err, a.lastErr)
	}
	return nil, &UnpublishedError{Index: index, Err: err}
}
