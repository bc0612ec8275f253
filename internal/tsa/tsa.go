// Package tsa is mosaicd's RFC 3161 timestamp authority, wire-compatible with
// sigstore/timestamp-authority so that cosign and sigstore-go can use it.
//
// POST /api/v1/timestamp takes a DER TimeStampReq (application/timestamp-query)
// or the JSON form Sigstore's TSA also accepts, and answers with a granted DER
// TimeStampResp (application/timestamp-reply). GET
// /api/v1/timestamp/certchain serves the TSA's certificate chain as PEM, leaf
// to root, for building trusted_root.json.
//
// Tokens are built and signed by github.com/digitorus/timestamp: the TSTInfo
// carries the configured policy, a random 160-bit serial number, the time
// from Config.Now, an accuracy of one second and the request's nonce; the CMS
// SignedData carries an ESSCertIDv2 for the TSA certificate, and the chain
// when the request asks for certificates. Requests that a verifier could not
// rely on (SHA-1 or unknown digests, a digest of the wrong length, another
// policy, request extensions) are refused with a JSON error from
// internal/httperr rather than a rejection TimeStampResp, as Sigstore's TSA
// does.
//
// New checks the certificate profile verifiers enforce (sigstore's
// pkg/verification): a chain signed link by link up to a self-signed root, a
// leaf that is not a CA, holds the signing key, is valid now, and carries
// exactly one extended key usage, timeStamping, in a critical extension
// (RFC 3161 section 2.3).
package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/digitorus/timestamp"
)

// DefaultMaxRequestBytes is the request body limit when Config leaves it
// zero. A DER request for a SHA-512 digest with a nonce is under 150 bytes.
const DefaultMaxRequestBytes = 16 << 10

// accuracy is the accuracy stated in every token, as Sigstore's TSA states
// it: the clock is trusted to within a second.
const accuracy = time.Second

// oidExtKeyUsage is the X.509 extended key usage extension.
var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// defaultPolicy returns the TSA policy OID Sigstore's TSA issues under,
// 1.3.6.1.4.1.57264.2.
func defaultPolicy() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}
}

// Config is what a TSA needs.
type Config struct {
	// Signer holds the private key of Chain[0].
	Signer crypto.Signer
	// Chain is the TSA certificate first, then any intermediates, then the
	// self-signed root.
	Chain []*x509.Certificate
	// Policy is the TSA policy OID stated in every token and the only one a
	// request may ask for. Default 1.3.6.1.4.1.57264.2, Sigstore's.
	Policy asn1.ObjectIdentifier
	// Now is the TSA's clock. Default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Metrics defaults to a fresh, unregistered set.
	Metrics *Metrics
	// MaxRequestBytes bounds a request body. Zero or less means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
}

// TSA issues RFC 3161 timestamps. Every field is set by New and never changes,
// so a TSA is safe for concurrent use.
type TSA struct {
	signer   crypto.Signer
	chain    []*x509.Certificate
	chainPEM []byte
	policy   asn1.ObjectIdentifier
	// signHash is the digest the CMS signature is made over, matched to the
	// key's strength.
	signHash        crypto.Hash
	now             func() time.Time
	logger          *slog.Logger
	metrics         *Metrics
	maxRequestBytes int64
}

