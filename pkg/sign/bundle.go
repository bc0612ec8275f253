package sign

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleMediaType is the media type of the bundles this package makes.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// verificationMaterial holds the signer's identity: the leaf certificate
// alone (its chain is in the verifier's trusted root), or a public key hint.
func verificationMaterial(pub crypto.PublicKey, cert *x509.Certificate) (*protobundle.VerificationMaterial, error) {
	if cert != nil {
		return &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_Certificate{
			Certificate: &v1.X509Certificate{RawBytes: cert.Raw}}}, nil
	}
	hint, err := KeyHint(pub)
	if err != nil {
		return nil, err
	}
	return &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_PublicKey{
		PublicKey: &v1.PublicKeyIdentifier{Hint: hint}}}, nil
}

// KeyHint is the public key hint put into bundles signed with a key:
// the standard base64 of the SHA-256 of the key's PKIX DER (RFC 6962's key
// ID, as sigstore-go derives it).
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

func timestampData(tsrs [][]byte) *protobundle.TimestampVerificationData {
	tvd := &protobundle.TimestampVerificationData{}
	for _, t := range tsrs {
		tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &v1.RFC3161SignedTimestamp{SignedTimestamp: t})
	}
	return tvd
}

func newBundle(m *protobundle.VerificationMaterial, hash v1.HashAlgorithm, digest, sig []byte) *protobundle.Bundle {
	return &protobundle.Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: m,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &v1.MessageSignature{
			MessageDigest: &v1.HashOutput{Algorithm: hash, Digest: digest},
			Signature:     sig,
		}},
	}
}

// MarshalBundle encodes a bundle as the JSON Sigstore tools read
// (protobuf-JSON, lowerCamelCase field names).
func MarshalBundle(b *protobundle.Bundle) ([]byte, error) {
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding the bundle: %w", err)
	}
	return out, nil
}
