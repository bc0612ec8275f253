package storagetest

import (
	"bytes"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// ReferenceTree is an in-memory Merkle tree computed independently of any
// driver, to check drivers against: it keeps every complete node of every
// level (so it can say what any tile holds) and a compact range (for the
// root). Not safe for concurrent use.
type ReferenceTree struct {
	levels [][][]byte     // levels[h][i] is the complete node at height h, index i
	rng    *compact.Range // compact range over all leaves
}

// NewReferenceTree returns an empty tree.
func NewReferenceTree() *ReferenceTree {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	return &ReferenceTree{rng: rf.NewEmptyRange(0)}
}

// AppendData appends a leaf for the given entry data.
func (r *ReferenceTree) AppendData(data []byte) {
	r.AppendLeafHash(rfc6962.DefaultHasher.HashLeaf(data))
}

// AppendLeafHash appends a leaf hash.
func (r *ReferenceTree) AppendLeafHash(h []byte) {
	// The compact range never fails on a valid in-order append.
	_ = r.rng.Append(h, nil)
	for level := 0; ; level++ {
		if level == len(r.levels) {
			r.levels = append(r.levels, nil)
		}
		r.levels[level] = append(r.levels[level], h)
		n := len(r.levels[level])
		if n%2 != 0 {
			return
		}
		h = rfc6962.DefaultHasher.HashChildren(r.levels[level][n-2], r.levels[level][n-1])
	}
}

// Size returns the number of leaves.
func (r *ReferenceTree) Size() uint64 { return r.rng.End() }

// Root returns the RFC 6962 root hash.
func (r *ReferenceTree) Root() []byte {
	if r.rng.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root, _ := r.rng.GetRootHash(nil) // Cannot fail on a non-empty range.
	return root
}

// LeafHash returns the leaf hash at index i.
func (r *ReferenceTree) LeafHash(i uint64) []byte { return r.levels[0][i] }

// Tile returns what tile level/index holds in a tree of the current size:
// its bottom row of hashes, concatenated (nil if it does not exist).
func (r *ReferenceTree) Tile(level, index uint64) []byte {
	h := int(level * layout.TileHeight)
	if h >= len(r.levels) {
		return nil
	}
	row := r.levels[h]
	lo := index * layout.TileWidth
	if lo >= uint64(len(row)) {
		return nil
	}
	hi := min(lo+layout.TileWidth, uint64(len(row)))
	return bytes.Join(row[lo:hi], nil)
}

// RootAt returns the root hash of the tree's first size leaves (size must not
// exceed Size).
func (r *ReferenceTree) RootAt(size uint64) []byte {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		hashes[i] = r.levels[id.Level][id.Index]
	}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng, err := rf.NewRange(0, size, hashes)
	if err != nil {
		return nil
	}
	root, _ := rng.GetRootHash(nil) // Cannot fail on a non-empty range.
	return root
}