// New returns a TSA for cfg after checking that the chain and key form a
// timestamping identity verifiers accept; each failure names the certificate
// and what is wrong with it.
func New(cfg Config) (*TSA, error) {
	if cfg.Signer == nil {
		return nil, errors.New("TSA signer is nil: load the TSA certificate's private key")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if len(cfg.Policy) == 0 {
		cfg.Policy = defaultPolicy()
	}
	if err := checkChain(cfg.Chain); err != nil {
		return nil, err
	}
	if err := checkLeaf(cfg.Chain[0], cfg.Signer, cfg.Now()); err != nil {
		return nil, err
	}
	signHash, err := signatureHash(cfg.Signer.Public())
	if err != nil {
		return nil, err
	}
	var chainPEM bytes.Buffer
	for _, c := range cfg.Chain {
		_ = pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // writes to memory cannot fail
	}
	return &TSA{
		signer:          cfg.Signer,
		chain:           slices.Clone(cfg.Chain),
		chainPEM:        chainPEM.Bytes(),
		policy:          slices.Clone(cfg.Policy),
		signHash:        signHash,
		now:             cfg.Now,
		logger:          cfg.Logger,
		metrics:         cfg.Metrics,
		maxRequestBytes: cfg.MaxRequestBytes,
	}, nil
}

// CertChain returns the TSA's chain, TSA certificate first and root last. The
// slice is a copy; the certificates are shared and must not be modified.
func (t *TSA) CertChain() []*x509.Certificate {
	return slices.Clone(t.chain)
}

// checkChain checks that chain is non-empty, that each certificate is signed
// by the next, and that the last is a self-signed root.
func checkChain(chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("TSA certificate chain is empty: give the TSA certificate first and its root last")
	}
	for i, c := range chain {
		if c == nil {
			return fmt.Errorf("TSA certificate chain[%d] is nil", i)
		}
	}
	for i := 0; i+1 < len(chain); i++ {
		child, parent := chain[i], chain[i+1]
		if err := child.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("TSA certificate chain[%d] (%q) is not signed by chain[%d] (%q): %w; "+
				"order the chain TSA certificate first, root last",
				i, child.Subject.String(), i+1, parent.Subject.String(), err)
		}
	}
	root := chain[len(chain)-1]
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Errorf("TSA certificate chain ends with %q, which is not a self-signed root: %w; "+
			"append the root certificate", root.Subject.String(), err)
	}
	for i, c := range chain[1:] {
		if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) &&
			!slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return fmt.Errorf("TSA certificate chain[%d] (%q) restricts extended key usage without allowing "+
				"timeStamping, so verifiers will reject the TSA certificate", i+1, c.Subject.String())
		}
	}
	return nil
}

// checkLeaf checks the TSA certificate's profile against the signer and the
// time now.
func checkLeaf(leaf *x509.Certificate, signer crypto.Signer, now time.Time) error {
	name := leaf.Subject.String()
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return fmt.Errorf("TSA certificate %q does not hold the signer's public key: the key file and chain file do not belong together", name)
	}
	if leaf.IsCA {
		return fmt.Errorf("TSA certificate %q is a CA certificate; RFC 3161 requires an end-entity certificate", name)
	}
	if n := len(leaf.ExtKeyUsage) + len(leaf.UnknownExtKeyUsage); n != 1 {
		return fmt.Errorf("TSA certificate %q has %d extended key usages; it must have exactly one, timeStamping (RFC 3161 section 2.3)", name, n)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		return fmt.Errorf("TSA certificate %q has an extended key usage other than timeStamping; it must be timeStamping (RFC 3161 section 2.3)", name)
	}
	critical := false
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			critical = ext.Critical
		}
	}
	if !critical {
		return fmt.Errorf("TSA certificate %q has its extended key usage extension not marked critical; RFC 3161 section 2.3 and Sigstore verifiers require it critical", name)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("TSA certificate %q is not valid now (%s): it is valid from %s to %s",
			name, now.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// signatureHash picks the digest for the CMS signature to match the key.
func signatureHash(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		case elliptic.P521():
			return crypto.SHA512, nil
		}
		return 0, fmt.Errorf("TSA key uses curve %s; use ECDSA P-256, P-384 or P-521", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return 0, fmt.Errorf("TSA RSA key has %d bits; use at least 2048", k.N.BitLen())
		}
		return crypto.SHA256, nil
	}
	return 0, fmt.Errorf("TSA key type %T is not supported; use ECDSA (P-256, P-384, P-521) or RSA", pub)
}

// issue signs a granted response to req, timestamped at now.
func (t *TSA) issue(req *timestamp.Request, now time.Time) ([]byte, error) {
	ts := timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm,
		HashedMessage: req.HashedMessage,
		// GeneralizedTime must be UTC (RFC 5280 4.1.2.5.2); encoding/asn1
		// would keep another zone.
		Time:     now.UTC(),
		Accuracy: accuracy,
		Policy:   t.policy,
		Nonce:    req.Nonce,
		// The library draws the serial number itself: 160 random bits.
		AddTSACertificate: req.Certificates,
		// Intermediates and root, added after the TSA certificate only when
		// AddTSACertificate is set.
		Certificates: t.chain[1:],
	}
	resp, err := ts.CreateResponseWithOpts(t.chain[0], t.signer, t.signHash)
	if err != nil {
		return nil, fmt.Errorf("signing timestamp response: %w", err)
	}
	return resp, nil
}
