package storagetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

// TestReferenceTreeRoot checks the reference tree against RFC 6962's
// recursive definition for every size up to 300.
func TestReferenceTreeRoot(t *testing.T) {
	var leaves [][]byte
	r := NewReferenceTree()
	for n := range 300 {
		if got, want := r.Root(), recursiveRoot(leaves); !bytes.Equal(got, want) {
			t.Fatalf("size %d: root %x, want %x", n, got, want)
		}
		for m := 0; m <= n; m += 7 {
			if got, want := r.RootAt(uint64(m)), recursiveRoot(leaves[:m]); !bytes.Equal(got, want) {
				t.Fatalf("RootAt(%d) at size %d: %x, want %x", m, n, got, want)
			}
		}
		d := fmt.Appendf(nil, "leaf %d", n)
		leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(d))
		r.AppendData(d)
	}
	if got := r.Tile(0, 1); len(got) != 44*32 {
		t.Errorf("Tile(0, 1) at size 300 has %d bytes, want %d", len(got), 44*32)
	}
	if got := r.Tile(1, 0); len(got) != 32 {
		t.Errorf("Tile(1, 0) at size 300 has %d bytes, want 32", len(got))
	}
}

// recursiveRoot is RFC 6962 section 2.1's MTH, written out.
func recursiveRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(recursiveRoot(leaves[:k]), recursiveRoot(leaves[k:]))
}
