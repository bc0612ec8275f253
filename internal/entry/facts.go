package entry

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
)

// Facts are what searches and monitors match a logged entry by. They are
// read from the leaf alone, so an index built from them can always be
// rebuilt from the log.
type Facts struct {
	Kind, Version string
	// Digest is the artifact digest as "<alg>:<hex>" with alg sha256,
	// sha384 or sha512 (the algorithms hashedrekord allows; see
	// DigestString for the others).
	Digest string
	// KeyFingerprint is "sha256:<hex>" of the verifier's public key as
	// PKIX (SubjectPublicKeyInfo) DER; for a certificate, of its key.
	KeyFingerprint string
	// Certificate is the verifier certificate, nil for a public key.
	Certificate *x509.Certificate
	// CertFingerprint is "sha256:<hex>" of the certificate DER, if any.
	CertFingerprint string
	// SANs are the certificate's subject alternative names: email
	// addresses, URIs and Fulcio's otherName username, as strings.
	SANs []string
	// Issuer is the OIDC issuer Fulcio-style CAs record in the
	// certificate (1.3.6.1.4.1.57264.1.8, or the older .1.1).
	Issuer string
}

var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// Describe reads the facts of a logged leaf (a canonicalized Rekor v2
// Entry). A leaf this package did not write, or of an unknown kind, is an
// error; a certificate that does not parse leaves the certificate facts
// empty but still yields the digest and signature facts.
func Describe(leaf []byte) (*Facts, error) {
	var e pb.Entry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(leaf, &e); err != nil {
		return nil, fmt.Errorf("leaf is not a Rekor v2 entry: %s", cleanProtoErr(err))
	}
	hr := e.GetSpec().GetHashedRekordV002()
	if e.GetKind() != HashedRekordKind || hr == nil {
		return nil, fmt.Errorf("leaf kind %q is not supported", e.GetKind())
	}
	f := &Facts{Kind: e.GetKind(), Version: e.GetApiVersion()}
	if d := hr.GetData(); d != nil {
		f.Digest = DigestString(d.GetAlgorithm(), d.GetDigest())
	}
	ver := hr.GetSignature().GetVerifier()
	switch {
	case ver.GetPublicKey() != nil:
		f.KeyFingerprint = Fingerprint(ver.GetPublicKey().GetRawBytes())
	case ver.GetX509Certificate() != nil:
		der := ver.GetX509Certificate().GetRawBytes()
		f.CertFingerprint = Fingerprint(der)
		if cert, err := x509.ParseCertificate(der); err == nil {
			f.Certificate = cert
			f.KeyFingerprint = Fingerprint(cert.RawSubjectPublicKeyInfo)
			f.SANs = CertificateSANs(cert)
			f.Issuer = CertificateIssuer(cert)
		}
	}
	return f, nil
}

// Fingerprint is "sha256:<hex>" of der.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DigestString names a digest as "<alg>:<hex>", e.g. "sha256:ab12...":
// sha256, sha384, sha512, sha3-256, sha3-384, or for another value of alg
// its enum name in lower case.
func DigestString(alg v1.HashAlgorithm, digest []byte) string {
	name, ok := digestNames[alg]
	if !ok {
		name = strings.ToLower(alg.String())
	}
	return name + ":" + hex.EncodeToString(digest)
}

var digestNames = map[v1.HashAlgorithm]string{
	v1.HashAlgorithm_SHA2_256: "sha256",
	v1.HashAlgorithm_SHA2_384: "sha384",
	v1.HashAlgorithm_SHA2_512: "sha512",
	v1.HashAlgorithm_SHA3_256: "sha3-256",
	v1.HashAlgorithm_SHA3_384: "sha3-384",
}

// CertificateSANs lists cert's email, URI and Fulcio otherName
// (username) subject alternative names.
func CertificateSANs(cert *x509.Certificate) []string {
	var sans []string
	sans = append(sans, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	sans = append(sans, otherNameSANs(cert)...)
	return sans
}

// CertificateIssuer is the OIDC issuer a Fulcio-style CA recorded in cert,
// or "".
func CertificateIssuer(cert *x509.Certificate) string {
	var v1Issuer string
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidIssuerV2):
			var s string
			if _, err := asn1.Unmarshal(ext.Value, &s); err == nil {
				return s
			}
		case ext.Id.Equal(oidIssuerV1):
			v1Issuer = string(ext.Value)
		}
	}
	return v1Issuer
}

// otherNameSANs is Fulcio's otherName SAN (OID 1.3.6.1.4.1.57264.1.7),
// which crypto/x509 does not surface.
func otherNameSANs(cert *x509.Certificate) []string {
	name, err := cryptoutils.UnmarshalOtherNameSAN(cert.Extensions)
	if err != nil || name == "" {
		return nil
	}
	return []string{name}
}
