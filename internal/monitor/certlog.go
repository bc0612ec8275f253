package monitor

import (
	"crypto/x509"
	"fmt"

	"github.com/mosaiclog/mosaic/internal/entry"
)

// describeEntry reads a main-log leaf (a Rekor v2 entry).
func describeEntry(leaf []byte) (*entry.Facts, error) { return entry.Describe(leaf) }

// describePrecertificate reads a certificate-log leaf: the DER of a
// precertificate the CA issued. Its facts are the certificate's; there is
// no artifact digest.
func describePrecertificate(leaf []byte) (*entry.Facts, error) {
	cert, err := x509.ParseCertificate(leaf)
	if err != nil {
		return nil, fmt.Errorf("leaf is not a DER certificate: %w", err)
	}
	return &entry.Facts{
		Kind:            "precertificate",
		Certificate:     cert,
		CertFingerprint: entry.Fingerprint(leaf),
		KeyFingerprint:  entry.Fingerprint(cert.RawSubjectPublicKeyInfo),
		SANs:            entry.CertificateSANs(cert),
		Issuer:          entry.CertificateIssuer(cert),
	}, nil
}
