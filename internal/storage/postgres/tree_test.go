package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// memLog is integration without a database: tiles and bundles in maps.
type memLog struct {
	size    uint64
	root    []byte
	tiles   map[tileKey][]byte
	bundles map[uint64]*bundle
}

func newMemLog() *memLog {
	return &memLog{root: rfc6962.DefaultHasher.EmptyRoot(), tiles: map[tileKey][]byte{}, bundles: map[uint64]*bundle{}}
}

func (m *memLog) integrate(t *testing.T, data [][]byte) {
	t.Helper()
	edge := map[tileKey][]byte{}
	for _, k := range rightEdge(m.size) {
		edge[k] = m.tiles[k]
	}
	tree, err := newTreeExtender(m.size, m.root, edge)
	if err != nil {
		t.Fatalf("size %d: %v", m.size, err)
	}
	leaves := make([][]byte, len(data))
	entries := make([][]byte, len(data))
	for i, d := range data {
		leaves[i] = rfc6962.DefaultHasher.HashLeaf(d)
		entries[i] = append([]byte{byte(len(d) >> 8), byte(len(d))}, d...)
	}
	if err := tree.append(leaves); err != nil {
		t.Fatal(err)
	}
	var partial *bundle
	if m.size%bundleWidth != 0 {
		// Integration works on a copy read from the database.
		p := m.bundles[m.size/bundleWidth]
		partial = &bundle{ends: append([]uint32(nil), p.ends...), data: append([]byte(nil), p.data...)}
	}
	bundles, err := extendBundles(m.size, partial, entries)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tree.changed() {
		m.tiles[k] = v
	}
	for i, b := range bundles {
		m.bundles[i] = b
	}
	if m.root, err = tree.root(); err != nil {
		t.Fatal(err)
	}
	m.size += uint64(len(data))
}

// TestTreeExtenderMatchesReference integrates random batches across tile
// boundaries (up to past 65536 leaves) and compares the root, every tile and
// every bundle with an independently computed tree.
func TestTreeExtenderMatchesReference(t *testing.T) {
	m := newMemLog()
	ref := storagetest.NewReferenceTree()
	var all [][]byte
	for m.size < 70000 {
		n := 1 + rand.IntN(3000)
		if rand.IntN(4) == 0 {
			n = 1 + rand.IntN(5)
		}
		batch := make([][]byte, n)
		for i := range batch {
			batch[i] = fmt.Appendf(nil, "entry %d", len(all))
			all = append(all, batch[i])
			ref.AppendData(batch[i])
		}
		m.integrate(t, batch)
		if !bytes.Equal(m.root, ref.Root()) {
			t.Fatalf("size %d: root %x, reference %x", m.size, m.root, ref.Root())
		}
	}
	for k, data := range m.tiles {
		if want := ref.Tile(k.level, k.index); !bytes.Equal(data, want) {
			t.Errorf("tile %d/%d: %d bytes, differs from the reference (%d bytes)", k.level, k.index, len(data), len(want))
		}
	}
	for i, b := range m.bundles {
		var eb api.EntryBundle
		if err := eb.UnmarshalText(b.data); err != nil {
			t.Fatalf("bundle %d: %v", i, err)
		}
		for j, e := range eb.Entries {
			if want := all[i*bundleWidth+uint64(j)]; !bytes.Equal(e, want) {
				t.Fatalf("bundle %d entry %d is %q, want %q", i, j, e, want)
			}
		}
	}
}

// TestTreeExtenderDetectsCorruption checks the integrity checks: a wrong
// root, a short tile, a changed hash, and a bundle of the wrong width.
func TestTreeExtenderDetectsCorruption(t *testing.T) {
	m := newMemLog()
	batch := make([][]byte, 300)
	for i := range batch {
		batch[i] = fmt.Appendf(nil, "entry %d", i)
	}
	m.integrate(t, batch)
	edge := func() map[tileKey][]byte {
		e := map[tileKey][]byte{}
		for _, k := range rightEdge(m.size) {
			e[k] = append([]byte(nil), m.tiles[k]...)
		}
		return e
	}
	if _, err := newTreeExtender(m.size, m.root, edge()); err != nil {
		t.Fatalf("intact tree: %v", err)
	}
	badRoot := append([]byte(nil), m.root...)
	badRoot[0] ^= 1
	e := edge()
	short := e[tileKey{0, 1}][:len(e[tileKey{0, 1}])-hashSize]
	flipped := edge()
	flipped[tileKey{0, 1}][5] ^= 1
	for name, tc := range map[string]struct {
		root []byte
		edge map[tileKey][]byte
	}{
		"root mismatch": {badRoot, edge()},
		"short tile":    {m.root, map[tileKey][]byte{{0, 1}: short, {1, 0}: e[tileKey{1, 0}]}},
		"changed hash":  {m.root, flipped},
		"missing tile":  {m.root, map[tileKey][]byte{{0, 1}: e[tileKey{0, 1}]}},
	} {
		if _, err := newTreeExtender(m.size, tc.root, tc.edge); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: err %v, want ErrIntegrity", name, err)
		}
	}
	if _, err := extendBundles(m.size, &bundle{}, [][]byte{{0, 1, 'x'}}); !errors.Is(err, ErrIntegrity) {
		t.Errorf("bundle of the wrong width: err %v, want ErrIntegrity", err)
	}
}

