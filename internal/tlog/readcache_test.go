package tlog

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
)

func TestByteCacheBound(t *testing.T) {
	const size = 1000
	c := newByteCache(8 * (size + entryOverhead)) // room for 8
	key := func(i uint64) resourceKey { return resourceKey{index: i} }
	for i := range uint64(8) {
		c.add(key(i), make([]byte, size))
	}
	// Touch 0 so that 1 is the least recently used.
	if _, ok := c.get(key(0)); !ok {
		t.Fatal("resource 0 not cached")
	}
	c.add(key(8), make([]byte, size))
	if _, ok := c.get(key(1)); ok {
		t.Error("resource 1, the least recently used, was kept past the bound")
	}
	for _, i := range []uint64{0, 2, 7, 8} {
		if _, ok := c.get(key(i)); !ok {
			t.Errorf("resource %d was evicted", i)
		}
	}
	if c.used > c.max {
		t.Errorf("%d bytes used, bound %d", c.used, c.max)
	}
	// One eighth of the bound or more is not cached at all.
	c.add(key(100), make([]byte, c.max/8))
	if _, ok := c.get(key(100)); ok {
		t.Error("a resource of an eighth of the bound was cached")
	}
	// Adding a key again keeps the first copy and the count.
	used := c.used
	c.add(key(0), make([]byte, size))
	if c.used != used {
		t.Errorf("adding a cached key again changed the bytes used from %d to %d", used, c.used)
	}
}

// countingReader is a log reader of constant tiles and bundles that counts
// its reads and makes each wait at gate.
type countingReader struct {
	tessera.LogReader
	tileReads, bundleReads atomic.Int64
	gate                   chan struct{}
	bundle                 []byte
}

func (r *countingReader) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	r.tileReads.Add(1)
	<-r.gate
	n := 256
	if p > 0 {
		n = int(p)
	}
	return bytes.Repeat([]byte{byte(index)}, n*hashSize), nil
}

func (r *countingReader) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	r.bundleReads.Add(1)
	<-r.gate
	return r.bundle, nil
}

func newCountingReader() *countingReader {
	var b []byte
	for range 256 {
		b = append(b, 0, 3, 'a', 'b', 'c')
	}
	return &countingReader{gate: make(chan struct{}), bundle: b}
}

// TestCachedReaderOneReadPerResource checks that concurrent misses of one
// full tile or bundle share one storage read and that later reads come
// from memory, and that partial bundles are not kept.
func TestCachedReaderOneReadPerResource(t *testing.T) {
	ctx := t.Context()
	r := newCountingReader()
	c := newCachedReader(r, DefaultReadCacheBytes)
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := c.tile(ctx, 0, 7, 0); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := c.bundle(ctx, 7, 0); err != nil {
				t.Error(err)
			}
		})
	}
	for r.tileReads.Load() == 0 || r.bundleReads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others join the reads
	close(r.gate)
	wg.Wait()
	if got := r.tileReads.Load(); got != 1 {
		t.Errorf("%d tile reads for %d concurrent requests of one tile, want 1", got, n)
	}
	if got := r.bundleReads.Load(); got != 1 {
		t.Errorf("%d bundle reads for %d concurrent requests of one bundle, want 1", got, n)
	}
	// From memory now, and a partial of a full one is cut from it.
	for _, w := range []uint8{0, 5} {
		if tl, err := c.tile(ctx, 0, 7, w); err != nil || (w > 0 && len(tl) != int(w)*hashSize) {
			t.Fatalf("tile 0/7 width %d: %d bytes, %v", w, len(tl), err)
		}
		if b, err := c.bundle(ctx, 7, w); err != nil || (w > 0 && len(b) != int(w)*5) {
			t.Fatalf("bundle 7 width %d: %d bytes, %v", w, len(b), err)
		}
	}
	if got := r.tileReads.Load() + r.bundleReads.Load(); got != 2 {
		t.Errorf("%d storage reads after the resources were cached, want still 2", got)
	}
	// A partial bundle (storage has only that width) is read every time.
	r.bundle = r.bundle[:10*5]
	for range 2 {
		if b, err := c.bundle(ctx, 8, 10); err != nil || len(b) != 50 {
			t.Fatalf("partial bundle 8.p/10: %d bytes, %v", len(b), err)
		}
	}
	if got := r.bundleReads.Load(); got != 3 {
		t.Errorf("%d bundle reads after two reads of a partial bundle, want 3 (partials are not kept)", got)
	}
}

// BenchmarkCachedTile is the tile path of GET /api/v2/tile/... once the tile
// is in memory.
func BenchmarkCachedTile(b *testing.B) {
	r := newCountingReader()
	close(r.gate)
	c := newCachedReader(r, DefaultReadCacheBytes)
	for i := range uint64(64) {
		if _, err := c.tile(b.Context(), 0, i, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			if _, err := c.tile(context.Background(), 0, i%64, 0); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
