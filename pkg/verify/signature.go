package verify

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// checkArtifact compares the bundle's digest with the artifact's.
func checkArtifact(b *Bundle, a Artifact) error {
	if !a.set {
		return fail(CheckArtifactDigest, "no artifact given (want its bytes or its digest)")
	}
	d, err := a.digestFor(b.DigestAlgorithm)
	if err != nil {
		return &Error{Check: CheckArtifactDigest, Err: err}
	}
	if !bytes.Equal(d, b.Digest) {
		return fail(CheckArtifactDigest, "the bundle signs %v digest %x, but the artifact's is %x", b.DigestAlgorithm, b.Digest, d)
	}
	return nil
}

// checkSignature verifies the bundle's signature with pub. ECDSA and RSA
// (PKCS#1 v1.5) signatures are over the digest, with the digest's hash. An
// Ed25519 key may have signed the artifact itself (pure Ed25519, checkable
// only with the artifact's bytes) or its SHA-512 digest (Ed25519ph, the
// form Rekor v2 logs); either is accepted.
func checkSignature(pub crypto.PublicKey, b *Bundle, a Artifact) error {
	var err error
	if ed, ok := pub.(ed25519.PublicKey); ok {
		err = checkEd25519(ed, b, a)
	} else {
		err = checkDigestSignature(pub, b)
	}
	if err != nil {
		return &Error{Check: CheckSignature, Err: err}
	}
	return nil
}

func checkDigestSignature(pub crypto.PublicKey, b *Bundle) error {
	v, err := signature.LoadVerifierWithOpts(pub, options.WithHash(b.DigestAlgorithm))
	if err != nil {
		return fmt.Errorf("loading a verifier for the %T key: %w", pub, err)
	}
	if err := v.VerifySignature(bytes.NewReader(b.Signature), nil, options.WithDigest(b.Digest)); err != nil {
		return fmt.Errorf("the signature does not verify with the signing key: %w", err)
	}
	return nil
}

func checkEd25519(pub ed25519.PublicKey, b *Bundle, a Artifact) error {
	if a.data != nil {
		v, err := signature.LoadED25519Verifier(pub)
		if err != nil {
			return err
		}
		if v.VerifySignature(bytes.NewReader(b.Signature), bytes.NewReader(a.data)) == nil {
			return nil
		}
	}
	if b.DigestAlgorithm == crypto.SHA512 {
		v, err := signature.LoadED25519phVerifier(pub)
		if err != nil {
			return err
		}
		if v.VerifySignature(bytes.NewReader(b.Signature), nil, options.WithDigest(b.Digest)) == nil {
			return nil
		}
	}
	if a.data == nil && b.DigestAlgorithm != crypto.SHA512 {
		return errors.New("an Ed25519 signature over a non-SHA-512 digest can only be checked with the artifact's bytes")
	}
	return errors.New("the signature does not verify with the Ed25519 signing key (as Ed25519 or Ed25519ph)")
}
