package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
)

// TestBatcherOrderAndSize checks that batches are cut at maxSize, flushed one
// at a time in order, and that futures get their entry's index.
func TestBatcherOrderAndSize(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var next uint64
	var sizes []int
	inFlight := 0
	b := newBatcher(10, time.Hour, func(ctx context.Context, entries []*tessera.Entry) ([]tessera.Index, error) {
		mu.Lock()
		inFlight++
		if inFlight > 1 {
			t.Error("two flushes at once")
		}
		sizes = append(sizes, len(entries))
		mu.Unlock()
		idx := make([]tessera.Index, len(entries))
		for i, e := range entries {
			idx[i] = tessera.Index{Index: next}
			e.MarshalBundleData(next)
			next++
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return idx, nil
	})
	go b.run(ctx)
	var futures []tessera.IndexFuture
	var entries []*tessera.Entry
	for i := range 100 {
		e := tessera.NewEntry(fmt.Appendf(nil, "%d", i))
		entries = append(entries, e)
		futures = append(futures, b.add(ctx, e))
	}
	for i, f := range futures {
		idx, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if idx.Index != uint64(i) {
			t.Fatalf("entry %d got index %d: batches were reordered", i, idx.Index)
		}
	}
	for _, s := range sizes {
		if s != 10 {
			t.Errorf("flushed a batch of %d, want 10", s)
		}
	}
}

// TestBatcherAge checks that a partly filled batch is flushed at maxAge.
func TestBatcherAge(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := newBatcher(1000, 20*time.Millisecond, func(ctx context.Context, entries []*tessera.Entry) ([]tessera.Index, error) {
		return make([]tessera.Index, len(entries)), nil
	})
	go b.run(ctx)
	start := time.Now()
	if _, err := b.add(ctx, tessera.NewEntry([]byte("x")))(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a lone entry took %v to flush", d)
	}
}

// TestBatcherStop checks that stopping fails pending and later Adds, and
// that flush errors reach every future of the batch.
func TestBatcherStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("boom")
	b := newBatcher(2, time.Hour, func(ctx context.Context, entries []*tessera.Entry) ([]tessera.Index, error) {
		return nil, boom
	})
	done := make(chan struct{})
	go func() { b.run(ctx); close(done) }()
	f1, f2 := b.add(ctx, tessera.NewEntry([]byte("a"))), b.add(ctx, tessera.NewEntry([]byte("b")))
	for _, f := range []tessera.IndexFuture{f1, f2} {
		if _, err := f(); !errors.Is(err, boom) {
			t.Errorf("flush error: got %v, want %v", err, boom)
		}
	}
	pending := b.add(ctx, tessera.NewEntry([]byte("c")))
	cancel()
	<-done
	if _, err := pending(); !errors.Is(err, context.Canceled) {
		t.Errorf("pending Add after stop: got %v, want context.Canceled", err)
	}
	if _, err := b.add(context.Background(), tessera.NewEntry([]byte("d")))(); !errors.Is(err, context.Canceled) {
		t.Errorf("Add after stop: got %v, want context.Canceled", err)
	}
}

// TestBatcherJoinsReadyBatches checks group commit: batches cut while a
// flush runs are flushed together, in order, within maxSize, and every
// future gets its entry's index only from that joint flush.
func TestBatcherJoinsReadyBatches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	var next uint64
	b := newBatcher(3, time.Millisecond, func(ctx context.Context, entries []*tessera.Entry) ([]tessera.Index, error) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(entries))
		mu.Unlock()
		if first {
			<-release
		}
		idx := make([]tessera.Index, len(entries))
		for i := range entries {
			idx[i] = tessera.Index{Index: next}
			next++
		}
		return idx, nil
	})
	go b.run(ctx)
	readyBatches := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.ready)
	}
	var futures []tessera.IndexFuture
	add := func(s string) { futures = append(futures, b.add(ctx, tessera.NewEntry([]byte(s)))) }
	add("a") // cut at 1 ms and flushed; the flush waits for release
	waitUntil(t, "the first flush", func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 })
	for i, s := range []string{"b", "c", "d"} {
		add(s)
		waitUntil(t, "a cut batch", func() bool { return readyBatches() == i+1 })
	}
	close(release)
	for i, f := range futures {
		idx, err := f()
		if err != nil || idx.Index != uint64(i) {
			t.Fatalf("entry %d got %+v, %v; want index %d", i, idx, err, i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 3}; !slices.Equal(sizes, want) {
		t.Errorf("flushed batches of %v, want %v (b, c and d joined)", sizes, want)
	}
}

// waitUntil polls cond until it holds, failing after a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
