package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// ErrIntegrity marks a failure of the log's own storage: a stored
// checkpoint, tile or bundle that contradicts another. A proof that does not
// verify is never returned; the error wraps ErrIntegrity instead and the
// integrity failure counter is incremented.
var ErrIntegrity = errors.New("integrity failure")

// RangeError reports a request for an entry, proof or root outside the tree
// of the latest published checkpoint, or with its sizes out of order. It is
// the caller's mistake, not the log's.
type RangeError struct {
	// Reason says what was asked and why it cannot be answered.
	Reason string
	// Latest is the size of the latest published checkpoint.
	Latest uint64
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("%s (the latest published tree size is %d)", e.Reason, e.Latest)
}

func rangeErr(latest uint64, format string, args ...any) error {
	return &RangeError{Reason: fmt.Sprintf(format, args...), Latest: latest}
}

// InclusionProof proves that the leaf at Index is in the tree of Size whose
// root is Root. It has been verified against Root before it was returned.
type InclusionProof struct {
	Index, Size uint64
	Root        []byte
	// Hashes is the RFC 6962 audit path, leaf to root.
	Hashes [][]byte
	// LatestSize is the size of the latest published checkpoint when the
	// proof was built. Checkpoint is that checkpoint, as published, when
	// Size equals LatestSize, and nil otherwise.
	LatestSize uint64
	Checkpoint []byte
}

// ConsistencyProof proves that the tree of First (root FirstRoot) is a
// prefix of the tree of Second (root SecondRoot). It has been verified
// before it was returned.
type ConsistencyProof struct {
	First, Second         uint64
	FirstRoot, SecondRoot []byte
	// Hashes is the RFC 6962 consistency proof (empty when First equals
	// Second).
	Hashes [][]byte
	// Checkpoint is the latest published checkpoint when the proof was
	// built, as published, and LatestSize its size.
	Checkpoint []byte
	LatestSize uint64
}

// InclusionProof proves the leaf at index in the tree of size, which must
// not exceed the latest published checkpoint's size; size 0 means that
// size. An index not below size, or a size beyond the latest, is a
// *RangeError.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) (*InclusionProof, error) {
	cp, raw, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		size = cp.Size
	}
	if size > cp.Size {
		return nil, rangeErr(cp.Size, "tree size %d is beyond the latest published tree", size)
	}
	if index >= size {
		return nil, rangeErr(cp.Size, "index %d is not below tree size %d", index, size)
	}
	leafHash, err := l.nodes.node(ctx, compact.NodeID{Level: 0, Index: index}, size)
	if err != nil {
		return nil, fmt.Errorf("reading the leaf hash of %d: %w", index, err)
	}
	return l.proveInclusion(ctx, cp, raw, index, size, leafHash)
}

// Entry returns the leaf at index, read from its entry bundle, and its
// inclusion proof against the latest published checkpoint. An index at or
// beyond that checkpoint's size is a *RangeError.
func (l *Log) Entry(ctx context.Context, index uint64) ([]byte, *InclusionProof, error) {
	cp, raw, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	if index >= cp.Size {
		return nil, nil, rangeErr(cp.Size, "entry %d does not exist", index)
	}
	leaf, err := l.leaf(ctx, index, cp.Size)
	if err != nil {
		return nil, nil, err
	}
	p, err := l.proveInclusion(ctx, cp, raw, index, cp.Size, rfc6962.DefaultHasher.HashLeaf(leaf))
	if err != nil {
		return nil, nil, err
	}
	return leaf, p, nil
}

