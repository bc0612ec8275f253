package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/transparency-dev/tessera/api/layout"
)

// logSize spans four entry bundles and level-0 tiles, so proofs cross the
// 256 and 512 boundaries and reach a level-1 tile.
const logSize = 1100

// boundarySizes are the tree sizes every test proves at: tile boundaries,
// small trees, and the latest size.
var boundarySizes = []uint64{1, 2, 3, 7, 8, 255, 256, 257, 511, 512, 513, 767, 768, 769, 1023, 1024, 1025, logSize - 1, logSize}

// filledLog is a log of logSize raw leaves and the reference tree of the
// same leaves.
type filledLog struct {
	*mosaictest.Log
	leaves [][]byte
	ref    *testonly.Tree
}

// fill appends n distinct leaves concurrently and returns them by index.
func fill(t testing.TB, l *tlog.Log, n int) [][]byte {
	t.Helper()
	leaves := make([][]byte, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			leaf := fmt.Appendf(nil, "leaf %d of a proof test", i)
			a, err := l.Add(t.Context(), leaf, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case a.Index >= uint64(n) || leaves[a.Index] != nil:
				errs = append(errs, fmt.Errorf("add %d got index %d", i, a.Index))
			default:
				leaves[a.Index] = leaf
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d adds failed; first: %v", len(errs), errs[0])
	}
	return leaves
}

func newFilledLog(t *testing.T, store string) *filledLog {
	// fill adds every leaf at once: admit them all.
	l := mosaictest.NewLog(t, mosaictest.Options{Store: store, MaxInflightAdds: logSize})
	leaves := fill(t, l.Log, logSize)
	ref := testonly.New(rfc6962.DefaultHasher)
	ref.AppendData(leaves...)
	return &filledLog{Log: l, leaves: leaves, ref: ref}
}

// integrityFailures reads the counter that must stay zero.
func integrityFailures(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mosaic_log_integrity_failures_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("mosaic_log_integrity_failures_total is not registered")
	return 0
}

func eachStore(t *testing.T, f func(t *testing.T, l *filledLog)) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			l := newFilledLog(t, store)
			f(t, l)
			if n := integrityFailures(t, l.Registry); n != 0 {
				t.Errorf("%v integrity failures", n)
			}
		})
	}
}

// Every proof equals the reference implementation's, at every boundary.
func TestProofsMatchReference(t *testing.T) {
	eachStore(t, func(t *testing.T, l *filledLog) {
		ctx := t.Context()
		cp, raw, err := l.Log.Log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != logSize || !bytes.Equal(cp.Hash, l.ref.Hash()) {
			t.Fatalf("checkpoint %d %x, want %d %x", cp.Size, cp.Hash, logSize, l.ref.Hash())
		}
		t.Run("RootAt", func(t *testing.T) { checkRoots(t, l) })
		t.Run("InclusionProof", func(t *testing.T) { checkInclusion(t, l, raw) })
		t.Run("ConsistencyProof", func(t *testing.T) { checkConsistency(t, l, raw) })
		t.Run("Entry", func(t *testing.T) { checkEntries(t, l, raw) })
	})
}

func checkRoots(t *testing.T, l *filledLog) {
	root, err := l.Log.Log.RootAt(t.Context(), 0)
	if err != nil || !bytes.Equal(root, rfc6962.DefaultHasher.EmptyRoot()) {
		t.Errorf("RootAt(0) = %x, %v; want the empty root", root, err)
	}
	for size := uint64(1); size <= logSize; size++ {
		root, err := l.Log.Log.RootAt(t.Context(), size)
		if err != nil {
			t.Fatalf("RootAt(%d): %v", size, err)
		}
		if want := l.ref.HashAt(size); !bytes.Equal(root, want) {
			t.Errorf("RootAt(%d) = %x, want %x", size, root, want)
		}
	}
}

