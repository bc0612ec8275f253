package entry_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// signedRequest builds a request signed by key with plain crypto (sigstore's
// signers refuse some of these keys), claiming keyDetails kd, sending the
// key or, with asCert, a self-signed certificate for it.
func signedRequest(t *testing.T, key crypto.Signer, kd v1.PublicKeyDetails, asCert bool) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte("weak key artifact"))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	ver := &pb.Verifier{KeyDetails: kd}
	if asCert {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
			EmailAddresses: []string{"weak@example.com"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		ver.Verifier = &pb.Verifier_X509Certificate{X509Certificate: &v1.X509Certificate{RawBytes: der}}
	} else {
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		ver.Verifier = &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: der}}
	}
	body, err := protojson.Marshal(&pb.CreateEntryRequest{Spec: &pb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &pb.HashedRekordRequestV002{Digest: digest[:], Signature: &pb.Signature{Content: sig, Verifier: ver}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != bits {
		t.Fatalf("generated a %d-bit modulus, want %d", k.N.BitLen(), bits)
	}
	return k
}

// TestDecodeWeakKeys: a key no allowed algorithm takes is refused in words
// that name its algorithm and size (never a Go type), and an RSA key's size
// is its modulus's bit length: a 2,047-bit key is not a 2,048-bit one.
func TestDecodeWeakKeys(t *testing.T) {
	d := newDecoder(t)
	rsa2047, rsa1024 := rsaKey(t, 2047), rsaKey(t, 1024)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048 := mosaictest.NewSigner(t, mosaictest.RSA2048)
	const rsaKD = v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256
	for _, tc := range []struct {
		name, want string
		body       []byte
	}{
		{"RSA 2047-bit key", "the submitted RSA 2047-bit key is not allowed (allowed: ", signedRequest(t, rsa2047, rsaKD, false)},
		{"RSA 2047-bit certificate", "the submitted RSA 2047-bit key is not allowed (allowed: ", signedRequest(t, rsa2047, rsaKD, true)},
		{"RSA 1024-bit key", "the submitted RSA 1024-bit key is not allowed (allowed: ecdsa-sha2-256-nistp256", signedRequest(t, rsa1024, rsaKD, false)},
		{"RSA 1024-bit certificate", "the submitted RSA 1024-bit key is not allowed", signedRequest(t, rsa1024, rsaKD, true)},
		{"ECDSA P-224 key", "the submitted ECDSA P-224 key is not allowed", signedRequest(t, p224, v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, false)},
		{"RSA 2048 called 3072", "keyDetails PKIX_RSA_PKCS1V15_3072_SHA256 does not match the submitted RSA 2048-bit key",
			mutate(t, rsa2048, func(hr map[string]any) { verOf(hr)["keyDetails"] = "PKIX_RSA_PKCS1V15_3072_SHA256" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := d.Decode(tc.body)
			if err == nil {
				t.Fatalf("Decode accepted it: %s", e.Body)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "*") || strings.Contains(err.Error(), "PublicKey key") {
				t.Errorf("error %q names a Go type", err)
			}
		})
	}
}
