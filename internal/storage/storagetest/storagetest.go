// Package storagetest is a conformance suite for Tessera storage drivers.
//
// Run drives a driver the way mosaicd does, through tessera.NewAppender with
// a real Ed25519 checkpoint signer, and checks everything a log's readers
// rely on against a tree computed independently (ReferenceTree): checkpoint
// roots, inclusion and consistency proofs built by Tessera's client from the
// driver's tiles, the exact width of every tile and entry bundle, the
// bundles' contents and order, and that checkpoints never go backwards.
// Mosaic runs it against Tessera's POSIX driver and its PostgreSQL driver.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// Run runs the conformance suite. newDriver must return a driver over fresh,
// empty storage each time it is called (once per subtest), and release it in
// t.Cleanup.
func Run(t *testing.T, newDriver func(t *testing.T) tessera.Driver) {
	t.Run("TileBoundaries", func(t *testing.T) {
		h := NewHarness(t, newDriver(t), tessera.NewAppendOptions().WithBatching(64, 10*time.Millisecond))
		h.CheckEmpty()
		for _, size := range []uint64{1, 2, 255, 256, 257, 300, 511, 512, 513, 1000} {
			h.GrowTo(size)
			h.Check()
		}
	})
	t.Run("LargeTree", func(t *testing.T) {
		h := NewHarness(t, newDriver(t), tessera.NewAppendOptions().WithBatching(4096, 10*time.Millisecond))
		for _, size := range []uint64{65535, 65536, 65537, 65537 + 300} {
			h.GrowTo(size)
			h.Check()
		}
	})
}

// NewSigner returns a fresh Ed25519 checkpoint signer for origin and its
// verifier.
func NewSigner(t testing.TB, origin string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatalf("generating checkpoint key: %v", err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatalf("checkpoint signer: %v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("checkpoint verifier: %v", err)
	}
	return s, v
}

// Harness is one appender over a driver, with the reference tree of what was
// added. Only one goroutine may call its methods; it adds all the entries.
type Harness struct {
	T        *testing.T
	Ctx      context.Context
	Appender *tessera.Appender
	Reader   tessera.LogReader
	Awaiter  *tessera.PublicationAwaiter
	Verifier note.Verifier
	Origin   string
	Ref      *ReferenceTree
	data     [][]byte // entry data by index
	watch    *Watcher
}

// NewHarness starts an appender on d with opts, completed with a fresh
// signer, a 100 ms checkpoint interval and no integration pushback. The
// appender is shut down, and its checkpoints' lineage checked, in t.Cleanup.
func NewHarness(t *testing.T, d tessera.Driver, opts *tessera.AppendOptions) *Harness {
	t.Helper()
	origin := "conformance.mosaic.example/" + fmt.Sprint(mathrand.Uint64())
	signer, verifier := NewSigner(t, origin)
	opts = opts.WithCheckpointSigner(signer).
		WithCheckpointInterval(100 * time.Millisecond).
		WithPushback(1 << 30)
	ctx, cancel := context.WithCancel(context.Background())
	app, shutdown, reader, err := tessera.NewAppender(ctx, d, opts)
	if err != nil {
		cancel()
		t.Fatalf("tessera.NewAppender: %v", err)
	}
	h := &Harness{
		T: t, Ctx: ctx, Appender: app, Reader: reader, Verifier: verifier, Origin: origin,
		Awaiter: tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 10*time.Millisecond),
		Ref:     NewReferenceTree(),
		watch:   NewWatcher(ctx, reader.ReadCheckpoint, 5*time.Millisecond),
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := shutdown(sctx); err != nil {
			t.Errorf("appender shutdown: %v", err)
		}
		cancel()
		h.watch.Wait()
	})
	return h
}

// CheckEmpty checks that a new log publishes a checkpoint of size 0 soon.
func (h *Harness) CheckEmpty() {
	h.T.Helper()
	cp := h.waitCheckpoint(0)
	if cp.Size != 0 || !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()) {
		h.T.Fatalf("first checkpoint: size %d root %x, want size 0 and the empty root", cp.Size, cp.Hash)
	}
}

