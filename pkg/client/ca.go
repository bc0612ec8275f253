package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// maxChainCerts bounds the certificates read from one chain.
const maxChainCerts = 10

// CertificateRequest asks the CA for a short-lived code-signing
// certificate (Fulcio v2 CreateSigningCertificateRequest).
type CertificateRequest struct {
	// IDToken is the OIDC identity token. It is sent as a Bearer token and
	// as credentials.oidcIdentityToken, and never logged.
	IDToken string
	// PublicKey is the key to certify.
	PublicKey crypto.PublicKey
	// ProofOfPossession is PublicKey's signature over the token's challenge
	// claim: its email for email issuers, otherwise its subject.
	ProofOfPossession []byte
}

// fulcio* are the protojson shapes of Fulcio's v2 messages.
type (
	fulcioRequest struct {
		Credentials      *fulcioCredentials `json:"credentials,omitempty"`
		PublicKeyRequest fulcioKeyRequest   `json:"publicKeyRequest"`
	}
	fulcioCredentials struct {
		OIDCIdentityToken string `json:"oidcIdentityToken"`
	}
	fulcioKeyRequest struct {
		PublicKey         fulcioPublicKey `json:"publicKey"`
		ProofOfPossession []byte          `json:"proofOfPossession"`
	}
	fulcioPublicKey struct {
		Algorithm string `json:"algorithm"`
		Content   string `json:"content"`
	}
	fulcioChain struct {
		Certificates []string `json:"certificates"`
	}
	fulcioSigningCert struct {
		Embedded *struct {
			Chain fulcioChain `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
		Detached *struct {
			Chain fulcioChain `json:"chain"`
		} `json:"signedCertificateDetachedSct"`
	}
)

// SigningCert asks the CA for a certificate (POST /api/v2/signingCert) and
// returns the chain, leaf first. The leaf is checked to certify
// req.PublicKey; nothing else about it is verified.
func (c *Client) SigningCert(ctx context.Context, req CertificateRequest) ([]*x509.Certificate, error) {
	body, err := signingCertBody(req)
	if err != nil {
		return nil, err
	}
	const path = "/api/v2/signingCert"
	// A failed connection may have issued a certificate: not repeated.
	resp, err := c.do(ctx, request{method: http.MethodPost, url: path, body: body,
		contentType: contentJSON, accept: contentJSON, bearer: req.IDToken})
	if err != nil {
		return nil, err
	}
	chain, err := parseSigningCert(resp.body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", c.base+path, err)
	}
	if err := cryptoutils.EqualKeys(chain[0].PublicKey, req.PublicKey); err != nil {
		return nil, fmt.Errorf("POST %s: %w: the certificate is for another key", c.base+path, ErrBadResponse)
	}
	return chain, nil
}

func signingCertBody(req CertificateRequest) ([]byte, error) {
	if req.IDToken == "" {
		return nil, errors.New("signing certificate: no identity token")
	}
	if len(req.ProofOfPossession) == 0 {
		return nil, errors.New("signing certificate: no proof of possession")
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: encoding the public key: %w", err)
	}
	return json.Marshal(fulcioRequest{
		Credentials: &fulcioCredentials{OIDCIdentityToken: req.IDToken},
		PublicKeyRequest: fulcioKeyRequest{
			PublicKey:         fulcioPublicKey{Algorithm: keyAlgorithm(req.PublicKey), Content: string(pemKey)},
			ProofOfPossession: req.ProofOfPossession,
		},
	})
}

// keyAlgorithm names a key as Fulcio's PublicKeyAlgorithm enum does.
func keyAlgorithm(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "ED25519"
	case *rsa.PublicKey:
		return "RSA_PSS"
	}
	return "PUBLIC_KEY_ALGORITHM_UNSPECIFIED"
}

// parseSigningCert reads Fulcio's SigningCertificate: the chain of either
// the embedded-SCT or the detached-SCT form.
func parseSigningCert(data []byte) ([]*x509.Certificate, error) {
	var sc fulcioSigningCert
	if err := json.Unmarshal(data, &sc); err != nil {
		return nil, fmt.Errorf("%w: not a SigningCertificate: %v", ErrBadResponse, err)
	}
	var chain fulcioChain
	switch {
	case sc.Embedded != nil:
		chain = sc.Embedded.Chain
	case sc.Detached != nil:
		chain = sc.Detached.Chain
	default:
		return nil, fmt.Errorf("%w: the SigningCertificate has no certificate chain", ErrBadResponse)
	}
	return parseChain(chain.Certificates)
}

// parseChain parses PEM certificates, each string holding one or more.
func parseChain(pems []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range pems {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited([]byte(p), maxChainCerts)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate chain: %v", ErrBadResponse, err)
		}
		out = append(out, certs...)
		if len(out) > maxChainCerts {
			return nil, fmt.Errorf("%w: the certificate chain has more than %d certificates", ErrBadResponse, maxChainCerts)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the certificate chain is empty", ErrBadResponse)
	}
	return out, nil
}

// TrustBundle returns the CA's certificate chains (GET /api/v2/trustBundle),
// each leaf (an intermediate) first.
func (c *Client) TrustBundle(ctx context.Context) ([][]*x509.Certificate, error) {
	var tb struct {
		Chains []fulcioChain `json:"chains"`
	}
	if err := c.getInto(ctx, "/api/v2/trustBundle", &tb); err != nil {
		return nil, err
	}
	var out [][]*x509.Certificate
	for _, ch := range tb.Chains {
		certs, err := parseChain(ch.Certificates)
		if err != nil {
			return nil, fmt.Errorf("trust bundle: %w", err)
		}
		out = append(out, certs)
	}
	return out, nil
}

// OIDCIssuer is one issuer the CA accepts tokens from.
type OIDCIssuer struct {
	IssuerURL         string `json:"issuerUrl"`
	Audience          string `json:"audience,omitempty"`
	ChallengeClaim    string `json:"challengeClaim,omitempty"`
	SPIFFETrustDomain string `json:"spiffeTrustDomain,omitempty"`
	IssuerType        string `json:"issuerType,omitempty"`
}

// CAConfiguration returns the issuers the CA accepts
// (GET /api/v2/configuration).
func (c *Client) CAConfiguration(ctx context.Context) ([]OIDCIssuer, error) {
	var conf struct {
		Issuers []OIDCIssuer `json:"issuers"`
	}
	if err := c.getInto(ctx, "/api/v2/configuration", &conf); err != nil {
		return nil, err
	}
	return conf.Issuers, nil
}
