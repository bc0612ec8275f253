package sign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/pkg/sign"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Every key type the log accepts, with its public key and with a
// certificate as verifier, builds a request the log's own entry decoder
// accepts (it verifies the signature over the digest).
func TestHashedRekordRequest(t *testing.T) {
	dec, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	artifact := []byte("an artifact")
	for _, tc := range []struct {
		name    string
		key     func() (crypto.Signer, error)
		details v1.PublicKeyDetails
	}{
		{"ecdsa-p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }, v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256},
		{"ecdsa-p384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }, v1.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
		{"ecdsa-p521", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }, v1.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512},
		{"ed25519ph", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }, v1.PublicKeyDetails_PKIX_ED25519_PH},
		{"rsa-2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }, v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256},
		{"rsa-3072", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) }, v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := tc.key()
			if err != nil {
				t.Fatal(err)
			}
			for _, cert := range [][]byte{nil, selfSigned(t, key)} {
				req, err := sign.HashedRekordRequest(key, cert, bytes.NewReader(artifact))
				if err != nil {
					t.Fatal(err)
				}
				hr := req.GetHashedRekordRequestV002()
				ver := hr.GetSignature().GetVerifier()
				if ver.GetKeyDetails() != tc.details {
					t.Errorf("key details %s, want %s", ver.GetKeyDetails(), tc.details)
				}
				if got := ver.GetX509Certificate().GetRawBytes(); !bytes.Equal(got, cert) {
					t.Errorf("certificate verifier %x, want %x", got, cert)
				}
				if cert == nil {
					der, _ := x509.MarshalPKIXPublicKey(key.Public())
					if !bytes.Equal(ver.GetPublicKey().GetRawBytes(), der) {
						t.Error("the verifier is not the key's PKIX DER")
					}
				}
				body, err := protojson.Marshal(req)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dec.Decode(body); err != nil {
					t.Errorf("the log refuses the request (certificate %v): %v", cert != nil, err)
				}
			}
		})
	}
}

func TestHashedRekordRequestRefuses(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := sign.HashedRekordRequest(key, nil, iotest.ErrReader(errors.New("disk gone"))); err == nil ||
		!strings.Contains(err.Error(), "disk gone") {
		t.Errorf("unreadable artifact: %v", err)
	}
	weak, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if _, err := sign.HashedRekordRequest(weak, nil, strings.NewReader("x")); err == nil {
		t.Error("a P-224 key signed a request")
	}
}

// selfSigned returns a minimal code-signing certificate for key.
func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{"signer@example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