// GrowTo adds distinct entries until the log has size leaves and waits until
// a checkpoint covers them all. It checks that the new entries got exactly
// the indices from the old size to the new one, each once.
func (h *Harness) GrowTo(size uint64) {
	h.T.Helper()
	from := h.Ref.Size()
	n := int(size - from)
	futures := make([]tessera.IndexFuture, n)
	data := make([][]byte, n)
	for i := range n {
		data[i] = fmt.Appendf(nil, "%s entry %d", h.T.Name(), from+uint64(i))
		futures[i] = h.Appender.Add(h.Ctx, tessera.NewEntry(data[i]))
	}
	ctx, cancel := context.WithTimeout(h.Ctx, 2*time.Minute)
	defer cancel()
	byIndex := make(map[uint64][]byte, n)
	for i, f := range futures {
		idx, _, err := h.Awaiter.Await(ctx, f)
		if err != nil {
			h.T.Fatalf("awaiting entry %d: %v", i, err)
		}
		if idx.IsDup {
			h.T.Fatalf("entry %d reported as a duplicate (index %d)", i, idx.Index)
		}
		if prev, ok := byIndex[idx.Index]; ok {
			h.T.Fatalf("index %d assigned twice (%q and %q)", idx.Index, prev, data[i])
		}
		byIndex[idx.Index] = data[i]
	}
	for i := from; i < size; i++ {
		d, ok := byIndex[i]
		if !ok {
			h.T.Fatalf("no entry got index %d (growing from %d to %d)", i, from, size)
		}
		h.Ref.AppendData(d)
		h.data = append(h.data, d)
	}
}

// Check checks the published checkpoint, tiles, bundles, proofs and
// checkpoint lineage against the reference tree.
func (h *Harness) Check() {
	h.T.Helper()
	cp := h.waitCheckpoint(h.Ref.Size())
	if cp.Size != h.Ref.Size() {
		h.T.Fatalf("checkpoint size %d, want %d", cp.Size, h.Ref.Size())
	}
	if !bytes.Equal(cp.Hash, h.Ref.Root()) {
		h.T.Fatalf("checkpoint root at size %d is %x, reference says %x", cp.Size, cp.Hash, h.Ref.Root())
	}
	CheckTiles(h.T, h.Ctx, h.Reader, h.Ref)
	h.checkBundles(cp.Size)
	h.checkInclusion(cp)
	h.checkLineage(cp)
}

