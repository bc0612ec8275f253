package tlog_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// twinLeaves returns the leaves of a high-S ECDSA P-256 entry and of its
// twin (s → n−s), and their shared identity.
func twinLeaves(t *testing.T, artifact string) (leaf, twin, id []byte) {
	t.Helper()
	d, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	body := s.RequestS(t, []byte(artifact), true)
	a, err := d.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(s.Twin(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return a.Body, b.Body, a.Identity
}

func addID(t *testing.T, l *tlog.Log, leaf, id []byte) *tlog.Added {
	t.Helper()
	a, err := l.Add(t.Context(), leaf, id)
	if err != nil {
		t.Fatalf("adding: %v", err)
	}
	return a
}

// TestTwinIsDuplicate: on the embedded store, an ECDSA entry's twin is a
// duplicate of it: after it was recorded at append, after a restart when
// only the start-up scan (which computes identities from leaves) can find
// it, and when the two are added at once.
func TestTwinIsDuplicate(t *testing.T) {
	t.Run("recorded at append", func(t *testing.T) {
		l, _ := openPosixWith(t, t.TempDir(), true, entry.LeafIdentity)
		leaf, twin, id := twinLeaves(t, "append")
		first := addID(t, l, leaf, id)
		again := addID(t, l, twin, id)
		checkTwin(t, first, again, leaf)
		// Identity nil: the log computes it with Config.Identity.
		checkTwin(t, first, addID(t, l, twin, nil), leaf)
		checkSize(t, l, 1)
	})
	t.Run("found by the start-up scan", func(t *testing.T) {
		dir := t.TempDir()
		l, stop := openPosixWith(t, dir, false, entry.LeafIdentity)
		leaf, twin, id := twinLeaves(t, "scan")
		first := addID(t, l, leaf, id)
		stop()
		l, _ = openPosixWith(t, dir, true, entry.LeafIdentity)
		checkTwin(t, first, addID(t, l, twin, id), leaf)
		checkSize(t, l, 1)
	})
	t.Run("concurrently", func(t *testing.T) {
		l, _ := openPosixWith(t, t.TempDir(), true, entry.LeafIdentity)
		leaf, twin, id := twinLeaves(t, "concurrently")
		const n = 40
		added := make([]*tlog.Added, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				x := leaf
				if i%2 == 1 {
					x = twin
				}
				a, err := l.Add(t.Context(), x, id)
				if err != nil {
					t.Errorf("add %d: %v", i, err)
					return
				}
				added[i] = a
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		news := 0
		for i, a := range added {
			if a.Index != added[0].Index {
				t.Errorf("add %d at index %d, add 0 at %d", i, a.Index, added[0].Index)
			}
			if !a.Duplicate {
				news++
			}
			if !bytes.Equal(a.Leaf, added[0].Leaf) {
				t.Errorf("add %d answered with another leaf than add 0", i)
			}
		}
		if news != 1 {
			t.Errorf("%d adds were new, want 1", news)
		}
		checkSize(t, l, 1)
	})
}

// TestLegacyIdentity: a dedup map written before Config.Identity was set
// recorded entries under SHA-256 of their leaf; an exact repeat of a
// high-S entry (whose identity has changed) is still found after the
// upgrade.
func TestLegacyIdentity(t *testing.T) {
	dir := t.TempDir()
	l, stop := openPosixWith(t, dir, true, nil)
	leaf, _, id := twinLeaves(t, "legacy")
	first := addID(t, l, leaf, nil)
	stop()
	l, _ = openPosixWith(t, dir, true, entry.LeafIdentity)
	again := addID(t, l, leaf, id)
	if !again.Duplicate || again.Index != first.Index || !bytes.Equal(again.Leaf, leaf) {
		t.Errorf("exact repeat after the upgrade: index %d duplicate %v, want index %d duplicate", again.Index, again.Duplicate, first.Index)
	}
	checkSize(t, l, 1)
}

// checkTwin checks that again, the answer to a twin of the entry first
// added (leaf), names first's index and proves first's leaf.
func checkTwin(t *testing.T, first, again *tlog.Added, leaf []byte) {
	t.Helper()
	if first.Duplicate {
		t.Errorf("the first add was a duplicate")
	}
	if !again.Duplicate || again.Index != first.Index {
		t.Errorf("twin: index %d duplicate %v, want index %d duplicate", again.Index, again.Duplicate, first.Index)
	}
	if !bytes.Equal(again.Leaf, leaf) || !bytes.Equal(first.Leaf, leaf) {
		t.Errorf("the answers do not carry the logged leaf")
	}
}

func checkSize(t *testing.T, l *tlog.Log, want uint64) {
	t.Helper()
	cp, _, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != want {
		t.Errorf("tree size %d, want %d", cp.Size, want)
	}
}
