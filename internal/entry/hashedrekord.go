package entry

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/mosaiclog/mosaic/internal/pki"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// Kind and version of hashedrekord entries, as Rekor v2 names them.
const (
	HashedRekordKind    = "hashedrekord"
	HashedRekordVersion = "0.0.2"
)

// hashedRekord validates a hashedrekord v0.0.2 request and returns its leaf.
// Checks run cheapest first; the signature is verified last.
func (d *Decoder) hashedRekord(req *pb.HashedRekordRequestV002) (*Entry, error) {
	if len(req.GetDigest()) == 0 {
		return nil, invalidf("hashedRekordRequestV002.digest is missing")
	}
	sig := req.GetSignature()
	if sig == nil {
		return nil, invalidf("hashedRekordRequestV002.signature is missing")
	}
	if len(sig.GetContent()) == 0 {
		return nil, invalidf("signature.content is missing")
	}
	if n := len(sig.GetContent()); n > d.limits.MaxSignatureBytes {
		return nil, &LimitError{Limit: "max-signature-bytes", Max: d.limits.MaxSignatureBytes, Got: n}
	}
	ver := sig.GetVerifier()
	if ver == nil {
		return nil, invalidf("signature.verifier is missing")
	}
	kd := ver.GetKeyDetails()
	alg, err := d.algorithm(kd)
	if err != nil {
		return nil, err
	}
	pub, err := d.verifierKey(ver)
	if err != nil {
		return nil, err
	}
	if err := d.keyAllowed(pub); err != nil {
		return nil, err
	}
	if err := keyMatches(kd, alg, pub); err != nil {
		return nil, err
	}
	hash := alg.GetHashType()
	if got, want := len(req.GetDigest()), hash.Size(); got != want {
		return nil, invalidf("digest is %d bytes but %s signs a %s digest of %d bytes", got, kd, hash, want)
	}
	if err := verifySignature(pub, hash, req.GetDigest(), sig.GetContent()); err != nil {
		return nil, err
	}
	body, err := canonicalHashedRekord(req.GetDigest(), alg.GetProtoHashType(), sig)
	if err != nil {
		return nil, err
	}
	return &Entry{Kind: HashedRekordKind, Version: HashedRekordVersion, Body: body, Identity: LeafIdentity(body)}, nil
}

// algorithm checks that kd is a known, allowed, digest-signing algorithm.
func (d *Decoder) algorithm(kd v1.PublicKeyDetails) (signature.AlgorithmDetails, error) {
	if kd == v1.PublicKeyDetails_PUBLIC_KEY_DETAILS_UNSPECIFIED {
		return signature.AlgorithmDetails{}, invalidf("signature.verifier.keyDetails is missing (allowed: %s)", d.names)
	}
	alg, err := signature.GetAlgorithmDetails(kd)
	if err != nil || !d.allowed[kd] || alg.GetHashType() == crypto.Hash(0) {
		return signature.AlgorithmDetails{}, invalidf("unsupported signing algorithm %s (allowed: %s)", kd, d.names)
	}
	return alg, nil
}

// verifierKey extracts the public key from a verifier's public key or
// certificate, enforcing size limits before parsing.
func (d *Decoder) verifierKey(ver *pb.Verifier) (crypto.PublicKey, error) {
	switch v := ver.GetVerifier().(type) {
	case *pb.Verifier_PublicKey:
		raw := v.PublicKey.GetRawBytes()
		if len(raw) == 0 {
			return nil, invalidf("signature.verifier.publicKey.rawBytes is missing")
		}
		if len(raw) > d.limits.MaxKeyBytes {
			return nil, &LimitError{Limit: "max-key-bytes", Max: d.limits.MaxKeyBytes, Got: len(raw)}
		}
		pub, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return nil, invalidf("signature.verifier.publicKey.rawBytes is not a PKIX DER public key: %v", err)
		}
		return pub, nil
	case *pb.Verifier_X509Certificate:
		raw := v.X509Certificate.GetRawBytes()
		if len(raw) == 0 {
			return nil, invalidf("signature.verifier.x509Certificate.rawBytes is missing")
		}
		if len(raw) > d.limits.MaxCertificateBytes {
			return nil, &LimitError{Limit: "max-certificate-bytes", Max: d.limits.MaxCertificateBytes, Got: len(raw)}
		}
		cert, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, invalidf("signature.verifier.x509Certificate.rawBytes is not a DER X.509 certificate: %v", err)
		}
		return cert.PublicKey, nil
	default:
		return nil, invalidf("signature.verifier must contain publicKey or x509Certificate")
	}
}

// keyAllowed checks that some allowed algorithm takes pub's key type and
// size, so that a weak key is refused as such, whatever keyDetails says.
func (d *Decoder) keyAllowed(pub crypto.PublicKey) error {
	for kd := range d.allowed {
		alg, err := signature.GetAlgorithmDetails(kd)
		if err == nil && keyFits(alg, pub) {
			return nil
		}
	}
	return invalidf("the submitted %s is not allowed (allowed: %s)", pki.KeyName(pub), d.names)
}

// keyMatches checks that pub is the key type, size or curve kd names.
func keyMatches(kd v1.PublicKeyDetails, alg signature.AlgorithmDetails, pub crypto.PublicKey) error {
	if !keyFits(alg, pub) {
		return invalidf("keyDetails %s does not match the submitted %s", kd, pki.KeyName(pub))
	}
	return nil
}

