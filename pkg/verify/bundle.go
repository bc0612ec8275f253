package verify

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Bundle media types ParseBundle accepts. Versions 0.1 and 0.2 carry the
// signing certificate as a chain; 0.3 as a single certificate.
const (
	BundleMediaType01       = "application/vnd.dev.sigstore.bundle+json;version=0.1"
	BundleMediaType02       = "application/vnd.dev.sigstore.bundle+json;version=0.2"
	BundleMediaType03       = "application/vnd.dev.sigstore.bundle.v0.3+json"
	BundleMediaType03Legacy = "application/vnd.dev.sigstore.bundle+json;version=0.3"
)

// Bundle is a parsed Sigstore bundle: a message signature over an
// artifact's digest, or a DSSE envelope (an attestation: an in-toto
// statement about the artifact). Parsing checks structure only: Verify
// checks everything else.
type Bundle struct {
	MediaType string
	// Certificate is the signing certificate of a keyless bundle, nil for a
	// bundle signed with a key (named by PublicKeyHint).
	Certificate   *x509.Certificate
	PublicKeyHint string
	// Digest is the artifact's digest under DigestAlgorithm, and Signature
	// the signature over it. For an attestation, Envelope is set, Signature
	// is the envelope's signature and the digest is unset (the artifact's
	// digest is in the signed statement).
	DigestAlgorithm crypto.Hash
	Digest          []byte
	Signature       []byte
	Envelope        *Envelope
	// Entries are the transparency log entries, at least one.
	Entries []*protorekor.TransparencyLogEntry
	// Timestamps are the RFC 3161 timestamp responses (DER), if any.
	Timestamps [][]byte
}

// ParseBundle decodes a bundle strictly (protobuf JSON, no unknown
// fields, a known media type) and checks that it has what verification
// needs. Its errors have Check CheckBundle.
func ParseBundle(data []byte) (*Bundle, error) {
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(data, &pb); err != nil {
		return nil, fail(CheckBundle, "not a Sigstore bundle (protobuf-JSON Bundle): %w", err)
	}
	b := &Bundle{MediaType: pb.GetMediaType()}
	v3 := false
	switch b.MediaType {
	case BundleMediaType01, BundleMediaType02:
	case BundleMediaType03, BundleMediaType03Legacy:
		v3 = true
	default:
		return nil, fail(CheckBundle, "unknown media type %q (want %q)", b.MediaType, BundleMediaType03)
	}
	vm := pb.GetVerificationMaterial()
	if vm == nil {
		return nil, fail(CheckBundle, "no verification material")
	}
	if err := b.setKeyMaterial(vm, v3); err != nil {
		return nil, &Error{Check: CheckBundle, Err: err}
	}
	if err := b.setContent(&pb); err != nil {
		return nil, &Error{Check: CheckBundle, Err: err}
	}
	if err := b.setEntries(vm.GetTlogEntries()); err != nil {
		return nil, &Error{Check: CheckBundle, Err: err}
	}
	for i, ts := range vm.GetTimestampVerificationData().GetRfc3161Timestamps() {
		if len(ts.GetSignedTimestamp()) == 0 {
			return nil, fail(CheckBundle, "timestampVerificationData.rfc3161Timestamps[%d] is empty", i)
		}
		b.Timestamps = append(b.Timestamps, ts.GetSignedTimestamp())
	}
	return b, nil
}

// setKeyMaterial reads the certificate or public key hint.
func (b *Bundle) setKeyMaterial(vm *protobundle.VerificationMaterial, v3 bool) error {
	var der []byte
	switch c := vm.GetContent().(type) {
	case *protobundle.VerificationMaterial_PublicKey:
		b.PublicKeyHint = c.PublicKey.GetHint()
		return nil
	case *protobundle.VerificationMaterial_Certificate:
		if !v3 {
			return fmt.Errorf("media type %q carries a certificate chain, not a single certificate", b.MediaType)
		}
		der = c.Certificate.GetRawBytes()
	case *protobundle.VerificationMaterial_X509CertificateChain:
		if v3 {
			return fmt.Errorf("media type %q must carry a single certificate, not a certificate chain", b.MediaType)
		}
		certs := c.X509CertificateChain.GetCertificates()
		if len(certs) == 0 {
			return errors.New("verificationMaterial.x509CertificateChain has no certificates")
		}
		der = certs[0].GetRawBytes()
	default:
		return errors.New("verification material has no certificate or public key")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("signing certificate: %w", err)
	}
	b.Certificate = cert
	return nil
}

// setContent reads the message signature or the DSSE envelope.
func (b *Bundle) setContent(pb *protobundle.Bundle) error {
	if env := pb.GetDsseEnvelope(); env != nil {
		return b.setEnvelope(env)
	}
	ms := pb.GetMessageSignature()
	if ms == nil {
		return errors.New("no messageSignature or dsseEnvelope")
	}
	if len(ms.GetSignature()) == 0 {
		return errors.New("messageSignature.signature is empty")
	}
	md := ms.GetMessageDigest()
	if md == nil {
		return errors.New("messageSignature.messageDigest is missing")
	}
	h, err := hashFor(md.GetAlgorithm())
	if err != nil {
		return fmt.Errorf("messageSignature.messageDigest: %w", err)
	}
	if len(md.GetDigest()) != h.Size() {
		return fmt.Errorf("messageSignature.messageDigest is %d bytes, want %d for %v", len(md.GetDigest()), h.Size(), md.GetAlgorithm())
	}
	b.DigestAlgorithm, b.Digest, b.Signature = h, md.GetDigest(), ms.GetSignature()
	return nil
}

// setEntries checks that every log entry has what Verify needs: a body, an
// inclusion proof and a checkpoint.
func (b *Bundle) setEntries(entries []*protorekor.TransparencyLogEntry) error {
	if len(entries) == 0 {
		return errors.New("no transparency log entries")
	}
	for i, e := range entries {
		switch {
		case len(e.GetCanonicalizedBody()) == 0:
			return fmt.Errorf("tlogEntries[%d] has no canonicalizedBody", i)
		case len(e.GetLogId().GetKeyId()) == 0:
			return fmt.Errorf("tlogEntries[%d] has no logId", i)
		case e.GetInclusionProof() == nil:
			return fmt.Errorf("tlogEntries[%d] has no inclusion proof", i)
		case e.GetInclusionProof().GetCheckpoint().GetEnvelope() == "":
			return fmt.Errorf("tlogEntries[%d] has no checkpoint", i)
		}
	}
	b.Entries = entries
	return nil
}

// hashFor maps a protobuf-specs hash algorithm to crypto.Hash.
func hashFor(alg protocommon.HashAlgorithm) (crypto.Hash, error) {
	switch alg {
	case protocommon.HashAlgorithm_SHA2_256:
		return crypto.SHA256, nil
	case protocommon.HashAlgorithm_SHA2_384:
		return crypto.SHA384, nil
	case protocommon.HashAlgorithm_SHA2_512:
		return crypto.SHA512, nil
	default:
		return 0, fmt.Errorf("unsupported digest algorithm %v (want SHA2_256, SHA2_384 or SHA2_512)", alg)
	}
}

// hashName is the name the Rekor v2 entry uses for h.
func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return protocommon.HashAlgorithm_SHA2_256.String()
	case crypto.SHA384:
		return protocommon.HashAlgorithm_SHA2_384.String()
	case crypto.SHA512:
		return protocommon.HashAlgorithm_SHA2_512.String()
	}
	return h.String()
}
