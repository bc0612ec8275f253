package mosaictest

import (
	"bytes"
	"fmt"

	"github.com/mosaiclog/mosaic/pkg/note"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

// CheckEntry parses a CreateEntry response and verifies it the way a strict
// offline verifier would: the checkpoint is signed by the log's key under
// its origin, the proof's size and root equal the checkpoint's, the
// inclusion proof of the canonicalized body verifies, and the log ID names
// the log's key. It returns the parsed entry.
func (l *Log) CheckEntry(body []byte) (*rekorpb.TransparencyLogEntry, error) {
	var tle rekorpb.TransparencyLogEntry
	if err := protojson.Unmarshal(body, &tle); err != nil {
		return nil, fmt.Errorf("response is not a TransparencyLogEntry: %w", err)
	}
	if !bytes.Equal(tle.GetLogId().GetKeyId(), l.LogID) {
		return nil, fmt.Errorf("logId.keyId %x, want %x", tle.GetLogId().GetKeyId(), l.LogID)
	}
	if tle.GetIntegratedTime() != 0 || tle.GetInclusionPromise() != nil {
		return nil, fmt.Errorf("a Rekor v2 entry must have no integratedTime or inclusionPromise")
	}
	ip := tle.GetInclusionProof()
	if ip == nil {
		return nil, fmt.Errorf("no inclusion proof")
	}
	v, err := note.NewVerifier(l.Origin, l.Key.Public())
	if err != nil {
		return nil, err
	}
	cp, _, _, err := log.ParseCheckpoint([]byte(ip.GetCheckpoint().GetEnvelope()), l.Origin, v)
	if err != nil {
		return nil, fmt.Errorf("checkpoint does not verify: %w", err)
	}
	if uint64(ip.GetTreeSize()) != cp.Size || !bytes.Equal(ip.GetRootHash(), cp.Hash) {
		return nil, fmt.Errorf("proof is for size %d root %x but the checkpoint says %d %x", ip.GetTreeSize(), ip.GetRootHash(), cp.Size, cp.Hash)
	}
	if tle.GetLogIndex() != ip.GetLogIndex() {
		return nil, fmt.Errorf("logIndex %d differs from inclusionProof.logIndex %d", tle.GetLogIndex(), ip.GetLogIndex())
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody())
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.GetLogIndex()), cp.Size, leaf, ip.GetHashes(), cp.Hash); err != nil {
		return nil, fmt.Errorf("inclusion proof does not verify: %w", err)
	}
	return &tle, nil
}