// indicesFor lists the indices proven in a tree of size.
func indicesFor(size uint64) []uint64 {
	var out []uint64
	for _, i := range []uint64{0, 1, 2, size / 2, size - 2, size - 1, 254, 255, 256, 257, 510, 511, 512, 513, 1023, 1024} {
		if i < size && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

func checkInclusion(t *testing.T, l *filledLog, latest []byte) {
	ctx := t.Context()
	for _, size := range boundarySizes {
		for _, i := range indicesFor(size) {
			p, err := l.Log.Log.InclusionProof(ctx, i, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			want, err := l.ref.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if p.Index != i || p.Size != size || !bytes.Equal(p.Root, l.ref.HashAt(size)) || !equalHashes(p.Hashes, want) {
				t.Errorf("InclusionProof(%d, %d) = %d %d %x %x, want the reference's %x %x", i, size, p.Index, p.Size, p.Root, p.Hashes, l.ref.HashAt(size), want)
			}
			if p.LatestSize != logSize || (size == logSize) != bytes.Equal(p.Checkpoint, latest) {
				t.Errorf("InclusionProof(%d, %d): latest size %d, checkpoint %q", i, size, p.LatestSize, p.Checkpoint)
			}
		}
	}
	// Every index of the latest tree.
	for i := range uint64(logSize) {
		p, err := l.Log.Log.InclusionProof(ctx, i, 0)
		if err != nil {
			t.Fatalf("InclusionProof(%d, latest): %v", i, err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(l.leaves[i])
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, logSize, leaf, p.Hashes, l.ref.Hash()); err != nil || p.Size != logSize {
			t.Errorf("InclusionProof(%d, latest) of size %d: %v", i, p.Size, err)
		}
	}
}

func checkConsistency(t *testing.T, l *filledLog, latest []byte) {
	ctx := t.Context()
	for _, first := range boundarySizes {
		for _, second := range boundarySizes {
			if first > second {
				continue
			}
			p, err := l.Log.Log.ConsistencyProof(ctx, first, second)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", first, second, err)
			}
			want, err := l.ref.ConsistencyProof(first, second)
			if err != nil {
				t.Fatal(err)
			}
			if !equalHashes(p.Hashes, want) || !bytes.Equal(p.FirstRoot, l.ref.HashAt(first)) || !bytes.Equal(p.SecondRoot, l.ref.HashAt(second)) {
				t.Errorf("ConsistencyProof(%d, %d) = %x %x %x, want the reference's %x", first, second, p.FirstRoot, p.SecondRoot, p.Hashes, want)
			}
			if p.First != first || p.Second != second || p.LatestSize != logSize || !bytes.Equal(p.Checkpoint, latest) {
				t.Errorf("ConsistencyProof(%d, %d): sizes %d %d, latest %d, checkpoint %q", first, second, p.First, p.Second, p.LatestSize, p.Checkpoint)
			}
			if p.Hashes == nil {
				t.Errorf("ConsistencyProof(%d, %d): nil hashes, want an empty list", first, second)
			}
		}
	}
}

func checkEntries(t *testing.T, l *filledLog, latest []byte) {
	for i := range uint64(logSize) {
		leaf, p, err := l.Log.Log.Entry(t.Context(), i)
		if err != nil {
			t.Fatalf("Entry(%d): %v", i, err)
		}
		if !bytes.Equal(leaf, l.leaves[i]) {
			t.Errorf("Entry(%d) = %q, want %q", i, leaf, l.leaves[i])
		}
		want, _ := l.ref.InclusionProof(i, logSize)
		if p.Index != i || p.Size != logSize || !equalHashes(p.Hashes, want) || !bytes.Equal(p.Checkpoint, latest) {
			t.Errorf("Entry(%d): proof %d in %d %x with checkpoint %q, want the reference's %x", i, p.Index, p.Size, p.Hashes, p.Checkpoint, want)
		}
	}
}

func equalHashes(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// Requests outside the published tree are *RangeErrors naming the latest
// size; none of them counts as an integrity failure.
func TestRangeErrors(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	fill(t, l.Log, 5)
	ctx := t.Context()
	calls := map[string]func() error{
		"inclusion index = size": func() error { _, err := l.Log.InclusionProof(ctx, 3, 3); return err },
		"inclusion index > size": func() error { _, err := l.Log.InclusionProof(ctx, 4, 3); return err },
		"inclusion beyond":       func() error { _, err := l.Log.InclusionProof(ctx, 0, 6); return err },
		"inclusion index beyond": func() error { _, err := l.Log.InclusionProof(ctx, 5, 0); return err },
		"consistency zero":       func() error { _, err := l.Log.ConsistencyProof(ctx, 0, 3); return err },
		"consistency reversed":   func() error { _, err := l.Log.ConsistencyProof(ctx, 4, 3); return err },
		"consistency beyond":     func() error { _, err := l.Log.ConsistencyProof(ctx, 1, 6); return err },
		"entry beyond":           func() error { _, _, err := l.Log.Entry(ctx, 5); return err },
		"entry far beyond":       func() error { _, _, err := l.Log.Entry(ctx, 1<<63); return err },
		"root beyond":            func() error { _, err := l.Log.RootAt(ctx, 6); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var rng *tlog.RangeError
			if !errors.As(err, &rng) || rng.Latest != 5 {
				t.Fatalf("error %v, want a *RangeError with Latest 5", err)
			}
			if errors.Is(err, tlog.ErrIntegrity) {
				t.Errorf("a range error is not an integrity failure: %v", err)
			}
		})
	}
	if n := integrityFailures(t, l.Registry); n != 0 {
		t.Errorf("%v integrity failures", n)
	}
}

// A bundle that contradicts the tiles is an integrity failure: an error
// and a count, never a leaf with a proof that does not verify.
func TestEntryIntegrityFailure(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Store: "posix"})
	leaves := fill(t, l.Log, 5)
	path := filepath.Join(l.Dir, layout.EntriesPath(0, 5))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, leaves[2]) {
		t.Fatalf("%s does not hold leaf 2", path)
	}
	forged := bytes.Replace(b, leaves[2], bytes.ToUpper(leaves[2]), 1)
	if err := os.WriteFile(path, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	leaf, p, err := l.Log.Entry(context.Background(), 2)
	if !errors.Is(err, tlog.ErrIntegrity) || leaf != nil || p != nil {
		t.Fatalf("Entry over a forged bundle = %q, %v, %v; want an integrity failure", leaf, p, err)
	}
	if n := integrityFailures(t, l.Registry); n != 1 {
		t.Errorf("%v integrity failures counted, want 1", n)
	}
	// The other entries of the bundle still verify.
	if _, _, err := l.Log.Entry(context.Background(), 1); err != nil {
		t.Errorf("Entry(1): %v", err)
	}
}

// FuzzProofs compares proofs of arbitrary sizes and indices with the
// reference implementation; out-of-range requests must be *RangeErrors.
func FuzzProofs(f *testing.F) {
	l := mosaictest.NewLog(f, mosaictest.Options{})
	leaves := fill(f, l.Log, 600)
	ref := testonly.New(rfc6962.DefaultHasher)
	ref.AppendData(leaves...)
	for _, s := range [][2]uint64{{0, 1}, {255, 256}, {256, 257}, {511, 512}, {0, 600}, {599, 600}, {3, 601}, {600, 600}, {0, 0}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		p, err := l.Log.InclusionProof(t.Context(), a, b)
		var rng *tlog.RangeError
		switch {
		case b != 0 && (a >= b || b > 600), b == 0 && a >= 600:
			if !errors.As(err, &rng) {
				t.Fatalf("InclusionProof(%d, %d) = %v, want a *RangeError", a, b, err)
			}
		case err != nil:
			t.Fatalf("InclusionProof(%d, %d): %v", a, b, err)
		default:
			want, _ := ref.InclusionProof(a, p.Size)
			if !equalHashes(p.Hashes, want) || !bytes.Equal(p.Root, ref.HashAt(p.Size)) {
				t.Errorf("InclusionProof(%d, %d) differs from the reference", a, b)
			}
		}
		c, err := l.Log.ConsistencyProof(t.Context(), a, b)
		switch {
		case a == 0 || a > b || b > 600:
			if !errors.As(err, &rng) {
				t.Fatalf("ConsistencyProof(%d, %d) = %v, want a *RangeError", a, b, err)
			}
		case err != nil:
			t.Fatalf("ConsistencyProof(%d, %d): %v", a, b, err)
		default:
			want, _ := ref.ConsistencyProof(a, b)
			if !equalHashes(c.Hashes, want) || !bytes.Equal(c.FirstRoot, ref.HashAt(a)) || !bytes.Equal(c.SecondRoot, ref.HashAt(b)) {
				t.Errorf("ConsistencyProof(%d, %d) differs from the reference", a, b)
			}
		}
	})
}
