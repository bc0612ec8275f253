package main

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"sync"

	"github.com/mosaiclog/mosaic/pkg/note"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdbnote "golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// responseVerifier checks CreateEntry responses. Without a log key it checks
// everything but the checkpoint's signature.
type responseVerifier struct {
	origin string
	// note verifies checkpoint signatures; nil when no log key was given.
	note sumdbnote.Verifier

	// verified remembers the checkpoints whose signature checked, by their
	// exact bytes: the responses of one integration all carry the same
	// checkpoint, and checking its signature again for each of them would
	// only spend the CPU the server under test shares. Cleared when it
	// holds maxVerified, so it stays small.
	mu       sync.Mutex
	verified map[string]*log.Checkpoint
}

// maxVerified bounds responseVerifier.verified.
const maxVerified = 256

func newResponseVerifier(origin string, logKey crypto.PublicKey) (*responseVerifier, error) {
	if logKey == nil {
		return &responseVerifier{}, nil
	}
	nv, err := note.NewVerifier(origin, logKey)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	return &responseVerifier{origin: origin, note: nv}, nil
}

// check verifies that body is a TransparencyLogEntry for req whose inclusion
// proof leads from the canonicalized body to the root of the checkpoint it
// carries, and that the checkpoint's size and root are the proof's.
func (v *responseVerifier) check(body []byte, req *request) error {
	var tle rekorpb.TransparencyLogEntry
	if err := protojson.Unmarshal(body, &tle); err != nil {
		return fmt.Errorf("response is not a TransparencyLogEntry: %w", err)
	}
	ip := tle.GetInclusionProof()
	if ip == nil {
		return errors.New("response has no inclusion proof")
	}
	if tle.GetLogIndex() != ip.GetLogIndex() || ip.GetLogIndex() < 0 {
		return fmt.Errorf("logIndex %d and inclusionProof.logIndex %d differ", tle.GetLogIndex(), ip.GetLogIndex())
	}
	cp, err := v.checkpoint([]byte(ip.GetCheckpoint().GetEnvelope()))
	if err != nil {
		return err
	}
	if uint64(ip.GetTreeSize()) != cp.Size || !bytes.Equal(ip.GetRootHash(), cp.Hash) {
		return fmt.Errorf("proof is for size %d root %x, but its checkpoint commits to size %d root %x",
			ip.GetTreeSize(), ip.GetRootHash(), cp.Size, cp.Hash)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody())
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.GetLogIndex()), cp.Size, leaf, ip.GetHashes(), cp.Hash); err != nil {
		return fmt.Errorf("inclusion proof of index %d in size %d does not verify: %w", ip.GetLogIndex(), cp.Size, err)
	}
	return loggedEntryIs(tle.GetCanonicalizedBody(), req)
}

// checkpoint parses a checkpoint note, verifying its signature when the
// verifier has a log key.
func (v *responseVerifier) checkpoint(env []byte) (*log.Checkpoint, error) {
	if v.note == nil {
		return note.ParseCheckpoint(env)
	}
	v.mu.Lock()
	cp, ok := v.verified[string(env)]
	v.mu.Unlock()
	if ok {
		return cp, nil
	}
	cp, err := note.VerifyCheckpoint(env, v.origin, v.note)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	v.mu.Lock()
	if v.verified == nil || len(v.verified) >= maxVerified {
		v.verified = make(map[string]*log.Checkpoint)
	}
	v.verified[string(env)] = cp
	v.mu.Unlock()
	return cp, nil
}

// loggedEntryIs checks that the logged hashedrekord carries req's digest and
// signature, so a proof for some other leaf is not mistaken for ours.
func loggedEntryIs(canonical []byte, req *request) error {
	var e pb.Entry
	if err := protojson.Unmarshal(canonical, &e); err != nil {
		return fmt.Errorf("canonicalizedBody is not a Rekor v2 Entry: %w", err)
	}
	hr := e.GetSpec().GetHashedRekordV002()
	if !bytes.Equal(hr.GetData().GetDigest(), req.digest) || !bytes.Equal(hr.GetSignature().GetContent(), req.sig) {
		return errors.New("the logged entry is not the one submitted (digest or signature differ)")
	}
	return nil
}
