package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The only entry kind a bundle's log entry may have: Rekor v2's.
const (
	entryKind    = "hashedrekord"
	entryVersion = "0.0.2"
)

// Entry is a verified transparency log entry of a bundle.
type Entry struct {
	// Index is the entry's position in the log.
	Index int64
	// Log is the trusted log that holds it.
	Log *TransparencyLog
	// Checkpoint is the verified checkpoint the inclusion proof leads to.
	Checkpoint *Checkpoint
	// Witnesses are the key names of the policy's witnesses that cosigned
	// the checkpoint (checked only when the policy asks for witnesses).
	Witnesses []string
}

// hashedRekordEntry is the canonicalized body of a hashedrekord v0.0.2
// entry (rekor-tiles' Entry message in protobuf JSON). It is decoded with
// encoding/json, which keeps this package free of rekor-tiles' generated
// gRPC code.
type hashedRekordEntry struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		HashedRekordV002 *struct {
			Data struct {
				Algorithm string `json:"algorithm"`
				Digest    []byte `json:"digest"`
			} `json:"data"`
			Signature struct {
				Content  []byte `json:"content"`
				Verifier struct {
					KeyDetails      string    `json:"keyDetails"`
					PublicKey       *rawBytes `json:"publicKey"`
					X509Certificate *rawBytes `json:"x509Certificate"`
				} `json:"verifier"`
			} `json:"signature"`
		} `json:"hashedRekordV002"`
	} `json:"spec"`
}

type rawBytes struct {
	RawBytes []byte `json:"rawBytes"`
}

// signer is what signed the bundle, as the log entry must record it.
type signer struct {
	// der is the certificate DER (cert true) or the PKIX public key DER.
	der  []byte
	cert bool
}

// verifyEntry checks one log entry of b: its body records this bundle's
// digest, signature and signer; its inclusion proof leads from the body's
// leaf hash to the proof's root; a trusted log signed a checkpoint for that
// root and size, with the key valid at signingTime (when known); and the
// policy's witnesses cosigned it.
func verifyEntry(e *protorekor.TransparencyLogEntry, b *Bundle, s signer, tr *TrustedRoot, p *compiledPolicy, signingTime time.Time) (*Entry, error) {
	if err := checkEntryBody(e, b, s); err != nil {
		return nil, &Error{Check: CheckTlogEntryBody, Err: err}
	}
	ip := e.GetInclusionProof()
	if err := checkInclusion(e); err != nil {
		return nil, &Error{Check: CheckInclusionProof, Err: err}
	}
	l := tr.tlog(e.GetLogId().GetKeyId())
	if l == nil {
		return nil, fail(CheckCheckpointSignature, "the entry names log %s, which the trusted root does not list",
			base64.StdEncoding.EncodeToString(e.GetLogId().GetKeyId()))
	}
	if !signingTime.IsZero() && !l.ValidFor.Contains(signingTime) {
		return nil, fail(CheckCheckpointSignature, "log %s's key is not trusted at the signing time %s", l.BaseURL, signingTime.UTC().Format(time.RFC3339))
	}
	cp, err := l.VerifyCheckpoint([]byte(ip.GetCheckpoint().GetEnvelope()))
	if err != nil {
		return nil, err
	}
	if cp.Size != uint64(ip.GetTreeSize()) || !bytes.Equal(cp.Hash, ip.GetRootHash()) {
		return nil, fail(CheckCheckpointRoot, "the inclusion proof is for size %d root %x, but the checkpoint is for size %d root %x",
			ip.GetTreeSize(), ip.GetRootHash(), cp.Size, cp.Hash)
	}
	entry := &Entry{Index: ip.GetLogIndex(), Log: l, Checkpoint: cp}
	if p.witnesses.Requires() {
		r, err := p.witnesses.Verify(cp.Note)
		if err != nil {
			return nil, err
		}
		for _, w := range r.Cosigned {
			entry.Witnesses = append(entry.Witnesses, w.KeyName)
		}
	}
	return entry, nil
}

// checkEntryBody requires the body to be the hashedrekord v0.0.2 entry of
// exactly this bundle.
func checkEntryBody(e *protorekor.TransparencyLogEntry, b *Bundle, s signer) error {
	if kv := e.GetKindVersion(); kv.GetKind() != entryKind || kv.GetVersion() != entryVersion {
		return fmt.Errorf("the entry is %s v%s, want %s v%s", kv.GetKind(), kv.GetVersion(), entryKind, entryVersion)
	}
	var body hashedRekordEntry
	dec := json.NewDecoder(bytes.NewReader(e.GetCanonicalizedBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return fmt.Errorf("canonicalizedBody is not a hashedrekord v0.0.2 entry: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("canonicalizedBody has data after the entry")
	}
	hr := body.Spec.HashedRekordV002
	switch {
	case body.Kind != entryKind || body.APIVersion != entryVersion || hr == nil:
		return fmt.Errorf("canonicalizedBody is %q v%q, want %s v%s", body.Kind, body.APIVersion, entryKind, entryVersion)
	case hr.Data.Algorithm != hashName(b.DigestAlgorithm) || !bytes.Equal(hr.Data.Digest, b.Digest):
		what := "the bundle's"
		if b.Envelope != nil {
			what = "the digest of the bundle's DSSE envelope (PAE),"
		}
		return fmt.Errorf("the entry logs %s digest %x, not %s %s %x", hr.Data.Algorithm, hr.Data.Digest, what, hashName(b.DigestAlgorithm), b.Digest)
	case !bytes.Equal(hr.Signature.Content, b.Signature):
		return errors.New("the entry logs another signature than the bundle's")
	}
	v := hr.Signature.Verifier
	if s.cert {
		if v.X509Certificate == nil || v.PublicKey != nil || !bytes.Equal(v.X509Certificate.RawBytes, s.der) {
			return errors.New("the entry's verifier is not the bundle's signing certificate")
		}
	} else if v.PublicKey == nil || v.X509Certificate != nil || !bytes.Equal(v.PublicKey.RawBytes, s.der) {
		return errors.New("the entry's verifier is not the policy's public key")
	}
	return nil
}

// checkInclusion verifies the entry's inclusion proof against the proof's
// own root and size; the checkpoint check then ties those to the log.
func checkInclusion(e *protorekor.TransparencyLogEntry) error {
	ip := e.GetInclusionProof()
	if e.GetLogIndex() != ip.GetLogIndex() {
		return fmt.Errorf("logIndex %d differs from inclusionProof.logIndex %d", e.GetLogIndex(), ip.GetLogIndex())
	}
	if ip.GetLogIndex() < 0 || ip.GetTreeSize() <= ip.GetLogIndex() {
		return fmt.Errorf("index %d is not within tree size %d", ip.GetLogIndex(), ip.GetTreeSize())
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(e.GetCanonicalizedBody())
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.GetLogIndex()), uint64(ip.GetTreeSize()), leaf, ip.GetHashes(), ip.GetRootHash()); err != nil {
		return fmt.Errorf("entry %d in tree size %d: %w", ip.GetLogIndex(), ip.GetTreeSize(), readable(err))
	}
	return nil
}

// rootMismatch prints a proof.RootMismatchError in hex, on one line.
type rootMismatch struct{ err proof.RootMismatchError }

func (m rootMismatch) Error() string {
	return fmt.Sprintf("the proof leads to root %x, not %x", m.err.CalculatedRoot, m.err.ExpectedRoot)
}

func (m rootMismatch) Unwrap() error { return m.err }

// readable returns err, with a root mismatch made readable.
func readable(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return rootMismatch{rm}
	}
	return err
}
