// Package ca is mosaicd's certificate authority: it serves the Fulcio v2 HTTP
// surface (/api/v2/signingCert, /api/v2/trustBundle, /api/v2/configuration)
// so that cosign v3 and sigstore-go get short-lived code-signing certificates
// from it unmodified.
//
// A request carries an OIDC identity token and a public key with a proof of
// possession (a signature over the token's challenge claim, or a CSR). The CA
// verifies the token with an oidc.Verifier, checks the key and the proof, and
// issues a certificate with Fulcio's profile: empty subject, one critical SAN
// naming the identity, digitalSignature, codeSigning, and the OIDC issuer and
// token subject in Sigstore's 1.3.6.1.4.1.57264.1.x extensions.
//
// Durability contract. With a certificate log configured (Config.CT), the CA
// first signs a precertificate (RFC 6962 section 3.1) and appends it to the
// log; CertLog.AppendPrecertificate returns only once the precertificate is
// durably logged. Only then does the CA sign an SCT for it and issue the final
// certificate with that SCT embedded. If the append fails, nothing is issued
// and the client gets 503: an SCT in a Mosaic certificate always stands for a
// precertificate that is in the log. A precertificate may be logged without a
// certificate following it (the CA failed after the append); that is harmless
// and what RFC 6962 allows.
package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/mosaiclog/mosaic/internal/outage"
	"log/slog"
	"time"

	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Defaults for the zero values of Config.
const (
	DefaultValidity        = 10 * time.Minute
	DefaultMaxRequestBytes = 64 << 10
)

// Config is what New needs. Signer, Chain and Verifier are required.
type Config struct {
	// Signer is the issuing CA's private key; it must match Chain[0].
	Signer crypto.Signer
	// Chain is the issuing CA certificate first, then any intermediates,
	// then the self-signed root. Each certificate must be signed by the
	// next one.
	Chain []*x509.Certificate
	// Verifier checks identity tokens.
	Verifier oidc.Verifier
	// Issuers are described by /api/v2/configuration.
	Issuers []IssuerInfo
	// Validity is the lifetime of issued certificates (default 10m). It must
	// be a whole number of seconds, as X.509 times have no finer precision.
	Validity time.Duration
	// CT, when set, makes the CA log a precertificate for every certificate
	// and embed an SCT. Without it certificates carry no SCT, and cosign
	// needs --insecure-ignore-sct to verify them.
	CT *CTConfig
	// MaxRequestBytes bounds a signingCert request body (default 64 KiB).
	MaxRequestBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives issuance and internal-error records (default: none).
	Logger *slog.Logger
	// Metrics are the CA's collectors (default: fresh, unregistered ones).
	Metrics *Metrics
}

// IssuerInfo describes one accepted OIDC issuer, as Fulcio's
// /api/v2/configuration lists it.
type IssuerInfo struct {
	IssuerURL string
	// Audience is the client ID tokens must carry (usually "sigstore").
	Audience string
	// ChallengeClaim is the claim the proof of possession signs: "email"
	// for email issuers, otherwise "sub".
	ChallengeClaim string
	// Type is the issuer type in Fulcio's terms ("email", "uri", "spiffe",
	// "username", ...).
	Type              string
	SPIFFETrustDomain string
}

// CTConfig is the certificate log the CA writes precertificates to and
// whose key signs the embedded SCTs.
type CTConfig struct {
	// Signer is the log's ECDSA P-256 key. Its SPKI's SHA-256 is the log ID
	// clients look up in trusted_root.json's ctlogs.
	Signer crypto.Signer
	// Log stores precertificates.
	Log CertLog
}

// CertLog is a log of precertificates.
type CertLog interface {
	// AppendPrecertificate adds a DER precertificate to the log and returns
	// its index once it is durably stored. An error means it may not be
	// stored, and the CA then issues nothing.
	AppendPrecertificate(ctx context.Context, der []byte) (index uint64, err error)
}

// CA issues Fulcio-compatible code-signing certificates. It is safe for
// concurrent use; all fields are set by New and read-only afterwards.
type CA struct {
	signer   crypto.Signer
	chain    []*x509.Certificate
	chainPEM []string // PEM of chain, same order
	verifier oidc.Verifier
	issuers  []IssuerInfo
	validity time.Duration
	ct       *ctLog // nil without a certificate log
	maxBody  int64
	now      func() time.Time
	logger   *slog.Logger
	// failures logs deferred requests (503) with repeats collapsed: while
	// the certificate log's store is down every request fails alike. A
	// failure of the CA itself (500) is always logged, on logger.
	failures *slog.Logger
	metrics  *Metrics
}

