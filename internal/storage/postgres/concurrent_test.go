package postgres_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// TestThreeFrontends runs three stores (three pools, as three mosaicd
// processes) on one database, adding 30,000 distinct entries concurrently.
// Every index must be assigned once, the tree must hold exactly the entries
// at the indices their futures reported, and every checkpoint observed must
// be consistent with the one before it.
func TestThreeFrontends(t *testing.T) {
	const perFrontend = 10000
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	key := newLogKey(t)
	var fes []*frontend
	var watchers []*storagetest.Watcher
	wctx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	for range 3 {
		s := newStore(t, url, nil)
		fes = append(fes, startFrontend(t, s, key, tessera.NewAppendOptions().
			WithBatching(256, 10*time.Millisecond).WithPushback(1<<30)))
		watchers = append(watchers, storagetest.NewWatcher(wctx, s.ReadCheckpoint, 5*time.Millisecond))
	}

	indexOf := make([]map[uint64]int, len(fes)) // per frontend: index -> entry number
	var wg sync.WaitGroup
	for f, fe := range fes {
		indexOf[f] = make(map[uint64]int, perFrontend)
		wg.Go(func() { addConcurrently(t, fe, f*perFrontend, perFrontend, indexOf[f]) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = 3 * perFrontend
	entryAt := make(map[uint64]int, total)
	for _, m := range indexOf {
		for idx, e := range m {
			if prev, dup := entryAt[idx]; dup {
				t.Fatalf("index %d assigned to entries %d and %d", idx, prev, e)
			}
			entryAt[idx] = e
		}
	}
	for i := range uint64(total) {
		if _, ok := entryAt[i]; !ok {
			t.Fatalf("index %d was not assigned (indices must be contiguous 0..%d)", i, total-1)
		}
	}

	cp := waitCheckpoint(t, fes[0].store, key, total)
	stopWatching()
	if cp.Size != total {
		t.Fatalf("final checkpoint has size %d, want %d", cp.Size, total)
	}
	ref := checkContents(t, fes[0].store, entryAt, total)
	if !bytes.Equal(ref.Root(), cp.Hash) {
		t.Fatalf("final root %x, reference %x", cp.Hash, ref.Root())
	}
	checkLineage(t, key, ref, fes[0].store, watchers)
}

// addConcurrently adds entries first..first+n-1 through fe from several
// goroutines and records which index each got.
func addConcurrently(t *testing.T, fe *frontend, first, n int, indexOf map[uint64]int) {
	const workers = 8
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			type pendingEntry struct {
				entry  int
				future tessera.IndexFuture
			}
			var futures []pendingEntry
			for e := first + w; e < first+n; e += workers {
				futures = append(futures, pendingEntry{e, fe.appender.Add(ctx, tessera.NewEntry(entryData(e)))})
			}
			for _, p := range futures {
				idx, err := p.future()
				if err != nil {
					t.Errorf("entry %d: %v", p.entry, err)
					return
				}
				mu.Lock()
				indexOf[idx.Index] = p.entry
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// checkContents reads every bundle and checks each index holds the entry
// its future reported; it returns the reference tree of the log.
func checkContents(t *testing.T, r tessera.LogReader, entryAt map[uint64]int, size uint64) *storagetest.ReferenceTree {
	t.Helper()
	ref := storagetest.NewReferenceTree()
	for b := uint64(0); b*256 < size; b++ {
		w := uint8(min(size-b*256, 256) % 256)
		raw, err := r.ReadEntryBundle(context.Background(), b, w)
		if err != nil {
			t.Fatalf("bundle %d: %v", b, err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			t.Fatalf("bundle %d: %v", b, err)
		}
		for i, e := range eb.Entries {
			idx := b*256 + uint64(i)
			if want := entryData(entryAt[idx]); !bytes.Equal(e, want) {
				t.Fatalf("index %d holds %q, but its future was for %q", idx, e, want)
			}
			ref.AppendData(e)
		}
	}
	if ref.Size() != size {
		t.Fatalf("bundles hold %d entries, want %d", ref.Size(), size)
	}
	storagetest.CheckTiles(t, context.Background(), r, ref)
	return ref
}

// checkLineage checks every checkpoint each watcher saw: in the order seen,
// sizes never decrease and each is consistent with the one before, and
// across watchers all belong to one tree (the reference).
func checkLineage(t *testing.T, key logKey, ref *storagetest.ReferenceTree, r tessera.LogReader, watchers []*storagetest.Watcher) {
	t.Helper()
	ctx := context.Background()
	all := 0
	for w, watcher := range watchers {
		var cps []*log.Checkpoint
		for _, raw := range watcher.Seen() {
			cp, _, _, err := log.ParseCheckpoint(raw, key.origin, key.verifier)
			if err != nil {
				t.Fatalf("watcher %d: checkpoint does not verify: %v", w, err)
			}
			if !bytes.Equal(cp.Hash, ref.RootAt(cp.Size)) {
				t.Fatalf("watcher %d: checkpoint of size %d is not on the log's tree", w, cp.Size)
			}
			cps = append(cps, cp)
		}
		if err := storagetest.CheckConsistent(ctx, cps, r.ReadTile, ref.Size()); err != nil {
			t.Fatalf("watcher %d: %v", w, err)
		}
		all += len(cps)
	}
	t.Logf("checked %d observed checkpoints across %d watchers", all, len(watchers))
	if all < 6 {
		t.Errorf("watchers saw only %d checkpoints; the lineage check needs more", all)
	}
	// And Tessera's own client accepts the log's latest checkpoint.
	tr, err := client.NewLogStateTracker(ctx, r.ReadTile, nil, key.verifier, key.origin, client.UnilateralConsensus(r.ReadCheckpoint))
	if err != nil {
		t.Fatalf("NewLogStateTracker: %v", err)
	}
	if _, _, _, err := tr.Update(ctx); err != nil {
		t.Fatalf("LogStateTracker.Update: %v", err)
	}
}

// TestDedupAcrossFrontends adds the same 200 entries through two stores with
// Dedup at once: the log must end with exactly 200 leaves, both sides must
// see the same index for each entry, and exactly one side must see it as new.
func TestDedupAcrossFrontends(t *testing.T) {
	const n = 200
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	key := newLogKey(t)
	dedup := func(c *postgres.Config) { c.Dedup = true }
	opts := func() *tessera.AppendOptions {
		return tessera.NewAppendOptions().WithBatching(16, 2*time.Millisecond)
	}
	fes := []*frontend{startFrontend(t, newStore(t, url, dedup), key, opts()), startFrontend(t, newStore(t, url, dedup), key, opts())}
	got := [2][n]tessera.Index{}
	var wg sync.WaitGroup
	for f, fe := range fes {
		wg.Go(func() {
			order := make([]int, n)
			for i := range order {
				order[i] = i
			}
			if f == 1 {
				slices.Reverse(order) // Meet in the middle, racing on every batch.
			}
			futures := make([]tessera.IndexFuture, n)
			for _, i := range order {
				futures[i] = fe.appender.Add(ctx, tessera.NewEntry(entryData(i)))
			}
			for i, fut := range futures {
				idx, err := fut()
				if err != nil {
					t.Errorf("frontend %d entry %d: %v", f, i, err)
					return
				}
				got[f][i] = idx
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	added := [2]int{}
	for i := range n {
		for f := range got {
			if !got[f][i].IsDup {
				added[f]++
			}
		}
	}
	t.Logf("frontend 0 added %d entries, frontend 1 added %d", added[0], added[1])
	entryAt := make(map[uint64]int, n)
	for i := range n {
		a, b := got[0][i], got[1][i]
		if a.Index != b.Index {
			t.Fatalf("entry %d: index %d from frontend 0, %d from frontend 1", i, a.Index, b.Index)
		}
		if a.IsDup == b.IsDup {
			t.Fatalf("entry %d: IsDup %t and %t; exactly one frontend must have added it", i, a.IsDup, b.IsDup)
		}
		if prev, ok := entryAt[a.Index]; ok {
			t.Fatalf("index %d given to entries %d and %d", a.Index, prev, i)
		}
		entryAt[a.Index] = i
	}
	cp := waitCheckpoint(t, fes[0].store, key, n)
	if next, err := fes[0].store.NextIndex(ctx); err != nil || next != n {
		t.Fatalf("NextIndex = %d, %v; want %d (no duplicate leaves)", next, err, n)
	}
	ref := checkContents(t, fes[0].store, entryAt, n)
	if !bytes.Equal(ref.Root(), cp.Hash) {
		t.Errorf("root %x, reference %x", cp.Hash, ref.Root())
	}

	checkRepeats(t, fes[0], n, got[0][7].Index)
}

// checkRepeats checks that repeats within one batch, and of a logged entry
// (entry 7, at index seven), resolve to one index; size is the log's size.
func checkRepeats(t *testing.T, fe *frontend, size, seven uint64) {
	t.Helper()
	ctx := context.Background()
	fresh := []byte("fresh entry")
	f1, f2 := fe.appender.Add(ctx, tessera.NewEntry(fresh)), fe.appender.Add(ctx, tessera.NewEntry(fresh))
	old := fe.appender.Add(ctx, tessera.NewEntry(entryData(7)))
	i1, err1 := f1()
	i2, err2 := f2()
	i3, err3 := old()
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("adding repeats: %v, %v, %v", err1, err2, err3)
	}
	if i1.Index != size || i1.IsDup || i2.Index != size || !i2.IsDup {
		t.Errorf("a new entry added twice: %+v and %+v, want index %d then the same as a duplicate", i1, i2, size)
	}
	if i3.Index != seven || !i3.IsDup {
		t.Errorf("re-adding entry 7: %+v, want index %d as a duplicate", i3, seven)
	}
}
