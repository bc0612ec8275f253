package main

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strconv"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdbnote "golang.org/x/mod/sumdb/note"
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
	var tle logEntryJSON
	if err := jsonv2.Unmarshal(body, &tle); err != nil {
		return fmt.Errorf("response is not a TransparencyLogEntry: %w", err)
	}
	ip := tle.InclusionProof
	if ip == nil {
		return errors.New("response has no inclusion proof")
	}
	if tle.LogIndex != ip.LogIndex || ip.LogIndex < 0 {
		return fmt.Errorf("logIndex %d and inclusionProof.logIndex %d differ", tle.LogIndex, ip.LogIndex)
	}
	cp, err := v.checkpoint([]byte(ip.Checkpoint.Envelope))
	if err != nil {
		return err
	}
	if uint64(ip.TreeSize) != cp.Size || !bytes.Equal(ip.RootHash, cp.Hash) {
		return fmt.Errorf("proof is for size %d root %x, but its checkpoint commits to size %d root %x",
			ip.TreeSize, ip.RootHash, cp.Size, cp.Hash)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.CanonicalizedBody)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.LogIndex), cp.Size, leaf, ip.Hashes, cp.Hash); err != nil {
		return fmt.Errorf("inclusion proof of index %d in size %d does not verify: %w", ip.LogIndex, cp.Size, err)
	}
	return loggedEntryIs(tle.CanonicalizedBody, req)
}

// logEntryJSON is the part of a protobuf-JSON TransparencyLogEntry that
// check reads. JSON v2 (go-json-experiment/json, the proposal for Go's
// encoding/json/v2) decodes it in a fraction of protojson's CPU, which the
// load tool shares with the server it measures; bytes fields are standard
// base64 and int64 fields strings, as protojson writes them.
type logEntryJSON struct {
	LogIndex       jsonInt64 `json:"logIndex"`
	InclusionProof *struct {
		LogIndex   jsonInt64 `json:"logIndex"`
		RootHash   []byte    `json:"rootHash"`
		TreeSize   jsonInt64 `json:"treeSize"`
		Hashes     [][]byte  `json:"hashes"`
		Checkpoint struct {
			Envelope string `json:"envelope"`
		} `json:"checkpoint"`
	} `json:"inclusionProof"`
	CanonicalizedBody []byte `json:"canonicalizedBody"`
}

// jsonInt64 is an int64 written as a JSON string (protojson's way) or as a
// number.
type jsonInt64 int64

func (n *jsonInt64) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an int64: %s", b)
	}
	*n = jsonInt64(v)
	return nil
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
	var e struct {
		Spec struct {
			HashedRekordV002 *struct {
				Data struct {
					Digest []byte `json:"digest"`
				} `json:"data"`
				Signature struct {
					Content []byte `json:"content"`
				} `json:"signature"`
			} `json:"hashedRekordV002"`
		} `json:"spec"`
	}
	if err := jsonv2.Unmarshal(canonical, &e); err != nil {
		return fmt.Errorf("canonicalizedBody is not a Rekor v2 Entry: %w", err)
	}
	hr := e.Spec.HashedRekordV002
	if hr == nil {
		return errors.New("canonicalizedBody is not a hashedrekord entry")
	}
	if !bytes.Equal(hr.Data.Digest, req.digest) || !bytes.Equal(hr.Signature.Content, req.sig) {
		return errors.New("the logged entry is not the one submitted (digest or signature differ)")
	}
	return nil
}
