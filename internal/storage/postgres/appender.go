package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/tessera"
)

const (
	// minCheckpointInterval is the shortest CheckpointInterval accepted. A
	// signer waits for the next checkpoint, so the interval bounds add→proof
	// latency; publishing is one small transaction, so PostgreSQL can afford
	// a far shorter floor than Tessera's POSIX driver (100 ms).
	minCheckpointInterval = 10 * time.Millisecond
	// integrateFallback is how often a frontend looks for work to integrate
	// without being woken, in case a notification was lost.
	integrateFallback = time.Second
	// integrateBusyRetry is how soon integration looks again when another
	// frontend holds the integration lock while entries are pending.
	integrateBusyRetry = 20 * time.Millisecond
)

// appender is the running write side of a Store: the sequencer's batcher and
// the integration, publishing and listening goroutines. Its fields are set
// before the goroutines start and never change.
type appender struct {
	s              *Store
	batcher        *batcher
	pushbackMax    int64
	cpInterval     time.Duration
	cpRepublish    time.Duration
	publishCP      func(ctx context.Context, size uint64, root []byte) ([]byte, error)
	integrateWakes chan struct{} // capacity 1: there may be sequenced entries to integrate
	publishWakes   chan struct{} // capacity 1: the integrated tree may have grown
}

// Appender starts the write side of the log and returns Tessera's Appender
// and a LogReader (the Store itself). It is the driver method
// tessera.NewAppender calls; use that rather than calling it directly. A
// Store runs at most one appender; its background work stops when ctx ends
// or the Store is closed.
//
// The options used are the batch size and age, PushbackMaxOutstanding, the
// checkpoint interval (at least 100 ms) and republish interval, and the
// checkpoint publisher. EntriesPath is not needed: bundles are rows keyed by
// index, whatever their path. GarbageCollectionInterval is ignored: tiles and
// bundles are rows completed in place, so there are no partial copies to
// collect, and integration deletes the sequenced batches it consumes in the
// same transaction.
func (s *Store) Appender(ctx context.Context, opts *tessera.AppendOptions) (*tessera.Appender, tessera.LogReader, error) {
	if opts == nil {
		return nil, nil, errors.New("postgres: nil AppendOptions")
	}
	if opts.CheckpointInterval() < minCheckpointInterval {
		return nil, nil, fmt.Errorf("postgres: CheckpointInterval %v is below the minimum %v", opts.CheckpointInterval(), minCheckpointInterval)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, nil, errors.New("postgres: store is closed")
	case s.running:
		return nil, nil, errors.New("postgres: store already runs an appender")
	}
	a := &appender{
		s:              s,
		pushbackMax:    int64(min(opts.PushbackMaxOutstanding(), 1<<62)),
		cpInterval:     opts.CheckpointInterval(),
		cpRepublish:    opts.CheckpointRepublishInterval(),
		publishCP:      opts.CheckpointPublisher(s, s.cfg.HTTPClient),
		integrateWakes: make(chan struct{}, 1),
		publishWakes:   make(chan struct{}, 1),
	}
	a.batcher = newBatcher(int(min(opts.BatchMaxSize(), 1<<20)), opts.BatchMaxAge(), a.sequence)
	ctx, cancel := context.WithCancel(ctx)
	s.running, s.stop = true, cancel
	// Look for leftover work and publish a first checkpoint straight away.
	a.wakeIntegrator()
	a.wakePublisher()
	for _, run := range []func(context.Context){a.batcher.run, a.integrateLoop, a.publishLoop, a.listenLoop} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run(ctx)
		}()
	}
	return &tessera.Appender{Add: a.batcher.add}, s, nil
}

func (a *appender) wakeIntegrator() { wake(a.integrateWakes) }

func (a *appender) wakePublisher() { wake(a.publishWakes) }

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// backoff spaces out retries of failing background work: 100 ms doubling
// up to 30 s, reset by a success.
type backoff struct {
	d time.Duration
}

func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, 100*time.Millisecond), 30*time.Second)
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleep waits for d or until ctx ends, reporting whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
