package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Sigstore's extensions (docs/oid-info.md in sigstore/fulcio; the numbers are
// those of sigstore-go's pkg/fulcio/certificate and Fulcio's
// pkg/certificate/extensions.go).
var (
	// oidIssuerV1 holds the OIDC issuer as raw string bytes (deprecated for
	// its encoding, still read by clients).
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	// oidIssuerV2 holds the OIDC issuer as a DER UTF8String.
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	// oidTokenSubject holds the token's raw "sub" claim as a DER
	// UTF8String (Fulcio since 2026, sigstore/fulcio#2307).
	oidTokenSubject = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 24}
)

// identityError is an identity the verifier accepted that cannot be put in
// a certificate; it comes from the token, so it is the client's problem.
type identityError struct{ msg string }

func (e *identityError) Error() string { return e.msg }

// issue returns the certificate chain for pub and id, leaf first. With a
// certificate log it logs a precertificate and embeds an SCT; a failure to
// log is a *certLogError and nothing is issued.
func (ca *CA) issue(ctx context.Context, id *oidc.Identity, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	now := ca.now().Truncate(time.Second)
	tmpl, err := ca.template(id, pub, now)
	if err != nil {
		return nil, err
	}
	issuing := ca.chain[0]
	if tmpl.NotAfter.After(issuing.NotAfter) {
		return nil, fmt.Errorf("the issuing CA certificate expires at %s, before a certificate issued now would (%s): renew it",
			issuing.NotAfter.UTC().Format(time.RFC3339), tmpl.NotAfter.UTC().Format(time.RFC3339))
	}
	if ca.ct != nil {
		ext, err := ca.logPrecertificate(ctx, tmpl, pub)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuing, pub, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate just signed: %w", err)
	}
	if ca.ct != nil {
		if err := ca.ct.checkEmbeddedSCT(leaf); err != nil {
			return nil, err
		}
	}
	return append([]*x509.Certificate{leaf}, ca.chain...), nil
}

// template is the certificate Fulcio would issue for id and pub at now:
// random serial, empty subject, one critical SAN, digitalSignature,
// codeSigning, SKID (AKID comes from the issuing certificate), and the
// issuer and subject extensions. Its ExtraExtensions are in a fixed order;
// the precertificate's poison and the final SCT list go after them.
func (ca *CA) template(id *oidc.Identity, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := cryptoutils.SKID(pub)
	if err != nil {
		return nil, fmt.Errorf("computing the subject key ID: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now,
		NotAfter:     now.Add(ca.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		SubjectKeyId: skid,
	}
	// crypto/x509 marks the SAN extension critical because the subject is
	// empty (RFC 5280 section 4.2.1.6).
	switch id.SANKind {
	case oidc.SANEmail:
		tmpl.EmailAddresses = []string{id.SAN}
	case oidc.SANURI:
		u, _ := url.Parse(id.SAN) // checked by checkIdentity
		tmpl.URIs = []*url.URL{u}
	case oidc.SANOtherName:
		ext, err := cryptoutils.MarshalOtherNameSAN(id.SAN, true)
		if err != nil {
			return nil, &identityError{fmt.Sprintf("the identity %q cannot be encoded as a SAN: %v", id.SAN, err)}
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, *ext)
	}
	exts, err := identityExtensions(id)
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, exts...)
	return tmpl, nil
}

// identityExtensions are the Sigstore extensions Fulcio sets for email, URI
// and username identities: the issuer (twice, in the deprecated raw
// encoding and as UTF8String) and, when the token has one, its subject.
// The CI-provider extensions (1.3.6.1.4.1.57264.1.9 to .1.23) are not set:
// Identity does not say which CI claims mapping applies.
func identityExtensions(id *oidc.Identity) ([]pkix.Extension, error) {
	issuer, err := asn1.MarshalWithParams(id.Issuer, "utf8")
	if err != nil {
		return nil, &identityError{fmt.Sprintf("the token issuer %q cannot be encoded: %v", id.Issuer, err)}
	}
	exts := []pkix.Extension{
		{Id: oidIssuerV1, Value: []byte(id.Issuer)},
		{Id: oidIssuerV2, Value: issuer},
	}
	if id.Subject != "" {
		sub, err := asn1.MarshalWithParams(id.Subject, "utf8")
		if err != nil {
			return nil, &identityError{fmt.Sprintf("the token subject %q cannot be encoded: %v", id.Subject, err)}
		}
		exts = append(exts, pkix.Extension{Id: oidTokenSubject, Value: sub})
	}
	return exts, nil
}

// checkIdentity refuses identities crypto/x509 could not encode, before
// anything is signed or logged.
func checkIdentity(id *oidc.Identity) error {
	if id.Issuer == "" {
		return errors.New("the token verifier returned an identity without an issuer")
	}
	// The same rule as the verifier's, for every string the certificate
	// carries: a Verifier is an interface, and this is the last check.
	for _, c := range []struct{ name, value string }{{"iss", id.Issuer}, {"sub", id.Subject}, {sanClaim(id.SANKind), id.SAN}} {
		if err := oidc.CheckClaim(c.name, c.value); err != nil {
			var te *oidc.TokenError
			if errors.As(err, &te) {
				return &identityError{te.Msg}
			}
			return &identityError{err.Error()}
		}
	}
	if id.SAN == "" {
		return &identityError{"the identity token gives no subject alternative name for the certificate"}
	}
	switch id.SANKind {
	case oidc.SANEmail:
		if !isASCII(id.SAN) {
			return &identityError{fmt.Sprintf("the email %q cannot be put in a certificate: it is not ASCII", id.SAN)}
		}
	case oidc.SANURI:
		u, err := url.Parse(id.SAN)
		if err != nil || u.Scheme == "" || !isASCII(id.SAN) {
			return &identityError{fmt.Sprintf("the URI %q cannot be put in a certificate: it is not an absolute ASCII URI", id.SAN)}
		}
	case oidc.SANOtherName:
	default:
		return fmt.Errorf("the token verifier returned an identity with unknown SAN kind %d", id.SANKind)
	}
	return nil
}

// sanClaim names the claim a SAN of kind k comes from, for messages.
func sanClaim(k oidc.SANKind) string {
	switch k {
	case oidc.SANEmail:
		return "email"
	case oidc.SANURI:
		return "sub"
	case oidc.SANOtherName:
		return "username"
	}
	return "subject alternative name"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// randomSerial returns a positive 20-byte serial number (RFC 5280's maximum)
// with 158 random bits: the top bit is clear so it is positive, the next set
// so it is never shorter than 20 bytes.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	b[0] = b[0]&0x7f | 0x40
	return new(big.Int).SetBytes(b), nil
}
