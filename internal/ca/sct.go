package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/ctutil"
	"github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
)

// RFC 6962 section 3 extensions.
var (
	// oidCTPoison marks a precertificate (critical, value ASN.1 NULL).
	oidCTPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	// oidSCTList holds a SignedCertificateTimestampList in an OCTET STRING.
	oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// certLogError is a precertificate the certificate log did not take.
type certLogError struct{ err error }

func (e *certLogError) Error() string {
	return fmt.Sprintf("appending the precertificate to the certificate log: %v", e.err)
}
func (e *certLogError) Unwrap() error { return e.err }

// logPrecertificate signs a precertificate from tmpl (tmpl plus the poison
// as last extension), appends it to the certificate log, and returns the
// SCT list extension that replaces the poison in the final certificate.
// Because the final certificate is tmpl with that one extension in the
// poison's place, its TBS minus the SCT list is the precertificate's TBS
// minus the poison: what the SCT signs, and what verifiers rebuild.
func (ca *CA) logPrecertificate(ctx context.Context, tmpl *x509.Certificate, pub crypto.PublicKey) (pkix.Extension, error) {
	pre := *tmpl
	pre.ExtraExtensions = append(append([]pkix.Extension(nil), tmpl.ExtraExtensions...),
		pkix.Extension{Id: oidCTPoison, Critical: true, Value: asn1.NullBytes})
	der, err := x509.CreateCertificate(rand.Reader, &pre, ca.chain[0], pub, ca.signer)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("signing the precertificate: %w", err)
	}
	// Parse before logging, so that nothing unreadable enters the log.
	if _, err := x509.ParseCertificate(der); err != nil {
		return pkix.Extension{}, fmt.Errorf("parsing the precertificate just signed: %w", err)
	}
	precert, err := ctx509.ParseCertificate(der)
	if ctx509.IsFatal(err) {
		return pkix.Extension{}, fmt.Errorf("parsing the precertificate just signed: %w", err)
	}
	index, err := ca.ct.log.AppendPrecertificate(ctx, der)
	if err != nil {
		return pkix.Extension{}, &certLogError{err}
	}
	ca.logger.Debug("precertificate logged", "index", index, "serial", tmpl.SerialNumber.Text(16))
	return ca.ct.sctListExtension(precert, ca.now())
}

// sctListExtension signs an SCT (RFC 6962 section 3.2) for precert at t and
// returns it as an SCT list extension.
func (l *ctLog) sctListExtension(precert *ctx509.Certificate, t time.Time) (pkix.Extension, error) {
	sct := ct.SignedCertificateTimestamp{
		SCTVersion: ct.V1,
		LogID:      ct.LogID{KeyID: l.logID},
		Timestamp:  uint64(t.UnixMilli()),
	}
	leaf, err := ct.MerkleTreeLeafFromChain([]*ctx509.Certificate{precert, l.issuer}, ct.PrecertLogEntryType, sct.Timestamp)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("building the precertificate entry: %w", err)
	}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: *leaf})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("serializing the SCT input: %w", err)
	}
	digest := sha256.Sum256(input)
	sig, err := l.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("signing the SCT: %w", err)
	}
	sct.Signature = ct.DigitallySigned{
		Algorithm: tls.SignatureAndHashAlgorithm{Hash: tls.SHA256, Signature: tls.ECDSA},
		Signature: sig,
	}
	serialized, err := tls.Marshal(sct)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("serializing the SCT: %w", err)
	}
	list, err := tls.Marshal(ctx509.SignedCertificateTimestampList{SCTList: []ctx509.SerializedSCT{{Val: serialized}}})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("serializing the SCT list: %w", err)
	}
	value, err := asn1.Marshal(list) // an OCTET STRING
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding the SCT list: %w", err)
	}
	return pkix.Extension{Id: oidSCTList, Value: value}, nil
}

// checkEmbeddedSCT verifies leaf's SCT as a client would, so that a
// certificate whose SCT does not match it is never handed out.
func (l *ctLog) checkEmbeddedSCT(leaf *x509.Certificate) error {
	cert, err := ctx509.ParseCertificate(leaf.Raw)
	if ctx509.IsFatal(err) {
		return fmt.Errorf("parsing the certificate for its SCT: %w", err)
	}
	if len(cert.SCTList.SCTList) != 1 {
		return fmt.Errorf("the certificate has %d SCTs, want 1", len(cert.SCTList.SCTList))
	}
	var sct ct.SignedCertificateTimestamp
	rest, err := tls.Unmarshal(cert.SCTList.SCTList[0].Val, &sct)
	if err != nil {
		return fmt.Errorf("decoding the embedded SCT: %w", err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("the embedded SCT has %d trailing bytes", len(rest))
	}
	if err := ctutil.VerifySCT(l.signer.Public(), []*ctx509.Certificate{cert, l.issuer}, &sct, true); err != nil {
		return fmt.Errorf("the embedded SCT does not verify: %w", err)
	}
	return nil
}
