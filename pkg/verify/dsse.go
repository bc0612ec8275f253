package verify

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Envelope is the DSSE envelope of an attestation bundle. Its one
// signature (Bundle.Signature) signs PAE(PayloadType, Payload).
//
// Rekor v2 has no DSSE entry kind: cosign v3 and sigstore-go log an
// envelope as a hashedrekord v0.0.2 entry of its signature over the digest
// of its PAE, the digest made with the signing key's hash (SHA-256 for
// ECDSA P-256 and RSA, SHA-384 for P-384, SHA-512 for P-521 and Ed25519ph).
// Verify requires the log entry to be exactly that.
type Envelope struct {
	PayloadType string
	Payload     []byte
}

// PAE returns the DSSE pre-authentication encoding of the envelope: the
// bytes its signature signs.
func (e *Envelope) PAE() []byte { return dsse.PAE(e.PayloadType, e.Payload) }

// setEnvelope reads a DSSE envelope. A bundle's envelope carries exactly
// one signature, as the Sigstore bundle specification (and sigstore-go)
// require; its key ID, a hint, is ignored.
func (b *Bundle) setEnvelope(env *protodsse.Envelope) error {
	switch {
	case env.GetPayloadType() == "":
		return errors.New("dsseEnvelope.payloadType is empty")
	case len(env.GetPayload()) == 0:
		return errors.New("dsseEnvelope.payload is empty")
	case len(env.GetSignatures()) != 1:
		return fmt.Errorf("dsseEnvelope has %d signatures, want exactly 1", len(env.GetSignatures()))
	case len(env.GetSignatures()[0].GetSig()) == 0:
		return errors.New("dsseEnvelope.signatures[0].sig is empty")
	}
	b.Envelope = &Envelope{PayloadType: env.GetPayloadType(), Payload: env.GetPayload()}
	b.Signature = env.GetSignatures()[0].GetSig()
	return nil
}

// attestation is what verifyAttestation establishes about an envelope.
type attestation struct {
	// logged is the bundle as its log entries must record it: Digest is
	// the digest of the envelope's PAE under the signing key's hash.
	logged    *Bundle
	statement *Statement
	subject   *Subject
	// hash and digest are the artifact's, as its subject names it.
	hash   crypto.Hash
	digest []byte
}

// verifyAttestation checks an attestation bundle's content: the envelope
// signature over the PAE with pub (CheckEnvelopeSignature), the payload
// being an in-toto statement (CheckStatement), the artifact being one of
// its subjects (CheckAttestationSubject), and the predicate type the
// policy asks for (CheckPredicateType).
func verifyAttestation(b *Bundle, pub crypto.PublicKey, a Artifact, p *compiledPolicy) (*attestation, error) {
	logged, err := paeBundle(b, pub)
	if err != nil {
		return nil, &Error{Check: CheckEnvelopeSignature, Err: err}
	}
	pae := ArtifactBytes(b.Envelope.PAE())
	if ed, ok := pub.(ed25519.PublicKey); ok {
		err = checkEd25519(ed, logged, pae)
	} else {
		err = checkDigestSignature(pub, logged)
	}
	if err != nil {
		return nil, fail(CheckEnvelopeSignature, "over the envelope's PAE: %w", err)
	}
	if b.Envelope.PayloadType != InTotoPayloadType {
		return nil, fail(CheckStatement, "the envelope's payload type is %q, want %q", b.Envelope.PayloadType, InTotoPayloadType)
	}
	st, err := ParseStatement(b.Envelope.Payload)
	if err != nil {
		return nil, err
	}
	sub, h, d, err := matchSubject(st, a, p.SubjectName)
	if err != nil {
		return nil, &Error{Check: CheckAttestationSubject, Err: err}
	}
	if p.PredicateType != "" && st.PredicateType != p.PredicateType {
		return nil, fail(CheckPredicateType, "the statement's predicate type is %q, want %q", st.PredicateType, p.PredicateType)
	}
	return &attestation{logged: logged, statement: st, subject: sub, hash: h, digest: d}, nil
}

// paeBundle returns a copy of b whose DigestAlgorithm and Digest are the
// signing key's hash and the envelope's PAE digest under it: what the key
// signed (for all but pure Ed25519) and what the log entry records.
func paeBundle(b *Bundle, pub crypto.PublicKey) (*Bundle, error) {
	kd, err := signature.GetDefaultPublicKeyDetails(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("unsupported signing key: %w", err)
	}
	ad, err := signature.GetAlgorithmDetails(kd)
	if err != nil {
		return nil, fmt.Errorf("unsupported signing key: %w", err)
	}
	h := ad.GetHashType()
	if h == 0 || !h.Available() {
		return nil, fmt.Errorf("the %v signing key has no digest algorithm for a Rekor v2 entry", kd)
	}
	hasher := h.New()
	hasher.Write(b.Envelope.PAE())
	logged := *b
	logged.DigestAlgorithm, logged.Digest = h, hasher.Sum(nil)
	return &logged, nil
}
