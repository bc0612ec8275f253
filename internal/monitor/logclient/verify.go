package logclient

import (
	"errors"
	"fmt"

	mnote "github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Verifier builds the checkpoint verifier of a log, from a signed-note
// verifier key string (vkey, "<name>+<hash>+<key>") or, when vkey is empty,
// from the log's origin and its PEM public key (Ed25519 or ECDSA, with the
// key-hash rules of pkg/note). It returns the origin checkpoints must
// carry: origin if given, else the vkey's name.
func Verifier(vkey, origin string, publicKeyPEM []byte) (note.Verifier, string, error) {
	switch {
	case vkey != "" && len(publicKeyPEM) > 0:
		return nil, "", errors.New("give the log's verifier key string or its public key, not both")
	case vkey != "":
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, "", fmt.Errorf("parsing verifier key %q: %w", vkey, err)
		}
		if origin == "" {
			origin = v.Name()
		}
		return v, origin, nil
	case len(publicKeyPEM) > 0:
		if err := mnote.ValidOrigin(origin); err != nil {
			return nil, "", fmt.Errorf("a public key needs the log's origin: %w", err)
		}
		pub, err := mnote.ParsePublicKey(publicKeyPEM)
		if err != nil {
			return nil, "", err
		}
		v, err := mnote.NewVerifier(origin, pub)
		if err != nil {
			return nil, "", err
		}
		return v, origin, nil
	default:
		return nil, "", errors.New("no log verifier: give a verifier key string, or an origin and a public key")
	}
}

// CheckpointError is a checkpoint that does not open: no valid signature
// by the log's key, another origin, or a malformed body. A log that
// serves one is misconfigured or misbehaving; retrying does not help.
type CheckpointError struct {
	Origin string
	// Raw is the checkpoint as served.
	Raw []byte
	Err error
}

// Error names the log and why its checkpoint does not open.
func (e *CheckpointError) Error() string {
	return fmt.Sprintf("checkpoint of log %q does not verify: %v", e.Origin, e.Err)
}

// Unwrap returns the verification error.
func (e *CheckpointError) Unwrap() error { return e.Err }

// OpenCheckpoint verifies raw's signature by v, and that it names origin
// and carries a SHA-256 root hash.
func OpenCheckpoint(raw []byte, origin string, v note.Verifier) (*log.Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint(raw, origin, v)
	if err != nil {
		return nil, &CheckpointError{Origin: origin, Raw: raw, Err: err}
	}
	if len(cp.Hash) != 32 {
		return nil, &CheckpointError{Origin: origin, Raw: raw, Err: fmt.Errorf("root hash is %d bytes, want 32", len(cp.Hash))}
	}
	return cp, nil
}
