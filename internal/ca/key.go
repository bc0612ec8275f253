package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/sigstore/sigstore/pkg/signature"
)

// checkKey accepts the keys Fulcio accepts: ECDSA on P-256, P-384 or P-521,
// RSA with a 2048, 3072 or 4096-bit modulus, and Ed25519. (This is
// cryptoutils.ValidatePubKey's rule, which sigstore has deprecated.)
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA keys must be on P-256, P-384 or P-521, not %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); bits {
		case 2048, 3072, 4096:
			return nil
		default:
			return fmt.Errorf("RSA keys must have 2048, 3072 or 4096 bits, not %d", bits)
		}
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("the %s is not supported; use ECDSA, RSA or Ed25519", pki.KeyName(pub))
}

// verifyProof checks that proof is pub's signature over challenge. It
// accepts the signature Fulcio checks (the key's default Sigstore algorithm:
// ECDSA with the curve's hash, RSA PKCS#1 v1.5 with SHA-256, pure Ed25519),
// which is what sigstore-go's ephemeral keys produce, and for ECDSA keys on
// P-384 and P-521 also SHA-256, which older clients used for every curve.
// pub must have passed checkKey.
func verifyProof(pub crypto.PublicKey, proof []byte, challenge string) error {
	def, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return fmt.Errorf("loading a verifier for the key: %w", err)
	}
	if def.VerifySignature(bytes.NewReader(proof), strings.NewReader(challenge)) == nil {
		return nil
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok && ec.Curve != elliptic.P256() {
		v, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return fmt.Errorf("loading a verifier for the key: %w", err)
		}
		if v.VerifySignature(bytes.NewReader(proof), strings.NewReader(challenge)) == nil {
			return nil
		}
	}
	return errors.New("the proof of possession is not this key's signature over the token's challenge claim")
}
