package verify

import (
	"bytes"
	"errors"
	"fmt"

	"strconv"
	"strings"

	"github.com/mosaiclog/mosaic/pkg/note"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Checkpoint is a checkpoint whose log signature has been verified.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte
	// Note is the signed note as given, signatures included.
	Note []byte
	// Log is the log that signed it.
	Log *TransparencyLog
}

// VerifyCheckpoint verifies a signed checkpoint (a C2SP signed note) from
// the log l: l's key must have signed it under l's Origin. Its errors have
// Check CheckCheckpointSignature; one for a checkpoint of another origin
// wraps a *note.OriginError that names both.
func (l *TransparencyLog) VerifyCheckpoint(signed []byte) (*Checkpoint, error) {
	v, err := l.noteVerifier()
	if err != nil {
		return nil, fail(CheckCheckpointSignature, "log %s: %w", l.Origin, err)
	}
	cp, err := note.VerifyCheckpoint(signed, l.Origin, v)
	if err != nil {
		return nil, &Error{Check: CheckCheckpointSignature, Err: err}
	}
	return &Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash, Note: signed, Log: l}, nil
}

// VerifyCheckpoint verifies a signed checkpoint against the trusted root's
// tlogs: one whose origin is the checkpoint's must have signed it.
func (tr *TrustedRoot) VerifyCheckpoint(signed []byte) (*Checkpoint, error) {
	origin, _, _ := bytes.Cut(signed, []byte("\n"))
	var errs []error
	for _, l := range tr.Tlogs {
		if l.Origin != string(origin) {
			continue
		}
		cp, err := l.VerifyCheckpoint(signed)
		if err == nil {
			return cp, nil
		}
		errs = append(errs, err)
	}
	switch {
	case len(errs) > 0:
		return nil, &Error{Check: CheckCheckpointSignature, Err: errors.Join(errs...)}
	case len(tr.Tlogs) == 0:
		return nil, fail(CheckCheckpointSignature, "the trusted root lists no transparency log")
	case len(tr.Tlogs) == 1:
		return tr.Tlogs[0].VerifyCheckpoint(signed) // names both origins
	}
	origins := make([]string, len(tr.Tlogs))
	for i, l := range tr.Tlogs {
		origins[i] = strconv.Quote(l.Origin)
	}
	return nil, fail(CheckCheckpointSignature, "the checkpoint is signed for origin %q, but the trusted root's logs have origins %s",
		origin, strings.Join(origins, ", "))
}

// VerifyConsistency checks that newer extends older: both are checkpoints
// signed by l, older is no larger than newer, and proof is the RFC 6962
// consistency proof between them. It returns the newer checkpoint.
// Signature errors have Check CheckCheckpointSignature, proof errors
// CheckConsistencyProof.
func VerifyConsistency(l *TransparencyLog, older, newer []byte, proofHashes [][]byte) (*Checkpoint, error) {
	o, err := l.VerifyCheckpoint(older)
	if err != nil {
		return nil, fail(CheckCheckpointSignature, "older checkpoint: %w", errors.Unwrap(err))
	}
	n, err := l.VerifyCheckpoint(newer)
	if err != nil {
		return nil, fail(CheckCheckpointSignature, "newer checkpoint: %w", errors.Unwrap(err))
	}
	if o.Size > n.Size {
		return nil, fail(CheckConsistencyProof, "the older checkpoint (size %d) is larger than the newer (size %d)", o.Size, n.Size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, o.Size, n.Size, proofHashes, o.Hash, n.Hash); err != nil {
		return nil, fail(CheckConsistencyProof, "size %d to %d: %w", o.Size, n.Size, readable(err))
	}
	return n, nil
}

// VerifyCosignatures counts the witnesses (signed-note verifier keys) that
// cosigned the signed checkpoint with a C2SP cosignature/v1 signature and
// returns their names; fewer than threshold is an error with Check
// CheckWitnessCosignatures.
func VerifyCosignatures(signed []byte, threshold int, witnessKeys []string) ([]string, error) {
	ws, err := parseWitnesses(witnessKeys)
	if err != nil {
		return nil, &Error{Check: CheckWitnessCosignatures, Err: err}
	}
	return verifyCosignatures(signed, ws, threshold)
}

// parseWitnesses reads witness verifier keys; Ed25519 keys (type 0x01 or
// 0x04) verify cosignature/v1 signatures.
func parseWitnesses(vkeys []string) ([]witness, error) {
	ws := make([]witness, 0, len(vkeys))
	for i, k := range vkeys {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return nil, fmt.Errorf("witness key %d (%q): want an Ed25519 signed-note verifier key: %w", i, k, err)
		}
		ws = append(ws, witness{name: v.Name(), verifier: v})
	}
	return ws, nil
}

func verifyCosignatures(signed []byte, ws []witness, threshold int) ([]string, error) {
	if len(ws) == 0 {
		return nil, fail(CheckWitnessCosignatures, "%d cosignatures required but no witness keys given", threshold)
	}
	vs := make([]sumdbnote.Verifier, len(ws))
	for i, w := range ws {
		vs[i] = w.verifier
	}
	n, err := sumdbnote.Open(signed, sumdbnote.VerifierList(vs...))
	var unverified *sumdbnote.UnverifiedNoteError
	if err != nil && !errors.As(err, &unverified) {
		return nil, fail(CheckWitnessCosignatures, "%w", err)
	}
	var names []string
	if err == nil {
		for _, w := range ws {
			if cosigned(n.Sigs, w.verifier) {
				names = append(names, w.name)
			}
		}
	}
	if len(names) < threshold {
		return nil, fail(CheckWitnessCosignatures, "%d of the %d witnesses cosigned the checkpoint %v, want at least %d",
			len(names), len(ws), names, threshold)
	}
	return names, nil
}

func cosigned(sigs []sumdbnote.Signature, v sumdbnote.Verifier) bool {
	for _, s := range sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}
