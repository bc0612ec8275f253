// Package indextest is the conformance suite of index.Store: every store
// implementation runs Run against a real backend (a Badger directory, a
// PostgreSQL database), so they all keep the same contract.
package indextest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/index"
)

// Opener opens the store at one location. Called again after the store was
// closed, it must open the same data.
type Opener func(t *testing.T) index.Store

// Run checks the index.Store contract. newLocation returns an opener of a
// fresh, empty location for each subtest.
func Run(t *testing.T, newLocation func(t *testing.T) Opener) {
	tests := []struct {
		name string
		f    func(*testing.T, Opener)
	}{
		{"Empty", testEmpty},
		{"CommitAndLookup", testCommitAndLookup},
		{"PositionMoved", testPositionMoved},
		{"Reopen", testReopen},
		{"LargeBatch", testLargeBatch},
		{"InvalidBatch", testInvalidBatch},
		{"InvalidLookup", testInvalidLookup},
		{"LongValue", testLongValue},
		{"CancelledCommit", testCancelledCommit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newLocation(t)) })
	}
}

var (
	digestA = index.Key{Kind: index.KindDigest, Value: "sha256:" + strings.Repeat("a", 64)}
	digestB = index.Key{Kind: index.KindDigest, Value: "sha256:" + strings.Repeat("b", 64)}
	keyK    = index.Key{Kind: index.KindPublicKey, Value: "sha256:" + strings.Repeat("c", 64)}
	sanS    = index.Key{Kind: index.KindSAN, Value: "alice@example.com"}
	// issuerS has sanS's value under another kind: it must not match it.
	issuerS = index.Key{Kind: index.KindIssuer, Value: "alice@example.com"}
)

// open opens the store and closes it when t ends.
func open(t *testing.T, o Opener) index.Store {
	t.Helper()
	s := o(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func commit(t *testing.T, s index.Store, b *index.Batch) {
	t.Helper()
	if err := s.Commit(context.Background(), b); err != nil {
		t.Fatalf("Commit [%d, %d): %v", b.From, b.To, err)
	}
}

func position(t *testing.T, s index.Store) index.Position {
	t.Helper()
	p, err := s.Position(context.Background())
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	return p
}

// lookup returns Lookup's result, failing t on an error.
func lookup(t *testing.T, s index.Store, from uint64, limit int, keys ...index.Key) []uint64 {
	t.Helper()
	got, err := s.Lookup(context.Background(), keys, from, limit)
	if err != nil {
		t.Fatalf("Lookup(%v, from %d, limit %d): %v", keys, from, limit, err)
	}
	return got
}

func wantLookup(t *testing.T, s index.Store, from uint64, limit int, want []uint64, keys ...index.Key) {
	t.Helper()
	got := lookup(t, s, from, limit, keys...)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("Lookup(%v, from %d, limit %d) = %v, want %v", keys, from, limit, got, want)
	}
}

func testEmpty(t *testing.T, o Opener) {
	s := open(t, o)
	if p := position(t, s); p.Size != 0 || p.Skipped != 0 || !p.UpdatedAt.IsZero() {
		t.Errorf("empty store position %+v, want zero", p)
	}
	wantLookup(t, s, 0, 10, nil, digestA)
	wantLookup(t, s, 0, 10, nil, digestA, keyK)
}

// fixture is leaves 0..3 with postings, and leaf 4 skipped.
func fixture() []*index.Batch {
	return []*index.Batch{
		{From: 0, To: 4, Postings: []index.Posting{
			{Key: digestA, Index: 0}, {Key: keyK, Index: 0},
			{Key: keyK, Index: 1}, {Key: sanS, Index: 1},
			{Key: digestA, Index: 2}, {Key: keyK, Index: 2},
			{Key: digestB, Index: 3}, {Key: keyK, Index: 3}, {Key: sanS, Index: 3},
		}},
		{From: 4, To: 5, Skipped: 1},
	}
}

func commitFixture(t *testing.T, s index.Store) {
	t.Helper()
	for _, b := range fixture() {
		commit(t, s, b)
	}
}

func testCommitAndLookup(t *testing.T, o Opener) {
	s := open(t, o)
	commitFixture(t, s)
	if p := position(t, s); p.Size != 5 || p.Skipped != 1 || p.UpdatedAt.IsZero() {
		t.Errorf("position %+v, want size 5, 1 skipped, a time", p)
	}
	checkFixture(t, s)
	// An empty batch is allowed and changes nothing.
	commit(t, s, &index.Batch{From: 5, To: 5})
	if p := position(t, s); p.Size != 5 || p.Skipped != 1 {
		t.Errorf("after an empty batch: position %+v, want size 5, 1 skipped", p)
	}
}

// checkFixture checks every kind of lookup against fixture.
func checkFixture(t *testing.T, s index.Store) {
	t.Helper()
	wantLookup(t, s, 0, 10, []uint64{0, 2}, digestA)
	wantLookup(t, s, 0, 10, []uint64{0, 1, 2, 3}, keyK)
	wantLookup(t, s, 0, 10, []uint64{1, 3}, sanS)
	wantLookup(t, s, 0, 10, nil, issuerS)
	wantLookup(t, s, 0, 10, []uint64{0, 2}, digestA, keyK)
	wantLookup(t, s, 0, 10, []uint64{0, 2}, keyK, digestA)
	wantLookup(t, s, 0, 10, []uint64{0, 2}, digestA, digestA)
	wantLookup(t, s, 0, 10, []uint64{3}, keyK, sanS, digestB)
	wantLookup(t, s, 0, 10, nil, digestA, sanS)
	wantLookup(t, s, 0, 10, nil, digestA, digestB)
	wantLookup(t, s, 1, 10, []uint64{2}, digestA)
	wantLookup(t, s, 3, 10, nil, digestA)
	wantLookup(t, s, 0, 1, []uint64{0}, keyK)
	wantLookup(t, s, 1, 2, []uint64{1, 2}, keyK)
	wantLookup(t, s, 4, 2, []uint64{}, keyK)
}

func testPositionMoved(t *testing.T, o Opener) {
	s := open(t, o)
	commitFixture(t, s)
	// A replay of a committed batch and a batch past the position both
	// fail and write nothing.
	for _, b := range []*index.Batch{
		fixture()[0],
		{From: 0, To: 6, Postings: []index.Posting{{Key: issuerS, Index: 0}}},
		{From: 6, To: 7, Postings: []index.Posting{{Key: issuerS, Index: 6}}},
	} {
		err := s.Commit(context.Background(), b)
		if !errors.Is(err, index.ErrPositionMoved) {
			t.Errorf("Commit [%d, %d) at position 5: %v, want ErrPositionMoved", b.From, b.To, err)
		}
	}
	if p := position(t, s); p.Size != 5 || p.Skipped != 1 {
		t.Errorf("position %+v after refused commits, want size 5, 1 skipped", p)
	}
	wantLookup(t, s, 0, 10, nil, issuerS)
	checkFixture(t, s)
}

func testReopen(t *testing.T, o Opener) {
	s := o(t)
	commitFixture(t, s)
	before := position(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, o)
	after := position(t, s)
	if after.Size != before.Size || after.Skipped != before.Skipped || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("position after reopening %+v, before %+v", after, before)
	}
	checkFixture(t, s)
	commit(t, s, &index.Batch{From: 5, To: 6, Postings: []index.Posting{{Key: digestA, Index: 5}}})
	wantLookup(t, s, 0, 10, []uint64{0, 2, 5}, digestA)
}

