package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
	"testing"
)

func identity(i uint64) []byte {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, i))
	return h[:]
}

func TestBadgerDedup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := openBadgerDedup(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.Lookup(ctx, identity(1)); err != nil || ok {
		t.Fatalf("empty map: ok %v err %v", ok, err)
	}
	if n, err := d.Scanned(ctx); err != nil || n != 0 {
		t.Fatalf("empty map scanned %d, %v", n, err)
	}
	// The scan records 0..9; identity 3 appears again at 12 (a log written
	// before dedup), and the first index must win.
	var ids [][]byte
	for i := range uint64(10) {
		ids = append(ids, identity(i))
	}
	if err := d.RecordScanned(ctx, 0, ids); err != nil {
		t.Fatal(err)
	}
	if err := d.Record(ctx, identity(3), 12); err != nil {
		t.Fatal(err)
	}
	if err := d.Record(ctx, identity(20), 20); err != nil {
		t.Fatal(err)
	}
	if err := d.RecordScanned(ctx, 10, [][]byte{identity(10), identity(11), identity(3)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything survives reopening.
	d, err = openBadgerDedup(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		id   uint64
		want uint64
		ok   bool
	}{{0, 0, true}, {3, 3, true}, {9, 9, true}, {11, 11, true}, {20, 20, true}, {21, 0, false}} {
		got, ok, err := d.Lookup(ctx, identity(tc.id))
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("identity %d: %d %v %v, want %d %v", tc.id, got, ok, err, tc.want, tc.ok)
		}
	}
	if n, err := d.Scanned(ctx); err != nil || n != 13 {
		t.Errorf("scanned %d, %v; want 13", n, err)
	}
}

// What Record notes is found at once, the earliest index wins between
// memory and disk, the scan takes it over, and Close keeps what the scan
// has not reached.
func TestBadgerDedupRecent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := openBadgerDedup(dir)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(id, want uint64, wantOK bool) {
		t.Helper()
		got, ok, err := d.Lookup(ctx, identity(id))
		if err != nil || ok != wantOK || got != want {
			t.Errorf("identity %d: %d %v %v, want %d %v", id, got, ok, err, want, wantOK)
		}
	}
	for i := range uint64(5) {
		if err := d.Record(ctx, identity(i), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Record(ctx, identity(2), 7); err != nil { // a later copy: the first stays
		t.Fatal(err)
	}
	lookup(2, 2, true)
	lookup(5, 0, false)
	// The scan reaches 0..2 (identity 1 seen at 1) and writes them.
	if err := d.RecordScanned(ctx, 0, [][]byte{identity(0), identity(1), identity(2)}); err != nil {
		t.Fatal(err)
	}
	if n := len(d.recent); n != 2 {
		t.Errorf("%d identities left in memory after the scan, want 2 (3 and 4)", n)
	}
	// An identity on disk at 1 and noted later at 9: the disk's wins.
	if err := d.Record(ctx, identity(1), 9); err != nil {
		t.Fatal(err)
	}
	lookup(1, 1, true)
	lookup(4, 4, true)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err = openBadgerDedup(dir); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range uint64(5) {
		lookup(i, i, true)
	}
	if n, err := d.Scanned(ctx); err != nil || n != 3 {
		t.Errorf("scanned %d, %v; want 3", n, err)
	}
}

func TestBadgerDedupLocked(t *testing.T) {
	dir := t.TempDir()
	d, err := openBadgerDedup(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := openBadgerDedup(dir); err == nil {
		t.Fatal("a second process could open the dedup map; its lookups would miss the first's entries")
	}
}

// BenchmarkDedupAdd is what the embedded store's duplicate check costs a
// new entry: one lookup that misses and one record, on a map that already
// holds 100,000 entries, with 32 adds per CPU in flight.
func BenchmarkDedupAdd(b *testing.B) {
	ctx := context.Background()
	d, err := openBadgerDedup(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	const prefill = 100_000
	for from := uint64(0); from < prefill; from += 1000 {
		ids := make([][]byte, 1000)
		for i := range ids {
			ids[i] = identity(from + uint64(i))
		}
		if err := d.RecordScanned(ctx, from, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var next atomic.Uint64
	next.Store(prefill)
	b.SetParallelism(32) // adds arrive concurrently, as under load
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			id := identity(i)
			if _, ok, err := d.Lookup(ctx, id); err != nil || ok {
				b.Errorf("lookup: %v %v", ok, err)
				return
			}
			if err := d.Record(ctx, id, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
