package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KeyAlgorithm names the type of the ephemeral key of keyless signing.
type KeyAlgorithm string

// The ephemeral key types. ECDSA P-256 is the default, as in sigstore-go;
// Ed25519 keys sign artifacts with Ed25519ph (SHA-512), the variant Rekor v2
// accepts for hashedrekord.
const (
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	Ed25519   KeyAlgorithm = "ed25519"
)

// checkAlgorithm accepts the known key algorithms ("" is the default).
func checkAlgorithm(alg KeyAlgorithm) error {
	switch alg {
	case "", ECDSAP256, Ed25519:
		return nil
	}
	return fmt.Errorf("unknown key algorithm %q (want %q or %q)", alg, ECDSAP256, Ed25519)
}

// generateKey returns a fresh in-memory key of alg.
func generateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	if err := checkAlgorithm(alg); err != nil {
		return nil, err
	}
	if alg == Ed25519 {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// zeroKey overwrites what of key's secret the Go types expose. (The
// standard library may keep internal copies it gives no way to clear.)
func zeroKey(key crypto.Signer) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.D != nil {
			clear(k.D.Bits())
			k.D.SetInt64(0)
		}
	case ed25519.PrivateKey:
		clear(k)
	}
}

// LoadPrivateKey decodes a PEM private key: PKCS#8 ("PRIVATE KEY", ECDSA,
// Ed25519 or RSA), SEC 1 ("EC PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY"),
// or their encrypted forms when password is given.
func LoadPrivateKey(pemBytes, password []byte) (crypto.Signer, error) {
	var pf cryptoutils.PassFunc
	if password != nil {
		pf = func(bool) ([]byte, error) { return password, nil }
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pemBytes, pf)
	if err != nil {
		return nil, fmt.Errorf("reading the private key: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T private key cannot sign", priv)
	}
	if _, _, err := algorithmFor(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// algorithmFor returns the Sigstore algorithm a key signs artifacts with:
// its default one, with Ed25519 keys using Ed25519ph.
func algorithmFor(pub crypto.PublicKey) (v1.PublicKeyDetails, signature.AlgorithmDetails, error) {
	kd, err := signature.GetDefaultPublicKeyDetails(pub, options.WithED25519ph())
	if err != nil {
		return 0, signature.AlgorithmDetails{}, fmt.Errorf("unsupported signing key: %w", err)
	}
	ad, err := signature.GetAlgorithmDetails(kd)
	if err != nil {
		return 0, signature.AlgorithmDetails{}, fmt.Errorf("unsupported signing key: %w", err)
	}
	return kd, ad, nil
}

// signDigest signs a digest made with hash as the algorithm requires:
// ECDSA (ASN.1) and RSA PKCS#1 v1.5 over the digest, Ed25519ph over the
// SHA-512 digest.
func signDigest(key crypto.Signer, hash crypto.Hash, digest []byte) ([]byte, error) {
	var opts crypto.SignerOpts = hash
	switch key.Public().(type) {
	case ed25519.PublicKey:
		opts = &ed25519.Options{Hash: crypto.SHA512}
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported key type %T", key.Public())
	}
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return sig, nil
}

// proofOfPossession signs the token's challenge with the key's default
// Sigstore algorithm (ECDSA with the curve's hash, pure Ed25519), which is
// what Fulcio and Mosaic's CA verify.
func proofOfPossession(key crypto.Signer, challenge string) ([]byte, error) {
	if challenge == "" {
		return nil, errors.New("the identity token has no challenge claim (email or sub) to sign")
	}
	s, err := signature.LoadDefaultSigner(key)
	if err != nil {
		return nil, fmt.Errorf("proof of possession: %w", err)
	}
	sig, err := s.SignMessage(strings.NewReader(challenge))
	if err != nil {
		return nil, fmt.Errorf("proof of possession: %w", err)
	}
	return sig, nil
}
