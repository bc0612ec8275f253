package entry

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"

	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/signature"
)

// FuzzLeafIdentity: no leaf makes LeafIdentity panic; it is always 32
// bytes; it differs from SHA-256 of the leaf only for a hashedrekord leaf
// with a high-S ECDSA signature, and then equals SHA-256 of the leaf with
// the low-S signature, whose own identity is the same (normalising twice
// changes nothing).
func FuzzLeafIdentity(f *testing.F) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		for _, high := range []bool{false, true} {
			f.Add(seedLeaf(f, curve, high))
		}
	}
	f.Add([]byte(`{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":"AA=="},"signature":{"content":"MAYCAQECAQE=","verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256"`))
	f.Add([]byte("leaf 1"))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		id := LeafIdentity(leaf)
		if len(id) != sha256.Size {
			t.Fatalf("identity of %d bytes", len(id))
		}
		plain := sha256.Sum256(leaf)
		if bytes.Equal(id, plain[:]) {
			return
		}
		start, end, curve, ok := ecdsaSignature(leaf)
		if !ok {
			t.Fatalf("identity is not SHA-256 of a leaf without an ECDSA signature: %q", leaf)
		}
		low, ok := lowS(leaf[start:end], curve)
		if !ok {
			t.Fatalf("identity is not SHA-256 of a leaf whose signature is not high S: %q", leaf)
		}
		normal := append(append(append([]byte(nil), leaf[:start]...), low...), leaf[end:]...)
		if want := sha256.Sum256(normal); !bytes.Equal(id, want[:]) {
			t.Fatalf("identity is not SHA-256 of the low-S leaf %q", normal)
		}
		if again := LeafIdentity(normal); !bytes.Equal(again, id) {
			t.Fatalf("the low-S leaf's identity %x differs from %x", again, id)
		}
	})
}

// seedLeaf is a canonical hashedrekord leaf signed on curve with a high-S
// or low-S signature.
func seedLeaf(f *testing.F, curve elliptic.Curve, high bool) []byte {
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	kd, err := signature.GetDefaultPublicKeyDetails(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	alg, err := signature.GetAlgorithmDetails(kd)
	if err != nil {
		f.Fatal(err)
	}
	h := alg.GetHashType().New()
	h.Write([]byte("seed"))
	digest := h.Sum(nil)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	half := new(big.Int).Rsh(curve.Params().N, 1)
	for {
		sig, err := key.Sign(rand.Reader, digest, crypto.Hash(0))
		if err != nil {
			f.Fatal(err)
		}
		var rs ecdsaSig
		if _, err := asn1.Unmarshal(sig, &rs); err != nil {
			f.Fatal(err)
		}
		if (rs.S.Cmp(half) > 0) != high {
			continue
		}
		leaf, err := canonicalHashedRekord(digest, alg.GetProtoHashType(), &pb.Signature{Content: sig,
			Verifier: &pb.Verifier{KeyDetails: kd, Verifier: &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: der}}}})
		if err != nil {
			f.Fatal(err)
		}
		if plain := sha256.Sum256(leaf); bytes.Equal(LeafIdentity(leaf), plain[:]) == high {
			f.Fatalf("seed (high S: %v) has identity %x, SHA-256 %x", high, LeafIdentity(leaf), plain)
		}
		return leaf
	}
}
