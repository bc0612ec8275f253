package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/transparency-dev/tessera"
)

// twinIdentity is a stand-in for entry.LeafIdentity: "name~anything" has
// the identity of "name", as an ECDSA entry has that of its low-S twin;
// other data have Tessera's identity.
func twinIdentity(data []byte) []byte {
	if i := bytes.IndexByte(data, '~'); i >= 0 {
		data = data[:i]
	}
	h := sha256.Sum256(data)
	return h[:]
}

// TestDedupIdentity: with Config.Identity, entries of one identity are one
// entry, whether they arrive apart, together in one batch, or after the
// store was opened without Identity (an exact repeat of an entry recorded
// under Tessera's identity is still found).
func TestDedupIdentity(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	key := newLogKey(t)
	add := func(fe *frontend, data string) tessera.Index {
		t.Helper()
		idx, err := fe.appender.Add(ctx, tessera.NewEntry([]byte(data)))()
		if err != nil {
			t.Fatalf("adding %q: %v", data, err)
		}
		return idx
	}

	// Before: Tessera's identity, so "old~1" and "old~2" are two entries.
	before := startFrontend(t, newStore(t, url, func(c *postgres.Config) { c.Dedup = true }), key, tessera.NewAppendOptions())
	if a, b := add(before, "old~1"), add(before, "old~2"); a.Index != 0 || b.Index != 1 || a.IsDup || b.IsDup {
		t.Fatalf("without Identity: %+v and %+v, want two new entries", a, b)
	}

	s := newStore(t, url, func(c *postgres.Config) { c.Dedup = true; c.Identity = twinIdentity })
	fe := startFrontend(t, s, key, tessera.NewAppendOptions().WithBatching(64, 50*time.Millisecond))
	for _, tc := range []struct {
		data  string
		index uint64
		dup   bool
	}{
		{"old~1", 0, true},  // exact repeat, recorded under Tessera's identity
		{"old~2", 1, true},  // likewise
		{"new~1", 2, false}, // a new entry
		{"new~2", 2, true},  // its twin
		{"new", 2, true},    // and the entry whose identity they share
		{"other", 3, false},
	} {
		if got := add(fe, tc.data); got.Index != tc.index || got.IsDup != tc.dup {
			t.Errorf("adding %q: %+v, want index %d duplicate %v", tc.data, got, tc.index, tc.dup)
		}
	}

	// Twins in one batch: one new index, the others duplicates of it.
	futures := make([]tessera.IndexFuture, 0, 8)
	for i := range 8 {
		futures = append(futures, fe.appender.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "batch~%d", i))))
	}
	var first *tessera.Index
	for i, f := range futures {
		idx, err := f()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case idx.Index != 4:
			t.Errorf("twin %d at index %d, want 4", i, idx.Index)
		case !idx.IsDup && first != nil:
			t.Errorf("twin %d is new too", i)
		case !idx.IsDup:
			first = &idx
		}
	}
	if first == nil {
		t.Error("no twin in the batch was new")
	}
	waitCheckpoint(t, fe.store, key, 5)
	if next, err := s.NextIndex(ctx); err != nil || next != 5 {
		t.Errorf("NextIndex = %d, %v; want 5", next, err)
	}
}
