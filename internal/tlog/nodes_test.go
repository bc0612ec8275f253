package tlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// refTiles serves the hash tiles of a reference tree, as a log's storage
// would after integrating its leaves, and counts the tile reads.
type refTiles struct {
	tessera.LogReader // nil: only tiles are read
	ref               *testonly.Tree
	// levels[k] holds the hashes of the complete subtrees of height 8k.
	levels [][][]byte
	reads  atomic.Int64
	// gate, when set, holds every read until it is closed.
	gate chan struct{}
}

func newRefTiles(n int) *refTiles {
	ref := testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		ref.AppendData(fmt.Appendf(nil, "leaf %d", i))
	}
	r := &refTiles{ref: ref}
	var level [][]byte
	for i := range uint64(n) {
		level = append(level, ref.LeafHash(i))
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	for len(level) > 0 {
		r.levels = append(r.levels, level)
		var up [][]byte
		for i := 0; i+layout.TileWidth <= len(level); i += layout.TileWidth {
			cr := rf.NewEmptyRange(0)
			for _, h := range level[i : i+layout.TileWidth] {
				if err := cr.Append(h, nil); err != nil {
					panic(err)
				}
			}
			root, err := cr.GetRootHash(nil)
			if err != nil {
				panic(err)
			}
			up = append(up, root)
		}
		level = up
	}
	return r
}

func (r *refTiles) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	r.reads.Add(1)
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	width := uint64(p)
	if p == 0 {
		width = layout.TileWidth
	}
	first := index * layout.TileWidth
	if level >= uint64(len(r.levels)) || first+width > uint64(len(r.levels[level])) {
		return nil, ErrNotFound
	}
	return slices.Concat(r.levels[level][first : first+width]...), nil
}

func newTestNodeCache(t *testing.T, r *refTiles) *nodeCache {
	t.Helper()
	cr := newCachedReader(r, 64*(8<<10))
	c, err := newNodeCache(cr, 16)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNodeCacheMatchesReference proves at sizes around tile boundaries on
// three tile levels, with one cache for all of them (so full trees built
// for one size serve the others), against the reference tree.
func TestNodeCacheMatchesReference(t *testing.T) {
	const n = 65536 + 3*256 + 7
	r := newRefTiles(n)
	c := newTestNodeCache(t, r)
	ctx := t.Context()
	for _, size := range []uint64{1, 2, 255, 256, 257, 511, 512, 4095, 65535, 65536, 65537, 65536 + 256, n - 1, n} {
		root, err := c.root(ctx, size)
		if err != nil {
			t.Fatalf("root(%d): %v", size, err)
		}
		if want := r.ref.HashAt(size); !slices.Equal(root, want) {
			t.Fatalf("root(%d) = %x, want %x", size, root, want)
		}
		for _, index := range []uint64{0, 1, size / 2, size - 2, size - 1} {
			if index >= size {
				continue
			}
			got, err := c.inclusion(ctx, index, size)
			if err != nil {
				t.Fatalf("inclusion(%d, %d): %v", index, size, err)
			}
			want, err := r.ref.InclusionProof(index, size)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("inclusion(%d, %d) differs from the reference", index, size)
			}
			leaf, err := c.node(ctx, compact.NodeID{Level: 0, Index: index}, size)
			if err != nil || !slices.Equal(leaf, r.ref.LeafHash(index)) {
				t.Fatalf("leaf hash %d in %d = %x, %v", index, size, leaf, err)
			}
		}
		for _, first := range []uint64{1, size / 3, size - 1, size} {
			if first == 0 {
				continue
			}
			got, err := c.consistency(ctx, first, size)
			if err != nil {
				t.Fatalf("consistency(%d, %d): %v", first, size, err)
			}
			want, err := r.ref.ConsistencyProof(first, size)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("consistency(%d, %d) differs from the reference", first, size)
			}
		}
	}
}

// TestNodeCacheSharesTiles has many requests prove at one new tree size at
// once, as the adds released by one checkpoint do: each tile is read (and
// hashed) once, however many wait for it.
func TestNodeCacheSharesTiles(t *testing.T) {
	const n = 70000
	r := newRefTiles(n)
	c := newTestNodeCache(t, r)
	r.gate = make(chan struct{})
	const waiters = 64
	var started, wg sync.WaitGroup
	started.Add(waiters)
	errs := make(chan error, waiters)
	for i := range waiters {
		wg.Go(func() {
			started.Done()
			index := uint64(n - 1 - i)
			got, err := c.inclusion(t.Context(), index, n)
			if err != nil {
				errs <- err
				return
			}
			if want, _ := r.ref.InclusionProof(index, n); !slices.EqualFunc(got, want, slices.Equal) {
				errs <- fmt.Errorf("inclusion(%d, %d) differs from the reference", index, n)
			}
		})
	}
	started.Wait()
	close(r.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	distinct := map[tileKey]bool{}
	for i := range waiters {
		ns, err := proof.Inclusion(uint64(n-1-i), n)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ns.IDs {
			l, idx, _, _ := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
			distinct[tileKey{l, idx, layout.PartialTileSize(l, idx, n)}] = true
		}
	}
	if got := r.reads.Load(); got != int64(len(distinct)) {
		t.Errorf("%d tile reads for %d waiters, want one per distinct tile (%d)", got, waiters, len(distinct))
	}
}

// TestNodeCacheWaiterOutlivesBuilder: a request waiting for a tile that
// another request is reading gets the tile even when that one gives up.
func TestNodeCacheWaiterOutlivesBuilder(t *testing.T) {
	r := newRefTiles(300)
	c := newTestNodeCache(t, r)
	r.gate = make(chan struct{})
	key := tileKey{0, 1, 44}
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() { _, err := c.tree(ctx, 0, 1, 44); first <- err }()
	second := make(chan error, 1)
	go func() {
		waitFor(t, func() bool { return r.reads.Load() == 1 }) // the first is reading
		tr, err := c.tree(t.Context(), 0, 1, 44)
		if err == nil && len(tr.levels[0]) != 44*hashSize {
			err = fmt.Errorf("tree of %d bytes at level 0", len(tr.levels[0]))
		}
		second <- err
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		p := c.building[key]
		return p != nil && p.waiters == 1
	})
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first request: %v, want it canceled", err)
	}
	close(r.gate)
	if err := <-second; err != nil {
		t.Errorf("second request: %v", err)
	}
	if got := r.reads.Load(); got != 2 {
		t.Errorf("%d reads, want 2 (the canceled one and the second's own)", got)
	}
}

// waitFor polls cond until it holds (the test's deadline bounds it).
func waitFor(t *testing.T, cond func() bool) {
	for !cond() {
		if t.Context().Err() != nil {
			return
		}
		runtime.Gosched()
	}
}

// BenchmarkInclusionProof compares a Tessera proof builder per request
// (what the log did before nodeCache) with the shared node cache, proving
// random leaves of a 100,000-entry tree whose tiles are all in memory.
func BenchmarkInclusionProof(b *testing.B) {
	const n = 100_000
	r := newRefTiles(n)
	cr := newCachedReader(r, DefaultReadCacheBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("proof-builder", func(b *testing.B) {
		for b.Loop() {
			pb, err := client.NewProofBuilder(b.Context(), n, cr.ReadTile)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pb.InclusionProof(b.Context(), rng.Uint64N(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("node-cache", func(b *testing.B) {
		c, err := newNodeCache(cr, nodeTrees(DefaultReadCacheBytes))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := c.inclusion(b.Context(), rng.Uint64N(n), n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
