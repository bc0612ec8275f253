package verify

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/ctutil"
	"github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Sigstore's OIDC issuer extensions: .1.8 holds a DER UTF8String, the
// deprecated .1.1 the raw string.
var (
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
)

// identity is what a certificate says about its subject.
type identity struct {
	san, issuer string
}

// verifyCertificate checks a keyless bundle's certificate at each trusted
// time: within its own validity, chaining to a CA the trusted root trusts
// at that time, carrying a valid SCT when the trusted root lists
// certificate logs (unless the policy ignores SCTs), and naming the
// policy's identity.
func verifyCertificate(cert *x509.Certificate, times []time.Time, tr *TrustedRoot, p *compiledPolicy) (*identity, error) {
	var issuer *x509.Certificate
	for _, t := range times {
		if t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
			return nil, fail(CheckCertificateValidity, "certificate used outside its validity: signed at %s, valid from %s to %s",
				t.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
		}
		var err error
		if issuer, err = verifyChain(cert, t, tr.CertificateAuthorities); err != nil {
			return nil, &Error{Check: CheckCertificateChain, Err: err}
		}
	}
	if !p.IgnoreSCT && len(tr.CTLogs) > 0 {
		if err := verifySCT(cert, issuer, tr.CTLogs); err != nil {
			return nil, &Error{Check: CheckSCT, Err: err}
		}
	}
	return checkIdentity(cert, p)
}

// verifyChain returns the issuer of cert in a chain to a CA trusted at t.
func verifyChain(cert *x509.Certificate, t time.Time, cas []*CertificateAuthority) (*x509.Certificate, error) {
	if len(cas) == 0 {
		return nil, errors.New("the trusted root lists no certificate authorities")
	}
	var errs []error
	for _, ca := range cas {
		if !ca.ValidFor.Contains(t) {
			errs = append(errs, fmt.Errorf("CA %s is not trusted at %s", ca.URI, t.UTC().Format(time.RFC3339)))
			continue
		}
		n := len(ca.Chain)
		roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(ca.Chain[n-1])
		for _, c := range ca.Chain[:n-1] {
			intermediates.AddCert(c)
		}
		chains, err := cert.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: intermediates, CurrentTime: t,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("CA %s: %w", ca.URI, err))
			continue
		}
		if len(chains[0]) < 2 {
			return nil, errors.New("the signing certificate is itself a trusted root")
		}
		return chains[0][1], nil
	}
	return nil, fmt.Errorf("the certificate does not chain to a trusted CA: %w", errors.Join(errs...))
}

// verifySCT requires one embedded SCT of cert that a trusted certificate
// log signed while its key was valid; SCTs of unknown logs are ignored.
func verifySCT(cert, issuer *x509.Certificate, logs []*TransparencyLog) error {
	leaf, err := ctx509.ParseCertificate(cert.Raw)
	if ctx509.IsFatal(err) {
		return fmt.Errorf("parsing the certificate: %w", err)
	}
	iss, err := ctx509.ParseCertificate(issuer.Raw)
	if ctx509.IsFatal(err) {
		return fmt.Errorf("parsing the issuing certificate: %w", err)
	}
	if len(leaf.SCTList.SCTList) == 0 {
		return errors.New("the certificate has no embedded SCT")
	}
	var errs []error
	for i, s := range leaf.SCTList.SCTList {
		var sct ct.SignedCertificateTimestamp
		if rest, err := tls.Unmarshal(s.Val, &sct); err != nil || len(rest) != 0 {
			errs = append(errs, fmt.Errorf("SCT %d is malformed", i))
			continue
		}
		l := findCTLog(logs, sct.LogID.KeyID[:])
		if l == nil {
			errs = append(errs, fmt.Errorf("SCT %d is from log %s, which the trusted root does not list", i, base64.StdEncoding.EncodeToString(sct.LogID.KeyID[:])))
			continue
		}
		if at := time.UnixMilli(int64(sct.Timestamp)); !l.ValidFor.Contains(at) {
			errs = append(errs, fmt.Errorf("SCT %d is dated %s, outside log %s's validity", i, at.UTC().Format(time.RFC3339), l.BaseURL))
			continue
		}
		if err := ctutil.VerifySCT(l.PublicKey, []*ctx509.Certificate{leaf, iss}, &sct, true); err != nil {
			errs = append(errs, fmt.Errorf("SCT %d: %w", i, err))
			continue
		}
		return nil
	}
	return fmt.Errorf("no embedded SCT verifies with a trusted certificate log: %w", errors.Join(errs...))
}

func findCTLog(logs []*TransparencyLog, id []byte) *TransparencyLog {
	for _, l := range logs {
		if string(l.LogID) == string(id) {
			return l
		}
	}
	return nil
}

// checkIdentity matches the certificate's SAN and OIDC issuer against the
// policy.
func checkIdentity(cert *x509.Certificate, p *compiledPolicy) (*identity, error) {
	sans := certificateSANs(cert)
	if len(sans) == 0 {
		return nil, fail(CheckIdentitySAN, "the certificate has no email, URI or username SAN")
	}
	id := &identity{san: sans[0]}
	matched := false
	for _, s := range sans {
		if match(s, p.CertificateIdentity, p.sanRE) {
			id.san, matched = s, true
			break
		}
	}
	if !matched {
		return nil, fail(CheckIdentitySAN, "the certificate is for %q, which the policy (%s) does not accept", sans, describe(p.CertificateIdentity, p.CertificateIdentityRegexp))
	}
	var err error
	if id.issuer, err = certificateIssuer(cert); err != nil {
		return nil, &Error{Check: CheckIdentityIssuer, Err: err}
	}
	if !match(id.issuer, p.CertificateOIDCIssuer, p.issuerRE) {
		return nil, fail(CheckIdentityIssuer, "the certificate's OIDC issuer is %q, which the policy (%s) does not accept",
			id.issuer, describe(p.CertificateOIDCIssuer, p.CertificateOIDCIssuerRegexp))
	}
	return id, nil
}

// certificateSANs returns the email, URI and otherName (Fulcio username)
// SANs of cert.
func certificateSANs(cert *x509.Certificate) []string {
	var sans []string
	sans = append(sans, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	if other, err := cryptoutils.UnmarshalOtherNameSAN(cert.Extensions); err == nil {
		sans = append(sans, other)
	}
	return sans
}

// certificateIssuer reads the OIDC issuer from extension .1.8, or from the
// deprecated .1.1 when .1.8 is absent.
func certificateIssuer(cert *x509.Certificate) (string, error) {
	var v1 *string
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidIssuerV2):
			var s string
			rest, err := asn1.UnmarshalWithParams(ext.Value, &s, "utf8")
			if err != nil || len(rest) != 0 {
				return "", errors.New("the certificate's OIDC issuer extension (1.3.6.1.4.1.57264.1.8) is not a UTF8String")
			}
			return s, nil
		case ext.Id.Equal(oidIssuerV1):
			s := string(ext.Value)
			v1 = &s
		}
	}
	if v1 == nil {
		return "", errors.New("the certificate has no OIDC issuer extension")
	}
	return *v1, nil
}

func describe(exact, re string) string {
	switch {
	case exact != "" && re != "":
		return fmt.Sprintf("exactly %q and matching ^(?:%s)$", exact, re)
	case exact != "":
		return fmt.Sprintf("exactly %q", exact)
	default:
		return fmt.Sprintf("matching ^(?:%s)$", re)
	}
}
