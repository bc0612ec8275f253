// Package note signs and verifies Mosaic checkpoints (C2SP signed notes) and
// derives the identifiers clients use to find a log's key.
//
// A log is named by its origin (the hostname of its public base URL, as
// sigstore-go derives it from a trusted root) and its public key. From those
// two this package derives, exactly as Rekor v2 and sigstore-go do:
//   - the note key hash (the 4-byte ID in each signature line);
//   - the log ID (the 32-byte logId.keyId in TransparencyLogEntry and in
//     trusted_root.json): SHA-256(origin || "\n" || 0x01 || key) for Ed25519,
//     SHA-256(PKIX DER) for ECDSA;
//   - for Ed25519, the standard verifier key string (vkey) that Tessera's
//     tools and witnesses take.
//
// The note format and key-hash rules come from golang.org/x/mod/sumdb/note
// and sigstore/rekor-tiles/pkg/note; this package only adds key handling.
package note

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/sigstore/pkg/signature"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Algorithm names a checkpoint signing key type.
type Algorithm string

// The checkpoint signing algorithms Mosaic supports. Ed25519 is the default:
// C2SP-public logs, witnesses and Tessera's tools require it.
const (
	Ed25519   Algorithm = "ed25519"
	ECDSAP256 Algorithm = "ecdsa-p256"
)

// GenerateKey returns a new private key for alg.
func GenerateKey(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case Ed25519, "":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unknown key algorithm %q (want %q or %q)", alg, Ed25519, ECDSAP256)
	}
}

// MarshalPrivateKey encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PKCS#8 PEM private key written by
// MarshalPrivateKey (or openssl genpkey). Only Ed25519 and ECDSA P-256 keys
// are accepted.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found (want a PKCS#8 \"PRIVATE KEY\")")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block is %q, want a PKCS#8 \"PRIVATE KEY\"", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKCS#8 private key: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on curve %s; only P-256 is supported", k.Curve.Params().Name)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T (want Ed25519 or ECDSA P-256)", key)
	}
}

// MarshalPublicKey encodes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey decodes a PKIX "PUBLIC KEY" PEM block.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PKIX \"PUBLIC KEY\" PEM block found")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	return pub, nil
}

// NewSigner returns a checkpoint signer for the log named origin. The
// signature line's key hash follows the Rekor v2 rules (see package doc).
func NewSigner(ctx context.Context, origin string, key crypto.Signer) (sumdbnote.Signer, error) {
	sv, err := signerFor(key)
	if err != nil {
		return nil, err
	}
	s, err := rekornote.NewNoteSigner(ctx, origin, sv)
	if err != nil {
		return nil, fmt.Errorf("creating checkpoint signer for origin %q: %w", origin, err)
	}
	return s, nil
}

// NewVerifier returns a checkpoint verifier for the log named origin.
func NewVerifier(origin string, pub crypto.PublicKey) (sumdbnote.Verifier, error) {
	v, err := verifierFor(pub)
	if err != nil {
		return nil, err
	}
	nv, err := rekornote.NewNoteVerifier(origin, v)
	if err != nil {
		return nil, fmt.Errorf("creating checkpoint verifier for origin %q: %w", origin, err)
	}
	return nv, nil
}

// LogID returns the 32-byte log ID (logId.keyId) of the log named origin
// whose checkpoints pub verifies.
func LogID(origin string, pub crypto.PublicKey) ([]byte, error) {
	_, id, err := rekornote.KeyHash(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("deriving log ID: %w", err)
	}
	return id, nil
}

// VerifierKey returns the signed-note verifier key string
// (name+hash+base64 key) for an Ed25519 log key. Signed notes define no
// verifier key string for ECDSA keys; for those it returns an error.
func VerifierKey(origin string, pub crypto.PublicKey) (string, error) {
	edPub, ok := pub.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("signed notes define verifier key strings only for Ed25519 keys, not %T", pub)
	}
	return sumdbnote.NewEd25519VerifierKey(origin, edPub)
}

// OriginFromURL returns the checkpoint origin sigstore-go expects for a log
// served at baseURL: the URL's hostname, with no scheme, port or path.
func OriginFromURL(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("parsing log URL %q: %w", baseURL, err)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("log URL %q has no host (want e.g. https://log.example.com)", baseURL)
	}
	return u.Hostname(), nil
}

// ValidOrigin reports whether origin can name a log in a signed note: non
// empty, no white space, no '+'.
func ValidOrigin(origin string) error {
	if origin == "" || strings.ContainsAny(origin, " \t\r\n+") {
		return fmt.Errorf("invalid checkpoint origin %q: must be non-empty with no spaces or '+'", origin)
	}
	return nil
}

func signerFor(key crypto.Signer) (signature.Signer, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return signature.LoadED25519Signer(k)
	case *ecdsa.PrivateKey:
		return signature.LoadECDSASigner(k, crypto.SHA256)
	default:
		return nil, fmt.Errorf("unsupported checkpoint signing key type %T", key)
	}
}

func verifierFor(pub crypto.PublicKey) (signature.Verifier, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return signature.LoadED25519Verifier(k)
	case *ecdsa.PublicKey:
		return signature.LoadECDSAVerifier(k, crypto.SHA256)
	default:
		return nil, fmt.Errorf("unsupported checkpoint key type %T", pub)
	}
}
