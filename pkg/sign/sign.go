// Package sign signs artifacts the Sigstore way against Mosaic (or any
// Fulcio-compatible CA, Rekor v2 log and RFC 3161 TSA) and returns a
// Sigstore bundle (protobuf-specs Bundle v0.3).
//
// Keyless signing, step by step (Signer.SignKeyless):
//  1. The identity token's claims are read, without verification, and
//     checked: the audience must include "sigstore" and the token must not
//     have expired (ParseToken), so a bad token is refused with a reason
//     before anything is sent.
//  2. A fresh key is generated in memory (ECDSA P-256 by default, or
//     Ed25519); it is never written anywhere.
//  3. The key signs the token's challenge (its email claim, else its
//     subject) as proof of possession, and the CA certifies the key for the
//     token's identity (POST /api/v2/signingCert).
//  4. The key signs the artifact's digest (SHA-256 for P-256; Ed25519 keys
//     use Ed25519ph over SHA-512, as Rekor v2 requires).
//  5. Each TSA timestamps the signature bytes (RFC 3161, SHA-256).
//  6. Each log gets a hashedrekord v0.0.2 entry with the certificate as
//     verifier (HashedRekordRequest) and returns the entry with its
//     inclusion proof.
//  7. What of the key's secret can be zeroed is zeroed, and the bundle is
//     assembled: the leaf certificate only, the log entries, the
//     timestamps, and the message signature.
//
// Signing with a key the caller holds (Signer.SignWithKey) runs steps 4 to
// 7 with the public key as verifier and a key hint in the bundle.
//
// The package does not verify what the services return beyond sanity
// checks (the certificate certifies the key, the timestamp covers the
// signature); verify bundles with pkg/verify.
package sign

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// Config names the services a Signer uses and how it talks to them.
type Config struct {
	// CAURL is the Fulcio-compatible CA's base URL; keyless signing needs it.
	CAURL string
	// LogURLs are the Rekor v2 logs' base URLs; each logs the signature.
	// At least one is needed.
	LogURLs []string
	// TSAURLs are RFC 3161 endpoints (full URLs, as signing_config.json
	// names them); each timestamps the signature. Optional, but verifiers
	// of keyless Rekor v2 bundles need a timestamp.
	TSAURLs []string
	// OIDCURL is the signing config's OIDC provider, for the caller's
	// information (where to get a token); the Signer does not use it.
	OIDCURL string
	// KeyAlgorithm is the ephemeral key type (default ECDSAP256).
	KeyAlgorithm KeyAlgorithm
	// ClientOptions apply to every service client (timeouts, retries,
	// logger, user agent).
	ClientOptions []client.Option
	// Now is the clock the token is checked against (default time.Now).
	Now func() time.Time
}

// Signer signs with a fixed set of services. It is safe for concurrent use.
type Signer struct {
	ca   *client.Client // nil without a CA
	logs []*client.Client
	tsas []*client.Client
	alg  KeyAlgorithm
	now  func() time.Time
}

