package mosaictest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/pkg/sign"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// Signer signs artifacts and builds hashedrekord v0.0.2 requests for them.
type Signer struct {
	Key        crypto.Signer
	KeyDetails v1.PublicKeyDetails
	// PublicKeyDER is the PKIX key; CertDER, when set, is a certificate for
	// it and is sent instead of the key.
	PublicKeyDER []byte
	CertDER      []byte
}

// Algorithm names a signer's key type.
type Algorithm string

// Key types tests sign with.
const (
	ECDSAP256 Algorithm = "ecdsa-p256"
	ECDSAP384 Algorithm = "ecdsa-p384"
	ECDSAP521 Algorithm = "ecdsa-p521"
	Ed25519ph Algorithm = "ed25519ph"
	RSA2048   Algorithm = "rsa-2048"
)

// NewSigner returns a signer with a fresh key of type alg.
func NewSigner(t testing.TB, alg Algorithm) *Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECDSAP521:
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519ph:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown algorithm %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signerForKey(t, key)
}

func signerForKey(t testing.TB, key crypto.Signer) *Signer {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	kd, err := signature.GetDefaultPublicKeyDetails(key.Public(), options.WithED25519ph())
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Key: key, KeyDetails: kd, PublicKeyDER: der}
}

// NewCertSigner returns an ECDSA P-256 signer with a short-lived
// self-signed code-signing certificate naming email, shaped like a Fulcio
// certificate. The log does not check chains, only the key.
func NewCertSigner(t testing.TB, email string) *Signer {
	t.Helper()
	s := NewSigner(t, ECDSAP256)
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(time.Now().UnixNano()),
		Subject:        pkix.Name{},
		NotBefore:      time.Now().Add(-time.Minute),
		NotAfter:       time.Now().Add(10 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{email},
		URIs:           []*url.URL{},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Key.Public(), s.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.CertDER = der
	return s
}

// Hash is the digest algorithm the signer's key details call for.
func (s *Signer) Hash() crypto.Hash {
	ad, err := signature.GetAlgorithmDetails(s.KeyDetails)
	if err != nil {
		return crypto.SHA256
	}
	return ad.GetHashType()
}

// Sign returns the digest of artifact and the signature over it.
func (s *Signer) Sign(t testing.TB, artifact []byte) (digest, sig []byte) {
	t.Helper()
	hr := s.RequestProto(t, artifact).GetHashedRekordRequestV002()
	return hr.GetDigest(), hr.GetSignature().GetContent()
}

// RequestProto builds the request for artifact (sign.HashedRekordRequest),
// with the certificate as verifier when the signer has one.
func (s *Signer) RequestProto(t testing.TB, artifact []byte) *pb.CreateEntryRequest {
	t.Helper()
	req, err := sign.HashedRekordRequest(s.Key, s.CertDER, bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Request builds the protobuf-JSON request body for artifact.
func (s *Signer) Request(t testing.TB, artifact []byte) []byte {
	t.Helper()
	b, err := protojson.Marshal(s.RequestProto(t, artifact))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Mutate decodes a request body into a generic JSON tree, lets f change its
// hashedRekordRequestV002 object, and re-encodes it: a bad input that
// differs from a good one in one place.
func Mutate(t testing.TB, body []byte, f func(hr map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	hr, ok := m["hashedRekordRequestV002"].(map[string]any)
	if !ok {
		t.Fatal("body has no hashedRekordRequestV002")
	}
	f(hr)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
