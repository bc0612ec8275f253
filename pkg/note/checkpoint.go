package note

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// CheckpointError is a checkpoint that does not verify: it names another
// origin (Err is then an *OriginError), no signature by the log's key
// verifies, or its body is malformed. A log that serves one is
// misconfigured or misbehaving, or the caller has the wrong origin or key;
// retrying does not help.
type CheckpointError struct {
	// Origin is the origin the caller asked for.
	Origin string
	// Raw is the checkpoint as given.
	Raw []byte
	Err error
}

// Error names the log and why its checkpoint does not verify. An origin
// mismatch names both origins and nothing else.
func (e *CheckpointError) Error() string {
	var oe *OriginError
	if errors.As(e.Err, &oe) {
		return oe.Error()
	}
	return fmt.Sprintf("the checkpoint of log %q does not verify: %v", e.Origin, e.Err)
}

// Unwrap returns the reason.
func (e *CheckpointError) Unwrap() error { return e.Err }

// OriginError is a checkpoint whose origin line names another log than the
// one asked for. The signature is not checked: a signed note binds the key
// to the origin, so no key of the log asked for can verify it.
type OriginError struct {
	// Got is the checkpoint's origin, Want the one asked for.
	Got, Want string
}

// Error names both origins.
func (e *OriginError) Error() string {
	return fmt.Sprintf("the checkpoint is signed for origin %q, you asked for %q", e.Got, e.Want)
}

// VerifyCheckpoint returns the checkpoint raw holds once it has checked
// that raw is a C2SP checkpoint of the log named origin, signed by v (which
// must be that log's verifier: see NewVerifier and LogVerifier), with a
// 32-byte root hash. Other signatures (witness cosignatures) are ignored.
// Every error is a *CheckpointError; one whose origin line differs from
// origin wraps an *OriginError.
func VerifyCheckpoint(raw []byte, origin string, v sumdbnote.Verifier) (*log.Checkpoint, error) {
	fail := func(err error) (*log.Checkpoint, error) {
		return nil, &CheckpointError{Origin: origin, Raw: raw, Err: err}
	}
	if v == nil {
		return fail(errors.New("no verifier for the log's key"))
	}
	// The origin line first: with another origin, opening the note would
	// only say that no signature verifies.
	if claimed, err := ParseCheckpoint(raw); err == nil && claimed.Origin != origin {
		return fail(&OriginError{Got: claimed.Origin, Want: origin})
	}
	cp, _, _, err := log.ParseCheckpoint(raw, origin, v)
	if err != nil {
		return fail(err)
	}
	if len(cp.Hash) != sha256.Size {
		return fail(fmt.Errorf("the root hash is %d bytes, want %d", len(cp.Hash), sha256.Size))
	}
	return cp, nil
}

// ParseCheckpoint reads a checkpoint's origin, size and root hash WITHOUT
// verifying any signature: it tells a caller which log a checkpoint claims
// to be from, so that it can pick that log's key for VerifyCheckpoint.
func ParseCheckpoint(raw []byte) (*log.Checkpoint, error) {
	i := bytes.Index(raw, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("the checkpoint is not a signed note (no blank line before signatures)")
	}
	cp := &log.Checkpoint{}
	if _, err := cp.Unmarshal(raw[:i+1]); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return cp, nil
}

// LogVerifier builds the checkpoint verifier of a log from a signed-note
// verifier key string (vkey, "<name>+<hash>+<key>") or, when vkey is empty,
// from the log's origin and its PEM public key (Ed25519 or ECDSA, with the
// key-hash rules of NewVerifier). It returns the origin checkpoints must
// carry: origin if given, else the vkey's name.
func LogVerifier(vkey, origin string, publicKeyPEM []byte) (sumdbnote.Verifier, string, error) {
	switch {
	case vkey != "" && len(publicKeyPEM) > 0:
		return nil, "", errors.New("give the log's verifier key string or its public key, not both")
	case vkey != "":
		v, err := sumdbnote.NewVerifier(vkey)
		if err != nil {
			return nil, "", fmt.Errorf("parsing verifier key %q: %w", vkey, err)
		}
		if origin == "" {
			origin = v.Name()
		}
		return v, origin, nil
	case len(publicKeyPEM) > 0:
		if err := ValidOrigin(origin); err != nil {
			return nil, "", fmt.Errorf("a public key needs the log's origin: %w", err)
		}
		pub, err := ParsePublicKey(publicKeyPEM)
		if err != nil {
			return nil, "", err
		}
		v, err := NewVerifier(origin, pub)
		if err != nil {
			return nil, "", err
		}
		return v, origin, nil
	default:
		return nil, "", errors.New("no log verifier: give a verifier key string, or an origin and a public key")
	}
}