// New returns a Signer for cfg.
func New(cfg Config) (*Signer, error) {
	if len(cfg.LogURLs) == 0 {
		return nil, errors.New("no transparency log configured: set a log URL or use a signing config")
	}
	if err := checkAlgorithm(cfg.KeyAlgorithm); err != nil {
		return nil, err
	}
	s := &Signer{alg: cfg.KeyAlgorithm, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if cfg.CAURL != "" {
		if s.ca, err = client.New(cfg.CAURL, cfg.ClientOptions...); err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
	}
	for _, u := range cfg.LogURLs {
		c, err := client.New(u, cfg.ClientOptions...)
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		s.logs = append(s.logs, c)
	}
	for _, u := range cfg.TSAURLs {
		c, err := client.New(u, append(cfg.ClientOptions, client.WithTimestampURL(u))...)
		if err != nil {
			return nil, fmt.Errorf("TSA: %w", err)
		}
		s.tsas = append(s.tsas, c)
	}
	return s, nil
}

// SignKeyless signs artifact with a fresh key certified by the CA for the
// identity in token (a raw JWT; see ResolveToken) and returns the bundle.
// The key never leaves memory and is zeroed, as far as Go allows, on
// return.
func (s *Signer) SignKeyless(ctx context.Context, token string, artifact io.Reader) (*protobundle.Bundle, error) {
	key, cert, err := s.certify(ctx, token)
	if err != nil {
		return nil, err
	}
	defer zeroKey(key)
	return s.sign(ctx, key, cert, artifact)
}

// certify generates a fresh key and gets the CA to certify it for the
// identity in token; the caller zeroes the key.
func (s *Signer) certify(ctx context.Context, token string) (crypto.Signer, *x509.Certificate, error) {
	if s.ca == nil {
		return nil, nil, errors.New("keyless signing needs a CA: set a CA URL or use a signing config that lists one")
	}
	tok, err := ParseToken(token, s.now())
	if err != nil {
		return nil, nil, err
	}
	key, err := generateKey(s.alg)
	if err != nil {
		return nil, nil, err
	}
	pop, err := proofOfPossession(key, tok.Challenge())
	if err != nil {
		zeroKey(key)
		return nil, nil, err
	}
	chain, err := s.ca.SigningCert(ctx, client.CertificateRequest{IDToken: tok.Raw, PublicKey: key.Public(), ProofOfPossession: pop})
	if err != nil {
		zeroKey(key)
		return nil, nil, fmt.Errorf("getting a signing certificate: %w", err)
	}
	return key, chain[0], nil
}

// SignWithKey signs artifact with key, which the caller keeps (it is not
// zeroed), and returns the bundle; the logs record the public key and the
// bundle carries a hint naming it (base64 of the SHA-256 of its PKIX DER).
func (s *Signer) SignWithKey(ctx context.Context, key crypto.Signer, artifact io.Reader) (*protobundle.Bundle, error) {
	if key == nil {
		return nil, errors.New("no signing key")
	}
	return s.sign(ctx, key, nil, artifact)
}

// sign runs the steps shared by both modes; cert is nil for key signing.
func (s *Signer) sign(ctx context.Context, key crypto.Signer, cert *x509.Certificate, artifact io.Reader) (*protobundle.Bundle, error) {
	_, ad, err := algorithmFor(key.Public())
	if err != nil {
		return nil, err
	}
	var certDER []byte
	if cert != nil {
		certDER = cert.Raw
	}
	req, err := HashedRekordRequest(key, certDER, artifact)
	if err != nil {
		return nil, err
	}
	material, err := s.record(ctx, key.Public(), cert, req)
	if err != nil {
		return nil, err
	}
	hr := req.GetHashedRekordRequestV002()
	return newBundle(material, ad.GetProtoHashType(), hr.GetDigest(), hr.GetSignature().GetContent()), nil
}

// record timestamps the signature of req with every TSA, logs req in
// every log, and returns the bundle's verification material.
func (s *Signer) record(ctx context.Context, pub crypto.PublicKey, cert *x509.Certificate, req *pb.CreateEntryRequest) (*protobundle.VerificationMaterial, error) {
	sig := req.GetHashedRekordRequestV002().GetSignature().GetContent()
	var timestamps [][]byte
	for _, tsa := range s.tsas {
		tsr, _, err := tsa.TimestampData(ctx, sig)
		if err != nil {
			return nil, fmt.Errorf("timestamping the signature: %w", err)
		}
		timestamps = append(timestamps, tsr)
	}
	var entries []*rekorpb.TransparencyLogEntry
	for _, l := range s.logs {
		added, err := l.AddEntry(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("logging the signature: %w", err)
		}
		entries = append(entries, added.Entry)
	}
	material, err := verificationMaterial(pub, cert)
	if err != nil {
		return nil, err
	}
	material.TlogEntries = entries
	material.TimestampVerificationData = timestampData(timestamps)
	return material, nil
}
