package ca

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/ctutil"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/google/certificate-transparency-go/x509util"
)

// TestEmbeddedSCT checks the SCT as sigstore-go does (x509util to extract
// it, ctutil.VerifySCT with the issuing CA) and that the logged
// precertificate is the final certificate with the poison in place of the
// SCT list.
func TestEmbeddedSCT(t *testing.T) {
	e := newTestEnv(t, true, nil)
	key := newECKey(t, elliptic.P256())
	resp, b := e.post(t, keyRequest(t, key, "alice@example.com"), emailToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	chain := chainFrom(t, b)
	checkProfile(t, chain[0], testIdentities()[emailToken], key.Public(), e)
	leaf := ctCert(t, chain[0].Raw)
	issuer := ctCert(t, e.pki.issuing.Raw)

	scts, err := x509util.ParseSCTsFromCertificate(chain[0].Raw)
	if err != nil || len(scts) != 1 {
		t.Fatalf("%d SCTs, %v; want 1", len(scts), err)
	}
	sct := scts[0]
	spki, _ := x509.MarshalPKIXPublicKey(e.ctKey.Public())
	if sct.LogID.KeyID != sha256.Sum256(spki) || sct.SCTVersion != ct.V1 {
		t.Errorf("SCT log ID %x version %v, want %x v1", sct.LogID.KeyID, sct.SCTVersion, sha256.Sum256(spki))
	}
	if got := ct.TimestampToTime(sct.Timestamp); !got.Equal(t0) {
		t.Errorf("SCT timestamp %v, want %v", got, t0)
	}
	if err := ctutil.VerifySCT(e.ctKey.Public(), []*ctx509.Certificate{leaf, issuer}, sct, true); err != nil {
		t.Errorf("embedded SCT does not verify: %v", err)
	}
	if err := ctutil.VerifySCT(newECKey(t, elliptic.P256()).Public(), []*ctx509.Certificate{leaf, issuer}, sct, true); err == nil {
		t.Error("SCT verifies with another log's key")
	}
	if ext := leaf.Extensions[len(leaf.Extensions)-1]; !ext.Id.Equal(ctx509.OIDExtensionCTSCT) || ext.Critical {
		t.Errorf("last extension %v (critical %v), want the non-critical SCT list", ext.Id, ext.Critical)
	}

	// The precertificate in the log.
	logged := e.certLog.logged()
	if len(logged) != 1 {
		t.Fatalf("%d precertificates logged, want 1", len(logged))
	}
	pre := ctCert(t, logged[0])
	if !pre.IsPrecertificate() || pre.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("logged certificate: precertificate %v, serial %x; want a precertificate with serial %x",
			pre.IsPrecertificate(), pre.SerialNumber, leaf.SerialNumber)
	}
	if ext := pre.Extensions[len(pre.Extensions)-1]; !ext.Id.Equal(ctx509.OIDExtensionCTPoison) || !ext.Critical {
		t.Errorf("precertificate's last extension %v (critical %v), want the critical poison", ext.Id, ext.Critical)
	}
	if err := pre.CheckSignatureFrom(issuer); err != nil {
		t.Errorf("precertificate not signed by the issuing CA: %v", err)
	}
	preTBS, err := ctx509.RemoveCTPoison(pre.RawTBSCertificate)
	if err != nil {
		t.Fatal(err)
	}
	finalTBS, err := ctx509.RemoveSCTList(leaf.RawTBSCertificate)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(preTBS, finalTBS) {
		t.Error("the final certificate's TBS without the SCT list differs from the precertificate's without the poison")
	}
	if err := ctutil.VerifySCT(e.ctKey.Public(), []*ctx509.Certificate{pre, issuer}, sct, false); err != nil {
		t.Errorf("SCT does not verify for the logged precertificate: %v", err)
	}

	// A certificate with the same SCT but a TBS that differs (one second
	// longer) is refused: the SCT is bound to this certificate.
	forged := *chain[0]
	forged.NotAfter = forged.NotAfter.Add(time.Second)
	forged.ExtraExtensions = nil
	for _, ext := range chain[0].Extensions {
		if ext.Id.Equal(oidSCTList) || ext.Id.Equal(oidIssuerV1) || ext.Id.Equal(oidIssuerV2) ||
			ext.Id.Equal(oidTokenSubject) {
			forged.ExtraExtensions = append(forged.ExtraExtensions, ext)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &forged, e.pki.issuing, key.Public(), e.pki.key)
	if err != nil {
		t.Fatal(err)
	}
	forgedCT := ctCert(t, der)
	if err := ctutil.VerifySCT(e.ctKey.Public(), []*ctx509.Certificate{forgedCT, issuer}, sct, true); err == nil {
		t.Error("the SCT verifies for a certificate with a different TBS")
	}
}

func ctCert(t *testing.T, der []byte) *ctx509.Certificate {
	t.Helper()
	c, err := ctx509.ParseCertificate(der)
	if ctx509.IsFatal(err) {
		t.Fatal(err)
	}
	return c
}

func TestCertLogFailure(t *testing.T) {
	e := newTestEnv(t, true, nil)
	e.certLog.err = errors.New("disk full")
	key := newECKey(t, elliptic.P256())
	resp, b := e.post(t, keyRequest(t, key, "alice@example.com"), emailToken)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	code, msg := errorBody(t, b)
	if code != 14 || !strings.Contains(msg, "certificate log is unavailable") || strings.Contains(msg, "disk full") {
		t.Errorf("refusal %d %q, want Unavailable naming the certificate log without internals", code, msg)
	}
	if bytes.Contains(b, []byte("CERTIFICATE")) {
		t.Errorf("the refusal carries a certificate: %s", b)
	}
	if n := counterValue(t, e.ca.metrics.issued); n != 0 {
		t.Errorf("issued_total = %v", n)
	}
	if n := counterValue(t, e.ca.metrics.refused.WithLabelValues(reasonLogUnavailable)); n != 1 {
		t.Errorf("refused{log_unavailable} = %v, want 1", n)
	}

	// Once the log is back, issuance resumes.
	e.certLog.mu.Lock()
	e.certLog.err = nil
	e.certLog.mu.Unlock()
	if resp, b := e.post(t, keyRequest(t, key, "alice@example.com"), emailToken); resp.StatusCode != 200 {
		t.Fatalf("after recovery: status %d: %s", resp.StatusCode, b)
	}
	if n := counterValue(t, e.ca.metrics.issued); n != 1 {
		t.Errorf("issued_total = %v, want 1", n)
	}
}