// ConsistencyProof proves the tree of first a prefix of the tree of second.
// It requires 0 < first <= second <= the latest published size; anything
// else is a *RangeError.
func (l *Log) ConsistencyProof(ctx context.Context, first, second uint64) (*ConsistencyProof, error) {
	cp, raw, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case first == 0:
		return nil, rangeErr(cp.Size, "first tree size is 0; consistency is proven from a non-empty tree")
	case first > second:
		return nil, rangeErr(cp.Size, "tree sizes are reversed: first %d is larger than second %d", first, second)
	case second > cp.Size:
		return nil, rangeErr(cp.Size, "second tree size %d is beyond the latest published tree", second)
	}
	roots := make([][]byte, 2)
	for i, size := range []uint64{first, second} {
		if roots[i], err = l.rootAt(ctx, cp, size); err != nil {
			return nil, err
		}
	}
	hashes, err := l.nodes.consistency(ctx, first, second)
	if err != nil {
		return nil, fmt.Errorf("building consistency proof from %d to %d: %w", first, second, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first, second, hashes, roots[0], roots[1]); err != nil {
		return nil, l.integrityFailure("consistency proof from %d to %d does not verify: %w", first, second, err)
	}
	return &ConsistencyProof{First: first, Second: second, FirstRoot: roots[0], SecondRoot: roots[1],
		Hashes: nonNil(hashes), Checkpoint: raw, LatestSize: cp.Size}, nil
}

// RootAt returns the root hash of the tree of size, computed from the hash
// tiles; size must not exceed the latest published checkpoint's size (else a
// *RangeError). The root of the latest size is checked against the
// checkpoint.
func (l *Log) RootAt(ctx context.Context, size uint64) ([]byte, error) {
	cp, _, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if size > cp.Size {
		return nil, rangeErr(cp.Size, "tree size %d is beyond the latest published tree", size)
	}
	return l.rootAt(ctx, cp, size)
}

// rootAt computes the root of the tree of size (at most cp.Size) from the
// compact range of its nodes in the tiles. For cp's own size the result
// must equal cp's root: both commit to the same tree.
func (l *Log) rootAt(ctx context.Context, cp *log.Checkpoint, size uint64) ([]byte, error) {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	root, err := l.nodes.root(ctx, size)
	if errors.Is(err, errNoRange) {
		return nil, l.integrityFailure("%w", err)
	} else if err != nil {
		return nil, err
	}
	if size == cp.Size && !bytes.Equal(root, cp.Hash) {
		return nil, l.integrityFailure("the tiles' root of size %d is %x but the checkpoint's is %x", size, root, cp.Hash)
	}
	return root, nil
}

// proveInclusion builds and verifies the proof of the leaf with leafHash at
// index in the tree of size against the root computed from the tiles.
func (l *Log) proveInclusion(ctx context.Context, cp *log.Checkpoint, raw []byte, index, size uint64, leafHash []byte) (*InclusionProof, error) {
	root, err := l.rootAt(ctx, cp, size)
	if err != nil {
		return nil, err
	}
	hashes, err := l.inclusionProof(ctx, index, size)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, hashes, root); err != nil {
		return nil, l.integrityFailure("inclusion proof of %d in %d does not verify: %w", index, size, err)
	}
	p := &InclusionProof{Index: index, Size: size, Root: root, Hashes: nonNil(hashes), LatestSize: cp.Size}
	if size == cp.Size {
		p.Checkpoint = raw
	}
	return p, nil
}

// leaf reads the entry at index (below size) from its entry bundle, read at
// the width the tree of size gives it.
func (l *Log) leaf(ctx context.Context, index, size uint64) ([]byte, error) {
	bundleIndex := index / layout.EntryBundleWidth
	raw, err := l.reader.bundle(ctx, bundleIndex, layout.PartialTileSize(0, bundleIndex, size))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle of entry %d: %w", index, err)
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return nil, l.integrityFailure("entry bundle %d does not parse: %w", bundleIndex, err)
	}
	i := index % layout.EntryBundleWidth
	if i >= uint64(len(b.Entries)) {
		return nil, l.integrityFailure("entry bundle %d has %d entries, not entry %d", bundleIndex, len(b.Entries), index)
	}
	return b.Entries[i], nil
}

// integrityFailure counts and logs a contradiction in the log's own storage
// and returns it as an error wrapping ErrIntegrity.
func (l *Log) integrityFailure(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	l.metrics.integrityFailures.Inc()
	l.logger.Error("integrity failure", "err", err)
	return fmt.Errorf("%w: %w", ErrIntegrity, err)
}

// nonNil returns hashes, or an empty slice for nil, so that encoders write
// an empty list rather than null.
func nonNil(hashes [][]byte) [][]byte {
	if hashes == nil {
		return [][]byte{}
	}
	return hashes
}
