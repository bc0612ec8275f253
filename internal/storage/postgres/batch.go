package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
)

// maxReadyBatches bounds the batches cut but not yet sequenced. Past it, Add
// waits (respecting its context) for the sequencer to catch up, so a slow or
// unreachable database applies back-pressure instead of growing memory.
const maxReadyBatches = 16

// flushFunc durably sequences a batch, returning one Index per entry, in
// order. Futures resolve with its result.
type flushFunc func(ctx context.Context, entries []*tessera.Entry) ([]tessera.Index, error)

// pendingAdd is one Add waiting for its batch to be sequenced.
type pendingAdd struct {
	entry *tessera.Entry
	done  chan struct{} // closed once idx and err are set
	idx   tessera.Index
	err   error
}

func (p *pendingAdd) resolve(idx tessera.Index, err error) {
	p.idx, p.err = idx, err
	close(p.done)
}

func (p *pendingAdd) future() (tessera.Index, error) {
	<-p.done
	return p.idx, p.err
}

// batcher groups Adds into batches of at most maxSize entries, cut when full
// or when the oldest entry is maxAge old, and hands them to flush one at a
// time, in the order they were cut (so an entry added after another's Add
// returned never gets a smaller index).
type batcher struct {
	maxSize int
	maxAge  time.Duration
	flush   flushFunc
	wake    chan struct{} // capacity 1: tells run that ready is not empty

	mu      sync.Mutex      // guards the fields below
	filling []*pendingAdd   // the batch being filled
	gen     uint64          // batches cut so far; lets a stale age timer see its batch is gone
	timer   *time.Timer     // cuts filling at maxAge; nil when filling is empty
	ready   [][]*pendingAdd // cut batches awaiting flush, oldest first
	space   chan struct{}   // closed (and replaced) whenever ready shrinks
	stopped error           // set when run exits; later Adds fail with it
}

func newBatcher(maxSize int, maxAge time.Duration, flush flushFunc) *batcher {
	return &batcher{
		maxSize: max(maxSize, 1),
		maxAge:  maxAge,
		flush:   flush,
		wake:    make(chan struct{}, 1),
		space:   make(chan struct{}),
	}
}

// add queues e and returns its future. It waits while too many batches are
// ready, failing if ctx ends first.
func (b *batcher) add(ctx context.Context, e *tessera.Entry) tessera.IndexFuture {
	p := &pendingAdd{entry: e, done: make(chan struct{})}
	b.mu.Lock()
	for b.stopped == nil && len(b.ready) >= maxReadyBatches {
		space := b.space
		b.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			p.resolve(tessera.Index{}, fmt.Errorf("waiting to queue entry: %w", ctx.Err()))
			return p.future
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.stopped != nil {
		p.resolve(tessera.Index{}, b.stopped)
		return p.future
	}
	b.filling = append(b.filling, p)
	if len(b.filling) == 1 {
		gen := b.gen
		b.timer = time.AfterFunc(b.maxAge, func() { b.cutAged(gen) })
	}
	if len(b.filling) >= b.maxSize {
		b.cutLocked()
	}
	return p.future
}

// cutAged cuts the filling batch if it is still batch number gen.
func (b *batcher) cutAged(gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen == gen && len(b.filling) > 0 && b.stopped == nil {
		b.cutLocked()
	}
}

// cutLocked moves the filling batch to ready. b.mu must be held.
func (b *batcher) cutLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.ready = append(b.ready, b.filling)
	b.filling = nil
	b.gen++
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// next pops the oldest ready batch, joined by the ready batches after it
// that fit with it within maxSize, or returns nil. Batches cut while a flush
// ran are so sequenced together, in order, in one transaction: one commit
// (one WAL flush) for all of them, and each of their Adds still resolves
// only after it.
func (b *batcher) next() []*pendingAdd {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ready) == 0 {
		return nil
	}
	k, n := 1, len(b.ready[0])
	for k < len(b.ready) && n+len(b.ready[k]) <= b.maxSize {
		n += len(b.ready[k])
		k++
	}
	batch := slices.Concat(b.ready[:k]...)
	clear(b.ready[:k])
	b.ready = b.ready[k:]
	close(b.space)
	b.space = make(chan struct{})
	return batch
}

// run flushes ready batches in order until ctx ends, then fails every
// pending Add.
func (b *batcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			b.stop(fmt.Errorf("appender stopped: %w", ctx.Err()))
			return
		case <-b.wake:
		}
		for batch := b.next(); batch != nil; batch = b.next() {
			b.flushBatch(ctx, batch)
			if ctx.Err() != nil {
				break
			}
		}
	}
}

func (b *batcher) flushBatch(ctx context.Context, batch []*pendingAdd) {
	entries := make([]*tessera.Entry, len(batch))
	for i, p := range batch {
		entries[i] = p.entry
	}
	idx, err := b.flush(ctx, entries)
	if err == nil && len(idx) != len(batch) {
		err = fmt.Errorf("sequencing returned %d indices for %d entries", len(idx), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.resolve(tessera.Index{}, err)
		} else {
			p.resolve(idx[i], nil)
		}
	}
}

// stop fails all queued Adds with err and makes later ones fail too.
func (b *batcher) stop(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = err
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	for _, batch := range append(b.ready, b.filling) {
		for _, p := range batch {
			p.resolve(tessera.Index{}, err)
		}
	}
	b.ready, b.filling = nil, nil
	close(b.space)
	b.space = make(chan struct{})
}