// waitCheckpoint waits up to a minute for a checkpoint of at least size.
func (h *Harness) waitCheckpoint(size uint64) *log.Checkpoint {
	h.T.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		raw, err := h.Reader.ReadCheckpoint(h.Ctx)
		if err == nil {
			cp, _, _, err := log.ParseCheckpoint(raw, h.Origin, h.Verifier)
			if err != nil {
				h.T.Fatalf("published checkpoint does not verify: %v\n%s", err, raw)
			}
			if cp.Size >= size {
				return cp
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			h.T.Fatalf("ReadCheckpoint: %v", err)
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("no checkpoint of size >= %d within a minute (last error %v)", size, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CheckTiles reads every tile of the reference tree's size through r and
// checks each is exactly what the reference says: a full tile is 8192 bytes,
// a partial one read as .p/W has exactly W hashes. It also checks that the
// full version of a partial tile, and tiles past the end, do not exist.
func CheckTiles(t *testing.T, ctx context.Context, r tessera.LogReader, ref *ReferenceTree) {
	t.Helper()
	size := ref.Size()
	for level := uint64(0); level < 8 && size>>(layout.TileHeight*level) > 0; level++ {
		nodes := size >> (layout.TileHeight * level)
		tiles := (nodes + layout.TileWidth - 1) / layout.TileWidth
		for index := range tiles {
			p := layout.PartialTileSize(level, index, size)
			got, err := r.ReadTile(ctx, level, index, p)
			if err != nil {
				t.Fatalf("ReadTile(%d, %d, %d) at size %d: %v", level, index, p, size, err)
			}
			want := ref.Tile(level, index)
			switch {
			case p == 0 && len(got) != layout.TileWidth*32:
				t.Fatalf("full tile %d/%d has %d bytes, want 8192", level, index, len(got))
			case p != 0 && len(got) != int(p)*32:
				t.Fatalf("tile %d/%d.p/%d has %d bytes, want exactly %d", level, index, p, len(got), int(p)*32)
			case !bytes.Equal(got, want):
				t.Fatalf("tile %d/%d.p/%d differs from the reference tree of size %d", level, index, p, size)
			}
			var ht api.HashTile
			if err := ht.UnmarshalText(got); err != nil {
				t.Fatalf("tile %d/%d does not parse: %v", level, index, err)
			}
			if p != 0 {
				if _, err := r.ReadTile(ctx, level, index, 0); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("full tile %d/%d read while it has only %d hashes: err %v, want os.ErrNotExist", level, index, p, err)
				}
			}
		}
		if _, err := r.ReadTile(ctx, level, tiles, 0); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("ReadTile(%d, %d, 0) past the end of a tree of size %d: err %v, want os.ErrNotExist", level, tiles, size, err)
		}
	}
}

// checkBundles reads every entry bundle and checks it holds exactly the
// entries added, in index order.
func (h *Harness) checkBundles(size uint64) {
	h.T.Helper()
	for index := uint64(0); index*layout.EntryBundleWidth < size; index++ {
		p := layout.PartialTileSize(0, index, size)
		raw, err := h.Reader.ReadEntryBundle(h.Ctx, index, p)
		if err != nil {
			h.T.Fatalf("ReadEntryBundle(%d, %d) at size %d: %v", index, p, size, err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			h.T.Fatalf("entry bundle %d.p/%d does not parse: %v", index, p, err)
		}
		lo := index * layout.EntryBundleWidth
		want := h.data[lo:min(lo+layout.EntryBundleWidth, size)]
		if len(eb.Entries) != len(want) {
			h.T.Fatalf("entry bundle %d.p/%d has %d entries, want %d", index, p, len(eb.Entries), len(want))
		}
		for i := range want {
			if !bytes.Equal(eb.Entries[i], want[i]) {
				h.T.Fatalf("entry %d in bundle %d is %q, want %q", lo+uint64(i), index, eb.Entries[i], want[i])
			}
		}
	}
}

// checkInclusion builds inclusion proofs from the driver's tiles for a
// sample of indices and verifies them against the checkpoint.
func (h *Harness) checkInclusion(cp *log.Checkpoint) {
	h.T.Helper()
	pb, err := client.NewProofBuilder(h.Ctx, cp.Size, h.Reader.ReadTile)
	if err != nil {
		h.T.Fatalf("NewProofBuilder(%d): %v", cp.Size, err)
	}
	sample := []uint64{0, 1, 255, 256, 257, 65535, 65536, cp.Size / 2, cp.Size - 2, cp.Size - 1}
	for range 8 {
		sample = append(sample, mathrand.Uint64N(cp.Size))
	}
	for _, i := range sample {
		if i >= cp.Size {
			continue
		}
		p, err := pb.InclusionProof(h.Ctx, i)
		if err != nil {
			h.T.Fatalf("inclusion proof for %d in %d: %v", i, cp.Size, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, h.Ref.LeafHash(i), p, cp.Hash); err != nil {
			h.T.Fatalf("inclusion proof for %d in %d does not verify: %v", i, cp.Size, err)
		}
	}
}

// checkLineage checks every checkpoint observed so far: signed, matching the
// reference root at its size, never smaller than the one observed before,
// and consistent with it by a proof built from the driver's tiles.
func (h *Harness) checkLineage(latest *log.Checkpoint) {
	h.T.Helper()
	seen := h.watch.Seen()
	cps := make([]*log.Checkpoint, 0, len(seen))
	for _, raw := range seen {
		cp, _, _, err := log.ParseCheckpoint(raw, h.Origin, h.Verifier)
		if err != nil {
			h.T.Fatalf("observed checkpoint does not verify: %v\n%s", err, raw)
		}
		if cp.Size > latest.Size {
			continue // Published after Check started.
		}
		if want := h.Ref.RootAt(cp.Size); !bytes.Equal(cp.Hash, want) {
			h.T.Fatalf("observed checkpoint of size %d has root %x, reference says %x", cp.Size, cp.Hash, want)
		}
		cps = append(cps, cp)
		h.checkOlderPartials(cp.Size, latest.Size)
	}
	if err := CheckConsistent(h.Ctx, cps, h.Reader.ReadTile, latest.Size); err != nil {
		h.T.Fatal(err)
	}
}

// checkOlderPartials reads, at an older published size, the partial tiles
// and bundle that are still partial at the current size, and checks they are
// truncated exactly: .p/W must be W hashes (W entries) even though more have
// been integrated since. (Tiles that have filled up since may be served full
// instead, as tlog-tiles allows, so they are not checked.)
func (h *Harness) checkOlderPartials(old, size uint64) {
	h.T.Helper()
	if old == 0 || old == size {
		return
	}
	for level := uint64(0); level < 8 && old>>(layout.TileHeight*level) > 0; level++ {
		index := old >> (layout.TileHeight * (level + 1))
		p := layout.PartialTileSize(level, index, old)
		if p == 0 || layout.PartialTileSize(level, index, size) == 0 {
			continue
		}
		got, err := h.Reader.ReadTile(h.Ctx, level, index, p)
		if err != nil {
			h.T.Fatalf("ReadTile(%d, %d, %d) for published size %d at size %d: %v", level, index, p, old, size, err)
		}
		if want := h.Ref.Tile(level, index)[:int(p)*32]; !bytes.Equal(got, want) {
			h.T.Fatalf("tile %d/%d.p/%d (published size %d, now %d): %d bytes, want exactly the %d-byte prefix",
				level, index, p, old, size, len(got), len(want))
		}
	}
	index := old / layout.EntryBundleWidth
	p := layout.PartialTileSize(0, index, old)
	if p == 0 || layout.PartialTileSize(0, index, size) == 0 {
		return
	}
	raw, err := h.Reader.ReadEntryBundle(h.Ctx, index, p)
	if err != nil {
		h.T.Fatalf("ReadEntryBundle(%d, %d) for published size %d at size %d: %v", index, p, old, size, err)
	}
	var eb api.EntryBundle
	if err := eb.UnmarshalText(raw); err != nil || len(eb.Entries) != int(p) {
		h.T.Fatalf("entry bundle %d.p/%d (published size %d, now %d): %d entries (err %v), want exactly %d",
			index, p, old, size, len(eb.Entries), err, p)
	}
}

// CheckConsistent checks that checkpoints, in the order observed, never
// shrink, agree on the root at equal sizes, and are each consistent with the
// previous one, using proofs built by Tessera's client from tiles of a tree
// of size treeSize (at least the largest checkpoint).
func CheckConsistent(ctx context.Context, cps []*log.Checkpoint, readTile client.TileFetcherFunc, treeSize uint64) error {
	pb, err := client.NewProofBuilder(ctx, treeSize, readTile)
	if err != nil {
		return fmt.Errorf("NewProofBuilder(%d): %w", treeSize, err)
	}
	for i := 1; i < len(cps); i++ {
		a, b := cps[i-1], cps[i]
		if b.Size < a.Size {
			return fmt.Errorf("checkpoint went backwards: size %d observed after %d", b.Size, a.Size)
		}
		p, err := pb.ConsistencyProof(ctx, a.Size, b.Size)
		if err != nil {
			return fmt.Errorf("consistency proof %d -> %d: %w", a.Size, b.Size, err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, b.Size, p, a.Hash, b.Hash); err != nil {
			return fmt.Errorf("checkpoints of sizes %d and %d are inconsistent: %w", a.Size, b.Size, err)
		}
	}
	return nil
}

// Watcher polls a log's checkpoint and records every distinct one it sees,
// in order.
type Watcher struct {
	mu   sync.Mutex // guards seen
	seen [][]byte
	done chan struct{} // closed when polling stops
}

// NewWatcher polls read every period until ctx ends.
func NewWatcher(ctx context.Context, read func(context.Context) ([]byte, error), period time.Duration) *Watcher {
	w := &Watcher{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if raw, err := read(ctx); err == nil {
				w.mu.Lock()
				if n := len(w.seen); n == 0 || !bytes.Equal(w.seen[n-1], raw) {
					w.seen = append(w.seen, raw)
				}
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Seen returns the distinct checkpoints observed so far, oldest first.
func (w *Watcher) Seen() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.seen...)
}

// Wait waits for polling to stop (after its context ends).
func (w *Watcher) Wait() { <-w.done }