func testLargeBatch(t *testing.T, o Opener) {
	s := open(t, o)
	const leaves = 300
	b := &index.Batch{From: 0, To: leaves}
	var want []uint64
	for i := uint64(0); i < leaves; i++ {
		for j := range 16 {
			b.Postings = append(b.Postings, index.Posting{
				Key: index.Key{Kind: index.KindSAN, Value: fmt.Sprintf("user%d@example.com", j)}, Index: i})
		}
		b.Postings = append(b.Postings, index.Posting{Key: keyK, Index: i})
		want = append(want, i)
	}
	commit(t, s, b)
	wantLookup(t, s, 0, leaves+1, want, keyK)
	wantLookup(t, s, 0, leaves+1, want, keyK, index.Key{Kind: index.KindSAN, Value: "user15@example.com"})
	wantLookup(t, s, 100, 50, want[100:150], index.Key{Kind: index.KindSAN, Value: "user7@example.com"})
}

func testInvalidBatch(t *testing.T, o Opener) {
	s := open(t, o)
	for _, b := range []*index.Batch{
		{From: 1, To: 0},
		{From: 0, To: 2, Postings: []index.Posting{{Key: digestA, Index: 2}}},
		{From: 0, To: 1, Skipped: 2},
	} {
		err := s.Commit(context.Background(), b)
		if err == nil || errors.Is(err, index.ErrPositionMoved) {
			t.Errorf("Commit(%+v) = %v, want an error other than ErrPositionMoved", b, err)
		}
	}
	if p := position(t, s); p.Size != 0 {
		t.Errorf("position %+v after invalid batches, want 0", p)
	}
	wantLookup(t, s, 0, 10, nil, digestA)
}

func testInvalidLookup(t *testing.T, o Opener) {
	s := open(t, o)
	nine := make([]index.Key, 9)
	for i := range nine {
		nine[i] = digestA
	}
	for _, c := range []struct {
		keys  []index.Key
		limit int
	}{{nil, 10}, {nine, 10}, {[]index.Key{digestA}, 0}, {[]index.Key{digestA}, -1}} {
		if _, err := s.Lookup(context.Background(), c.keys, 0, c.limit); err == nil {
			t.Errorf("Lookup of %d keys, limit %d: no error", len(c.keys), c.limit)
		}
	}
}

func testLongValue(t *testing.T, o Opener) {
	s := open(t, o)
	long := index.Key{Kind: index.KindSAN, Value: "https://example.com/" + strings.Repeat("x", 20000)}
	longer := index.Key{Kind: index.KindSAN, Value: long.Value + "y"}
	commit(t, s, &index.Batch{From: 0, To: 2, Postings: []index.Posting{{Key: long, Index: 0}, {Key: longer, Index: 1}}})
	wantLookup(t, s, 0, 10, []uint64{0}, long)
	wantLookup(t, s, 0, 10, []uint64{1}, longer)
}

func testCancelledCommit(t *testing.T, o Opener) {
	s := open(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Commit(ctx, &index.Batch{From: 0, To: 1, Postings: []index.Posting{{Key: digestA, Index: 0}}}); err == nil {
		t.Error("Commit with a cancelled context succeeded")
	}
	if p := position(t, s); p.Size != 0 {
		t.Errorf("position %+v after a cancelled commit, want 0", p)
	}
	wantLookup(t, s, 0, 10, nil, digestA)
}
