package pki

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // named in refusals, never used
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
)

// KeyName names a public key's algorithm and size in words, for messages:
// "RSA 2048-bit key", "ECDSA P-256 key", "Ed25519 key". RSA sizes are the
// modulus's bit length, so a 2,047-bit key is never called 2,048-bit.
func KeyName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil {
			return "RSA key without a modulus"
		}
		return fmt.Sprintf("RSA %d-bit key", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k.Curve == nil || k.Curve.Params() == nil || k.Curve.Params().Name == "" {
			return "ECDSA key on an unnamed curve"
		}
		return "ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "Ed25519 key"
	case *ecdh.PublicKey:
		return fmt.Sprintf("%s key (a key-agreement key, not a signing key)", k.Curve())
	case *dsa.PublicKey:
		if k.P == nil {
			return "DSA key"
		}
		return fmt.Sprintf("DSA %d-bit key", k.P.BitLen())
	case nil:
		return "missing key"
	default:
		return "key of an unsupported type"
	}
}
