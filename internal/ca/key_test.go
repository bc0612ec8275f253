package ca

import (
	"crypto"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

// TestKeyRefusalsNameTheKey: a refused key is named by its algorithm and
// size in words, never by its Go type, and an RSA key's size is its
// modulus's bit length.
func TestKeyRefusalsNameTheKey(t *testing.T) {
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2047, err := rsa.GenerateKey(rand.Reader, 2047)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"X25519", x.PublicKey(), "the X25519 key (a key-agreement key, not a signing key) is not supported; use ECDSA, RSA or Ed25519"},
		{"RSA 2047", rsa2047.Public(), "RSA keys must have 2048, 3072 or 4096 bits, not 2047"},
		{"P-224", newECKey(t, elliptic.P224()).Public(), "ECDSA keys must be on P-256, P-384 or P-521, not P-224"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkKey(tc.pub)
			if err == nil || err.Error() != tc.want {
				t.Errorf("checkKey: %v, want %q", err, tc.want)
			}
		})
	}
	p := newTestPKI(t)
	_, err = newCTLog(&CTConfig{Signer: newECKey(t, elliptic.P384()), Log: &fakeCertLog{}}, p.issuing)
	if err == nil || !strings.Contains(err.Error(), "must be ECDSA P-256 (the configured key: ECDSA P-384 key)") {
		t.Errorf("newCTLog with a P-384 key: %v", err)
	}
}
