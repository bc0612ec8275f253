package tlogproof

import (
	"encoding/base64"
	"errors"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Verified is what Verify established: the leaf is entry Index of the
// tree of Size entries with root RootHash that the log named Origin
// signed.
type Verified struct {
	Origin   string
	Size     uint64
	RootHash []byte
	Index    uint64
	// LeafHash is the RFC 6962 hash of the leaf: SHA-256(0x00 || leaf).
	LeafHash []byte
	// OtherSignatures names the signers of the checkpoint's other
	// signatures (witness cosignatures, in the order they appear). Verify
	// does not check them: apply a witness policy to the checkpoint for
	// that.
	OtherSignatures []string
}

// Verify parses data as a tlog-proof and verifies it for leaf: see
// Proof.Verify.
func Verify(data, leaf []byte, origin string, v sumdbnote.Verifier) (*Verified, error) {
	p, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return p.Verify(leaf, origin, v)
}

// Verify checks that leaf (the entry's bytes) is entry p.Index of the log
// named origin whose checkpoints v verifies (see note.LogVerifier): that
// p's checkpoint names origin and carries a valid signature by v, that
// p.Index is in its tree, and that the inclusion proof leads from leaf's
// RFC 6962 hash to its root. Every error is an *Error whose Check is
// CheckCheckpoint (origin or signature), CheckFormat (the index or proof
// does not fit the tree) or CheckInclusion (leaf is not that entry, or a
// proof hash is wrong).
func (p *Proof) Verify(leaf []byte, origin string, v sumdbnote.Verifier) (*Verified, error) {
	cp, err := note.VerifyCheckpoint(p.Checkpoint, origin, v)
	if err != nil {
		return nil, &Error{Check: CheckCheckpoint, Err: err}
	}
	if err := p.checkFits(cp); err != nil {
		return nil, err
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leafHash, p.Hashes, cp.Hash); err != nil {
		var mismatch proof.RootMismatchError
		if errors.As(err, &mismatch) {
			return nil, fail(CheckInclusion, "the leaf and proof hashes lead to root %s, not the checkpoint's root %s: "+
				"the leaf is not entry %d of this log, or a proof hash is wrong", b64(mismatch.CalculatedRoot), b64(cp.Hash), p.Index)
		}
		return nil, fail(CheckInclusion, "entry %d in the tree of size %d: %w", p.Index, cp.Size, err)
	}
	return &Verified{
		Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash, Index: p.Index,
		LeafHash: leafHash, OtherSignatures: otherSignatures(p.Checkpoint, v),
	}, nil
}

// otherSignatures names the signatures of a checkpoint v verified that
// are not v's.
func otherSignatures(checkpoint []byte, v sumdbnote.Verifier) []string {
	n, err := sumdbnote.Open(checkpoint, sumdbnote.VerifierList(v))
	if err != nil {
		return nil
	}
	var names []string
	for _, s := range n.UnverifiedSigs {
		names = append(names, s.Name)
	}
	return names
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