// keyFits reports whether pub is a key alg signs with. An RSA key's size is
// its modulus's bit length (sigstore's check rounds it up to whole bytes,
// which lets a 2,047-bit key pass as 2,048).
func keyFits(alg signature.AlgorithmDetails, pub crypto.PublicKey) bool {
	switch alg.GetKeyType() {
	case signature.RSA:
		k, ok := pub.(*rsa.PublicKey)
		size, err := alg.GetRSAKeySize()
		return ok && err == nil && k.N != nil && k.N.BitLen() == int(size)
	case signature.ECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		curve, err := alg.GetECDSACurve()
		return ok && err == nil && k.Curve == *curve
	case signature.ED25519:
		_, ok := pub.(ed25519.PublicKey)
		return ok
	}
	return false
}

func verifySignature(pub crypto.PublicKey, hash crypto.Hash, digest, sig []byte) error {
	v, err := signature.LoadVerifierWithOpts(pub, options.WithHash(hash), options.WithED25519ph())
	if err != nil {
		return invalidf("cannot verify with the submitted %s: %v", pki.KeyName(pub), err)
	}
	err = v.VerifySignature(bytes.NewReader(sig), nil, options.WithDigest(digest), options.WithCryptoSignerOpts(hash))
	if err != nil {
		return invalidf("signature does not verify over the digest with the submitted %s", pki.KeyName(pub))
	}
	return nil
}

// canonicalHashedRekord builds the Entry Rekor v2 logs for this request and
// returns its JCS canonical JSON. The signature is logged verbatim.
//
// The Entry has one fixed shape whose strings are base64 and enum names, so
// its canonical form is written directly (appendHashedRekord); anything
// outside that shape goes through protojson and a JCS canonicaliser, the
// reference the direct form is tested against.
func canonicalHashedRekord(digest []byte, hashAlg v1.HashAlgorithm, sig *pb.Signature) ([]byte, error) {
	if out, ok := appendHashedRekord(nil, digest, hashAlg, sig); ok {
		return out, nil
	}
	return canonicalHashedRekordJCS(digest, hashAlg, sig)
}

// canonicalHashedRekordJCS is canonicalHashedRekord through protojson and
// RFC 8785 canonicalisation of its output.
func canonicalHashedRekordJCS(digest []byte, hashAlg v1.HashAlgorithm, sig *pb.Signature) ([]byte, error) {
	e := &pb.Entry{
		Kind:       HashedRekordKind,
		ApiVersion: HashedRekordVersion,
		Spec: &pb.Spec{Spec: &pb.Spec_HashedRekordV002{HashedRekordV002: &pb.HashedRekordLogEntryV002{
			Data:      &v1.HashOutput{Algorithm: hashAlg, Digest: digest},
			Signature: sig,
		}}},
	}
	js, err := protojson.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding entry: %w", err)
	}
	canon, err := jsoncanonicalizer.Transform(js)
	if err != nil {
		return nil, fmt.Errorf("canonicalizing entry: %w", err)
	}
	return canon, nil
}

// appendHashedRekord appends the canonical JSON of the hashedrekord Entry
// to dst, members in JCS order (sorted by name), or reports false when the
// request is outside the shape it writes: every byte field non-empty, both
// enums named, a public key or a certificate. The enum names are plain
// ASCII identifiers and base64 needs no escaping, so no string is escaped.
func appendHashedRekord(dst, digest []byte, hashAlg v1.HashAlgorithm, sig *pb.Signature) ([]byte, bool) {
	algName, ok1 := v1.HashAlgorithm_name[int32(hashAlg)]
	kd := sig.GetVerifier().GetKeyDetails()
	kdName, ok2 := v1.PublicKeyDetails_name[int32(kd)]
	var member string
	var raw []byte
	switch v := sig.GetVerifier().GetVerifier().(type) {
	case *pb.Verifier_PublicKey:
		member, raw = "publicKey", v.PublicKey.GetRawBytes()
	case *pb.Verifier_X509Certificate:
		member, raw = "x509Certificate", v.X509Certificate.GetRawBytes()
	}
	content := sig.GetContent()
	if !ok1 || !ok2 || hashAlg == 0 || kd == 0 || member == "" || len(raw) == 0 || len(digest) == 0 || len(content) == 0 {
		return dst, false
	}
	b64 := base64.StdEncoding
	dst = slices.Grow(dst, 220+b64.EncodedLen(len(digest))+b64.EncodedLen(len(content))+b64.EncodedLen(len(raw)))
	dst = append(dst, `{"apiVersion":"`+HashedRekordVersion+`","kind":"`+HashedRekordKind+`","spec":{"hashedRekordV002":{"data":{"algorithm":"`...)
	dst = append(dst, algName...)
	dst = append(dst, `","digest":"`...)
	dst = b64.AppendEncode(dst, digest)
	dst = append(dst, `"},"signature":{"content":"`...)
	dst = b64.AppendEncode(dst, content)
	dst = append(dst, `","verifier":{"keyDetails":"`...)
	dst = append(dst, kdName...)
	dst = append(dst, `","`...)
	dst = append(dst, member...)
	dst = append(dst, `":{"rawBytes":"`...)
	dst = b64.AppendEncode(dst, raw)
	dst = append(dst, `"}}}}}}`...)
	return dst, true
}
