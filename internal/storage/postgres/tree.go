package postgres

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// This file holds the pure part of integration: extending a tree held as
// tiles, and its entry bundles, with new leaves. It does no I/O.

const (
	tileWidth     = layout.TileWidth        // hashes in a full tile, entries in a full bundle
	tileHeight    = layout.TileHeight       // tree levels per tile level
	fullTileBytes = tileWidth * hashSize    // 8192
	maxTileLevel  = 64/tileHeight - 1       // tile levels a uint64-sized tree can use
	bundleWidth   = layout.EntryBundleWidth // entries in a full bundle
)

var hasher = rfc6962.DefaultHasher

// rightEdge returns the tiles that are partial in a tree of the given size:
// at most one per tile level, the last one, when its width is not zero. They
// hold every node of the tree's compact range, and are the only stored tiles
// that integration may change.
func rightEdge(size uint64) []tileKey {
	var keys []tileKey
	for level := uint64(0); level <= maxTileLevel && size>>(tileHeight*level) != 0; level++ {
		if layout.PartialTileSize(level, size>>(tileHeight*(level+1)), size) != 0 {
			keys = append(keys, tileKey{level: level, index: size >> (tileHeight * (level + 1))})
		}
	}
	return keys
}

// treeExtender appends leaves to a tree stored as tiles. It is used by one
// integration, on one goroutine.
type treeExtender struct {
	rng   *compact.Range       // compact range of the tree so far
	rows  map[tileKey][][]byte // bottom rows of the tiles loaded or touched
	dirty map[tileKey]bool     // tiles changed by append
	err   error                // first error seen by the visitor
}

// newTreeExtender rebuilds the compact range of a tree of the given size from
// its right-edge tiles (as stored: concatenated hashes, exactly as many as
// the size implies) and checks that it hashes to root.
func newTreeExtender(size uint64, root []byte, edge map[tileKey][]byte) (*treeExtender, error) {
	t := &treeExtender{rows: make(map[tileKey][][]byte), dirty: make(map[tileKey]bool)}
	for _, k := range rightEdge(size) {
		data := edge[k]
		want := int(layout.PartialTileSize(k.level, k.index, size))
		if len(data) != want*hashSize {
			return nil, fmt.Errorf("%w: tile %d/%d has %d bytes; tree size %d implies %d hashes",
				ErrIntegrity, k.level, k.index, len(data), size, want)
		}
		t.rows[k] = splitHashes(data)
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, 0, len(ids))
	for _, id := range ids {
		tl, ti, nl, ni := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
		row := t.rows[tileKey{level: tl, index: ti}]
		lo, hi := ni<<nl, (ni+1)<<nl
		if hi > uint64(len(row)) {
			return nil, fmt.Errorf("%w: tile %d/%d lacks node %d/%d of a tree of size %d",
				ErrIntegrity, tl, ti, id.Level, id.Index, size)
		}
		hashes = append(hashes, perfectRoot(row[lo:hi]))
	}
	rf := &compact.RangeFactory{Hash: hasher.HashChildren}
	rng, err := rf.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: rebuilding compact range of size %d: %w", ErrIntegrity, size, err)
	}
	t.rng = rng
	got, err := t.root()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, root) {
		return nil, fmt.Errorf("%w: tiles of the tree of size %d hash to root %x, but %x is recorded",
			ErrIntegrity, size, got, root)
	}
	return t, nil
}

// perfectRoot returns the root of the perfect subtree whose leaves are
// hashes (a power of two of them).
func perfectRoot(hashes [][]byte) []byte {
	level := append([][]byte(nil), hashes...)
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			level[i] = hasher.HashChildren(level[2*i], level[2*i+1])
		}
		level = level[:len(level)/2]
	}
	return level[0]
}

// append adds leaf hashes to the tree, recording every new node that belongs
// in a tile.
func (t *treeExtender) append(leafHashes [][]byte) error {
	for _, h := range leafHashes {
		if err := t.rng.Append(h, t.visit); err != nil {
			return fmt.Errorf("appending leaf %d: %w", t.rng.End(), err)
		}
		if t.err != nil {
			return t.err
		}
	}
	return nil
}

// visit stores a newly completed node if it is in a tile's bottom row (tree
// levels that are multiples of the tile height). Nodes arrive in order, so
// each lands just after the last hash of its tile.
func (t *treeExtender) visit(id compact.NodeID, hash []byte) {
	if id.Level%tileHeight != 0 || t.err != nil {
		return
	}
	k := tileKey{level: uint64(id.Level / tileHeight), index: id.Index / tileWidth}
	row := t.rows[k]
	if slot := id.Index % tileWidth; slot != uint64(len(row)) {
		t.err = fmt.Errorf("%w: node %d/%d goes to slot %d of tile %d/%d, which has %d hashes",
			ErrIntegrity, id.Level, id.Index, slot, k.level, k.index, len(row))
		return
	}
	t.rows[k] = append(row, hash)
	t.dirty[k] = true
}

// root returns the root hash of the tree so far (RFC 6962's for size 0).
func (t *treeExtender) root() ([]byte, error) {
	if t.rng.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	r, err := t.rng.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("computing root of size %d: %w", t.rng.End(), err)
	}
	return r, nil
}

// changed returns the tiles append changed, as stored (concatenated hashes).
func (t *treeExtender) changed() map[tileKey][]byte {
	out := make(map[tileKey][]byte, len(t.dirty))
	for k := range t.dirty {
		out[k] = bytes.Join(t.rows[k], nil)
	}
	return out
}

func splitHashes(data []byte) [][]byte {
	out := make([][]byte, 0, len(data)/hashSize)
	for i := 0; i+hashSize <= len(data); i += hashSize {
		out = append(out, data[i:i+hashSize:i+hashSize])
	}
	return out
}

// extendBundles appends entries (bundle data of the leaves from index size
// on) to the entry bundles of a tree of the given size. partial is the stored
// last bundle when size is not a multiple of the bundle width, nil otherwise.
// It returns every bundle that changed, by index.
func extendBundles(size uint64, partial *bundle, entries [][]byte) (map[uint64]*bundle, error) {
	got, want := 0, int(size%bundleWidth)
	if partial != nil {
		got = partial.n()
	}
	if got != want {
		return nil, fmt.Errorf("%w: bundle %d has %d entries; tree size %d implies %d",
			ErrIntegrity, size/bundleWidth, got, size, want)
	}
	out := make(map[uint64]*bundle)
	cur := partial
	for i, e := range entries {
		idx := (size + uint64(i)) / bundleWidth
		if cur == nil || cur.n() == bundleWidth {
			cur = &bundle{}
		}
		cur.add(e)
		out[idx] = cur
	}
	return out, nil
}