// New checks cfg and returns a CA. It refuses a chain whose links do not
// verify, a signer that does not match Chain[0], an issuing certificate that
// is not a CA allowed to sign certificates or cannot issue code-signing
// certificates now, and a certificate log key that is not ECDSA P-256.
func New(cfg Config) (*CA, error) {
	if cfg.Signer == nil || len(cfg.Chain) == 0 || cfg.Verifier == nil {
		return nil, errors.New("the CA needs a signer, a certificate chain and a token verifier")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := checkChain(cfg.Chain, cfg.Signer, cfg.Now()); err != nil {
		return nil, err
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.Validity < time.Second || cfg.Validity%time.Second != 0 {
		return nil, fmt.Errorf("certificate validity %v must be a positive whole number of seconds", cfg.Validity)
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxRequestBytes < 0 {
		return nil, fmt.Errorf("request size limit %d must be positive", cfg.MaxRequestBytes)
	}
	for i, is := range cfg.Issuers {
		if is.IssuerURL == "" {
			return nil, fmt.Errorf("issuer %d has no URL", i)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	ca := &CA{
		signer:   cfg.Signer,
		chain:    cfg.Chain,
		verifier: cfg.Verifier,
		issuers:  cfg.Issuers,
		validity: cfg.Validity,
		maxBody:  cfg.MaxRequestBytes,
		now:      cfg.Now,
		logger:   cfg.Logger,
		failures: slog.New(outage.Collapse(cfg.Logger.Handler(), outage.DefaultQuiet)),
		metrics:  cfg.Metrics,
	}
	for _, c := range cfg.Chain {
		pem, err := cryptoutils.MarshalCertificateToPEM(c)
		if err != nil {
			return nil, fmt.Errorf("encoding the CA chain: %w", err)
		}
		ca.chainPEM = append(ca.chainPEM, string(pem))
	}
	if cfg.CT != nil {
		ct, err := newCTLog(cfg.CT, cfg.Chain[0])
		if err != nil {
			return nil, err
		}
		ca.ct = ct
	}
	return ca, nil
}

// checkChain checks that chain is ordered and signed link by link up to a
// self-signed root, that signer holds Chain[0]'s key, and that Chain[0] may
// issue code-signing certificates at now.
func checkChain(chain []*x509.Certificate, signer crypto.Signer, now time.Time) error {
	for i, c := range chain {
		parent := c // the last certificate must be self-signed
		if i+1 < len(chain) {
			parent = chain[i+1]
		}
		if err := c.CheckSignatureFrom(parent); err != nil {
			if parent == c {
				return fmt.Errorf("the last certificate of the CA chain (%s) is not a self-signed root: %w", c.Subject, err)
			}
			return fmt.Errorf("CA chain certificate %d (%s) is not signed by certificate %d (%s): %w",
				i, c.Subject, i+1, parent.Subject, err)
		}
	}
	issuing := chain[0]
	if !issuing.BasicConstraintsValid || !issuing.IsCA || issuing.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("the issuing certificate (%s) must be a CA certificate with the certSign key usage", issuing.Subject)
	}
	if err := cryptoutils.EqualKeys(issuing.PublicKey, signer.Public()); err != nil {
		return fmt.Errorf("the CA key does not match the issuing certificate (%s): %w", issuing.Subject, err)
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	for _, c := range chain[1:max(1, len(chain)-1)] {
		intermediates.AddCert(c)
	}
	// An issuing CA with a leaf's usage of its own: verify it as if it were
	// a code-signing leaf, which also checks validity times and EKU nesting.
	_, err := issuing.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	if err != nil {
		return fmt.Errorf("the CA chain cannot issue code-signing certificates now: %w", err)
	}
	return nil
}

// ctLog signs SCTs for precertificates it has appended to a CertLog.
type ctLog struct {
	signer crypto.Signer
	logID  [sha256.Size]byte // SHA-256 of the log key's DER SubjectPublicKeyInfo
	log    CertLog
	issuer *ctx509.Certificate // the issuing CA, parsed for precertificate leaves
}

func newCTLog(cfg *CTConfig, issuing *x509.Certificate) (*ctLog, error) {
	if cfg.Signer == nil || cfg.Log == nil {
		return nil, errors.New("the certificate log needs a signer and a log")
	}
	pub, ok := cfg.Signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("the certificate log key must be ECDSA P-256 (the configured key: %s)", pki.KeyName(cfg.Signer.Public()))
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the certificate log key: %w", err)
	}
	issuer, err := ctx509.ParseCertificate(issuing.Raw)
	if ctx509.IsFatal(err) {
		return nil, fmt.Errorf("parsing the issuing certificate for SCTs: %w", err)
	}
	return &ctLog{signer: cfg.Signer, logID: sha256.Sum256(der), log: cfg.Log, issuer: issuer}, nil
}
