// Package oidc verifies OIDC identity tokens for Mosaic's certificate
// authority and serves an insecure development issuer for demos and tests.
package oidc

import (
	"context"
	"fmt"
)

// SANKind says which kind of subject alternative name an identity becomes.
type SANKind int

const (
	// SANEmail is an rfc822Name SAN (issuers of type "email").
	SANEmail SANKind = iota + 1
	// SANURI is a URI SAN (issuers of type "uri", e.g. SPIFFE IDs).
	SANURI
	// SANOtherName is Fulcio's otherName SAN (OID 1.3.6.1.4.1.57264.1.7)
	// holding "username!domain" (issuers of type "username").
	SANOtherName
)

// Identity is what a verified token proves, in the terms the CA needs.
type Identity struct {
	// Issuer is the token's verified "iss" claim: it goes into the
	// certificate's OIDC issuer extensions (1.3.6.1.4.1.57264.1.1 and .1.8).
	Issuer string
	// SANKind and SAN are the certificate's one subject alternative name.
	SANKind SANKind
	SAN     string
	// Subject is the token's "sub" claim (extension 1.3.6.1.4.1.57264.1.24).
	Subject string
	// Challenge is the value the proof of possession must sign: the email
	// for email issuers, otherwise the subject.
	Challenge string
	// Claims are all of the token's claims, for optional extensions.
	Claims map[string]any
}

// Verifier checks a raw identity token (a compact JWS).
type Verifier interface {
	Verify(ctx context.Context, rawToken string) (*Identity, error)
}

// Reason is a machine-readable cause of a refused token; it labels metrics.
type Reason string

// Reasons a token is refused.
const (
	ReasonMalformed         Reason = "malformed"          // not a JWT, bad JSON, alg=none
	ReasonUnknownIssuer     Reason = "unknown_issuer"     // iss is not configured
	ReasonExpired           Reason = "expired"            // exp in the past
	ReasonNotYetValid       Reason = "not_yet_valid"      // nbf/iat in the future
	ReasonAudience          Reason = "audience"           // aud lacks the client ID
	ReasonSignature         Reason = "signature"          // signature does not verify
	ReasonEmailUnverified   Reason = "email_unverified"   // email issuer, email_verified not true
	ReasonMissingClaim      Reason = "missing_claim"      // a claim the issuer type needs is absent
	ReasonSubject           Reason = "subject"            // subject outside the issuer's allowed domain
	ReasonInvalidClaim      Reason = "invalid_claim"      // a claim a certificate cannot carry (control characters, ...)
	ReasonIssuerUnavailable Reason = "issuer_unavailable" // discovery/JWKS could not be fetched
)

// TokenError is a refused token. Msg says what is wrong in words a user
// can act on; it never echoes the token.
type TokenError struct {
	Reason Reason
	Msg    string
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("identity token refused (%s): %s", e.Reason, e.Msg)
}