func TestRightEdge(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want []tileKey
	}{
		{0, nil},
		{1, []tileKey{{0, 0}}},
		{256, []tileKey{{1, 0}}},
		{257, []tileKey{{0, 1}, {1, 0}}},
		{65536, []tileKey{{2, 0}}},
		{65537, []tileKey{{0, 256}, {2, 0}}},
	} {
		got := rightEdge(tc.size)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("rightEdge(%d) = %v, want %v", tc.size, got, tc.want)
		}
		for _, k := range got {
			if layout.PartialTileSize(k.level, k.index, tc.size) == 0 {
				t.Errorf("rightEdge(%d) lists full tile %v", tc.size, k)
			}
		}
	}
}

func TestBatchEncoding(t *testing.T) {
	in := []sequenced{
		{bundleData: []byte("\x00\x01a"), leafHash: bytes.Repeat([]byte{1}, hashSize)},
		{bundleData: []byte{}, leafHash: bytes.Repeat([]byte{2}, hashSize)},
		{bundleData: bytes.Repeat([]byte("z"), 70000), leafHash: bytes.Repeat([]byte{3}, hashSize)},
	}
	v, err := encodeBatch(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeBatch(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d entries, want %d", len(out), len(in))
	}
	for i := range in {
		if !bytes.Equal(out[i].bundleData, in[i].bundleData) || !bytes.Equal(out[i].leafHash, in[i].leafHash) {
			t.Errorf("entry %d differs after a round trip", i)
		}
	}
	for cut := range len(v) {
		if _, err := decodeBatch(v[:cut]); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", cut, len(v))
		}
	}
	if _, err := decodeBatch(append(v, 0)); err == nil {
		t.Error("decoding with a trailing byte succeeded")
	}
	if _, err := encodeBatch([]sequenced{{leafHash: []byte{1}}}); err == nil {
		t.Error("encoding a short leaf hash succeeded")
	}
}

// FuzzDecodeBatch checks decodeBatch never fails badly on stored bytes, and
// that whatever it accepts survives a round trip.
func FuzzDecodeBatch(f *testing.F) {
	v, _ := encodeBatch([]sequenced{{bundleData: []byte("ab"), leafHash: make([]byte, hashSize)}})
	f.Add(v)
	f.Fuzz(func(t *testing.T, v []byte) {
		entries, err := decodeBatch(v)
		if err != nil {
			return
		}
		again, err := encodeBatch(entries)
		if err != nil {
			t.Fatalf("re-encoding a decoded batch: %v", err)
		}
		back, err := decodeBatch(again)
		if err != nil || len(back) != len(entries) {
			t.Fatalf("decoding a re-encoded batch: %d entries, %v; want %d", len(back), err, len(entries))
		}
		for i := range back {
			if !bytes.Equal(back[i].bundleData, entries[i].bundleData) || !bytes.Equal(back[i].leafHash, entries[i].leafHash) {
				t.Fatalf("entry %d changed in a round trip", i)
			}
		}
	})
}

func TestBundleTruncation(t *testing.T) {
	b := &bundle{}
	for i := range 10 {
		b.add(bytes.Repeat([]byte{byte(i)}, i))
	}
	back, err := decodeBundle(b.n(), b.encodeEnds(), b.data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.prefix(4), b.data[:0+1+2+3]; !bytes.Equal(got, want) {
		t.Errorf("prefix(4) = %x, want %x", got, want)
	}
	if _, err := decodeBundle(b.n(), b.encodeEnds(), b.data[:len(b.data)-1]); !errors.Is(err, ErrIntegrity) {
		t.Errorf("bundle with short data: err %v, want ErrIntegrity", err)
	}
}

func TestDecidePublish(t *testing.T) {
	const iv, rep = 100, 1000
	for _, tc := range []struct {
		name    string
		st      pubState
		republ  int
		publish bool
		wait    int
		err     bool
	}{
		{"first", pubState{}, rep, true, iv, false},
		{"grew, interval passed", pubState{published: true, pubSize: 1, intSize: 2, age: 150}, rep, true, iv, false},
		{"grew, too soon", pubState{published: true, pubSize: 1, intSize: 2, age: 30}, rep, false, 70, false},
		{"same, republish due", pubState{published: true, pubSize: 2, intSize: 2, age: 1000}, rep, true, iv, false},
		{"same, republish later", pubState{published: true, pubSize: 2, intSize: 2, age: 950}, rep, false, 50, false},
		{"same, republish off", pubState{published: true, pubSize: 2, intSize: 2, age: 5000}, 0, false, iv, false},
		{"shrunk", pubState{published: true, pubSize: 3, intSize: 2}, rep, false, iv, true},
	} {
		publish, wait, err := decidePublish(tc.st, iv, time.Duration(tc.republ))
		if publish != tc.publish || wait != time.Duration(tc.wait) || (err != nil) != tc.err {
			t.Errorf("%s: got (%t, %v, %v), want (%t, %v, error %t)", tc.name, publish, wait, err, tc.publish, tc.wait, tc.err)
		}
	}
}
