package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mosaiclog/mosaic/pkg/verify"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
)

// Subject is an artifact an in-toto statement is about.
type Subject struct {
	Name string
	// Digest maps a digest algorithm ("sha256") to the hex digest.
	Digest map[string]string
}

// ArtifactSubject reads artifact and returns it as a subject named name,
// by its SHA-256 digest (as cosign attest-blob names a blob: by its base
// name and SHA-256).
func ArtifactSubject(name string, artifact io.Reader) (Subject, error) {
	h := sha256.New()
	if _, err := io.Copy(h, artifact); err != nil {
		return Subject{}, fmt.Errorf("reading the artifact: %w", err)
	}
	return Subject{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}}, nil
}

// NewStatement returns an in-toto Statement v1 (JSON) saying predicate,
// of type predicateType, about subjects. The predicate must be a JSON
// object; the statement is checked as verify.ParseStatement reads it.
func NewStatement(predicateType string, predicate []byte, subjects ...Subject) ([]byte, error) {
	type subject struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	st := struct {
		Type          string          `json:"_type"`
		Subject       []subject       `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}{Type: verify.StatementTypeV1, PredicateType: predicateType, Predicate: bytes.TrimSpace(predicate)}
	if !json.Valid(st.Predicate) || len(st.Predicate) == 0 || st.Predicate[0] != '{' {
		return nil, errors.New("the predicate is not a JSON object")
	}
	for _, s := range subjects {
		st.Subject = append(st.Subject, subject(s))
	}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding the statement: %w", err)
	}
	if _, err := verify.ParseStatement(out); err != nil {
		return nil, err
	}
	return out, nil
}

// AttestKeyless signs an in-toto statement (see NewStatement) as a DSSE
// envelope with a fresh key certified for the identity in token, as
// SignKeyless signs an artifact, and returns the bundle.
//
// The envelope is logged as cosign v3 and sigstore-go log one in a Rekor
// v2 log (which has no DSSE entry kind): a hashedrekord v0.0.2 entry of the
// envelope's signature over the digest of its PAE. The TSAs timestamp the
// envelope's signature.
func (s *Signer) AttestKeyless(ctx context.Context, token string, statement []byte) (*protobundle.Bundle, error) {
	if err := checkAttestable(s.alg); err != nil {
		return nil, err
	}
	if _, err := verify.ParseStatement(statement); err != nil {
		return nil, err
	}
	key, cert, err := s.certify(ctx, token)
	if err != nil {
		return nil, err
	}
	defer zeroKey(key)
	return s.attest(ctx, key, cert, statement)
}

// AttestWithKey signs an in-toto statement as a DSSE envelope with key,
// which the caller keeps, as SignWithKey signs an artifact.
func (s *Signer) AttestWithKey(ctx context.Context, key crypto.Signer, statement []byte) (*protobundle.Bundle, error) {
	if key == nil {
		return nil, errors.New("no signing key")
	}
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		return nil, checkAttestable(Ed25519)
	}
	if _, err := verify.ParseStatement(statement); err != nil {
		return nil, err
	}
	return s.attest(ctx, key, nil, statement)
}

// checkAttestable refuses Ed25519: DSSE verifiers (sigstore-go, cosign)
// check a pure Ed25519 signature over the PAE, while a Rekor v2 log accepts
// only Ed25519ph over its digest, so no one signature satisfies both.
func checkAttestable(alg KeyAlgorithm) error {
	if alg == Ed25519 {
		return errors.New("Ed25519 keys cannot sign attestations for a Rekor v2 log: DSSE verifiers check pure " +
			"Ed25519 over the envelope while the log accepts only Ed25519ph; use an ECDSA or RSA key")
	}
	return nil
}

// attest signs the statement's PAE, records the signature and returns the
// bundle with the envelope.
func (s *Signer) attest(ctx context.Context, key crypto.Signer, cert *x509.Certificate, statement []byte) (*protobundle.Bundle, error) {
	var certDER []byte
	if cert != nil {
		certDER = cert.Raw
	}
	req, err := HashedRekordRequest(key, certDER, bytes.NewReader(dsse.PAE(verify.InTotoPayloadType, statement)))
	if err != nil {
		return nil, err
	}
	material, err := s.record(ctx, key.Public(), cert, req)
	if err != nil {
		return nil, err
	}
	return &protobundle.Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: material,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     statement,
			PayloadType: verify.InTotoPayloadType,
			Signatures:  []*protodsse.Signature{{Sig: req.GetHashedRekordRequestV002().GetSignature().GetContent()}},
		}},
	}, nil
}
