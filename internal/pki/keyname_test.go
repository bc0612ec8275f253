package pki_test

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // a key type refusals must name
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/pki"
)

func TestKeyName(t *testing.T) {
	ec := func(c elliptic.Curve) crypto.PublicKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k.Public()
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	// A 2,047-bit modulus: Size() is 256 bytes, which *8 would call 2048.
	n2047 := new(big.Int).Lsh(big.NewInt(1), 2046)
	n2047.Add(n2047, big.NewInt(1))
	for _, tc := range []struct {
		pub  crypto.PublicKey
		want string
	}{
		{&rsa.PublicKey{N: n2047, E: 65537}, "RSA 2047-bit key"},
		{&rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 1023), E: 65537}, "RSA 1024-bit key"},
		{ec(elliptic.P224()), "ECDSA P-224 key"},
		{ec(elliptic.P256()), "ECDSA P-256 key"},
		{edPub, "Ed25519 key"},
		{x.PublicKey(), "X25519 key (a key-agreement key, not a signing key)"},
		{&dsa.PublicKey{Parameters: dsa.Parameters{P: new(big.Int).Lsh(big.NewInt(1), 1023)}}, "DSA 1024-bit key"},
		{nil, "missing key"},
		{"not a key", "key of an unsupported type"},
	} {
		got := pki.KeyName(tc.pub)
		if got != tc.want {
			t.Errorf("KeyName(%T) = %q, want %q", tc.pub, got, tc.want)
		}
		if strings.Contains(got, "*") || strings.Contains(got, ".") {
			t.Errorf("KeyName(%T) = %q names a Go type", tc.pub, got)
		}
	}
}
