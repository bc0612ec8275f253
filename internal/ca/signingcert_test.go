package ca

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

func TestProofOfPossession(t *testing.T) {
	e := newTestEnv(t, false, nil)
	const challenge = "alice@example.com"
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384 := newECKey(t, elliptic.P384())
	for _, tc := range []struct {
		name       string
		key        crypto.Signer
		hash       crypto.Hash // 0: the key's default
		challenge  string
		wantStatus int
		wantMsg    string
		wantReason string
	}{
		{"ECDSA P-256", newECKey(t, elliptic.P256()), 0, challenge, 200, "", ""},
		{"ECDSA P-384 SHA-384 (sigstore-go)", p384, 0, challenge, 200, "", ""},
		{"ECDSA P-384 SHA-256", p384, crypto.SHA256, challenge, 200, "", ""},
		{"ECDSA P-521", newECKey(t, elliptic.P521()), 0, challenge, 200, "", ""},
		{"RSA-2048", rsa2048(t), 0, challenge, 200, "", ""},
		{"Ed25519", ed, 0, challenge, 200, "", ""},
		{"RSA-1024", rsa1024, 0, challenge, 400, "RSA keys must have 2048, 3072 or 4096 bits, not 1024", reasonWeakKey},
		{"ECDSA P-224", newECKey(t, elliptic.P224()), 0, challenge, 400, "ECDSA keys must be on P-256, P-384 or P-521, not P-224", reasonWeakKey},
		{"wrong challenge", newECKey(t, elliptic.P256()), 0, "mallory@example.com", 400, "not this key's signature", reasonProof},
		{"P-256 signed with SHA-384", newECKey(t, elliptic.P256()), crypto.SHA384, challenge, 400, "not this key's signature", reasonProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := keyRequest(t, tc.key, tc.challenge)
			if tc.hash != 0 {
				body["publicKeyRequest"].(map[string]any)["proofOfPossession"] =
					base64.StdEncoding.EncodeToString(sign(t, tc.key, tc.challenge, tc.hash))
			}
			var before float64
			if tc.wantReason != "" {
				before = counterValue(t, e.ca.metrics.refused.WithLabelValues(tc.wantReason))
			}
			resp, b := e.post(t, body, emailToken)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantStatus != 200 {
				code, msg := errorBody(t, b)
				if code != 3 || !strings.Contains(msg, tc.wantMsg) {
					t.Errorf("refusal code %d %q, want InvalidArgument saying %q", code, msg, tc.wantMsg)
				}
				if after := counterValue(t, e.ca.metrics.refused.WithLabelValues(tc.wantReason)); after != before+1 {
					t.Errorf("refused{reason=%s} went from %v to %v", tc.wantReason, before, after)
				}
				return
			}
			chain := chainFrom(t, b)
			if err := cryptoutils.EqualKeys(chain[0].PublicKey, tc.key.Public()); err != nil {
				t.Errorf("certificate key: %v", err)
			}
		})
	}
}

func TestCertificateProfile(t *testing.T) {
	e := newTestEnv(t, false, nil)
	ids := testIdentities()
	for _, token := range []string{emailToken, uriToken, usernameToken} {
		id := ids[token]
		t.Run(token, func(t *testing.T) {
			key := newECKey(t, elliptic.P256())
			resp, b := e.post(t, keyRequest(t, key, id.Challenge), token)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			chain := chainFrom(t, b)
			if len(chain) != 3 || !chain[1].Equal(e.pki.issuing) || !chain[2].Equal(e.pki.root) {
				t.Fatalf("chain of %d certificates, want leaf, issuing CA, root", len(chain))
			}
			checkProfile(t, chain[0], id, key.Public(), e)
			if _, ok := extension(chain[0], oidSCTList); ok {
				t.Error("certificate has an SCT list without a certificate log")
			}
		})
	}
}

// checkProfile checks leaf against Fulcio's profile for id.
func checkProfile(t *testing.T, leaf *x509.Certificate, id *oidc.Identity, pub crypto.PublicKey, e *testEnv) {
	t.Helper()
	if len(leaf.Subject.Names) != 0 || len(leaf.RawSubject) != 2 { // an empty SEQUENCE
		t.Errorf("subject %q, want empty", leaf.Subject)
	}
	if leaf.SerialNumber.Sign() <= 0 || len(leaf.SerialNumber.Bytes()) < 16 {
		t.Errorf("serial %x: want positive, at least 16 bytes", leaf.SerialNumber)
	}
	if !leaf.NotBefore.Equal(t0) || leaf.NotAfter.Sub(leaf.NotBefore) != DefaultValidity {
		t.Errorf("validity %s to %s, want %s for %s", leaf.NotBefore, leaf.NotAfter, t0, DefaultValidity)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v, want digitalSignature only", leaf.KeyUsage)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}) || len(leaf.UnknownExtKeyUsage) != 0 {
		t.Errorf("EKU %v %v, want codeSigning only", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	skid, _ := cryptoutils.SKID(pub)
	if !bytes.Equal(leaf.SubjectKeyId, skid) || !bytes.Equal(leaf.AuthorityKeyId, e.pki.issuing.SubjectKeyId) {
		t.Errorf("SKID %x AKID %x, want %x and the issuing CA's %x", leaf.SubjectKeyId, leaf.AuthorityKeyId, skid, e.pki.issuing.SubjectKeyId)
	}

	// Exactly one SAN extension, critical, holding the identity.
	var sans int
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(cryptoutils.SANOID) {
			sans++
			if !ext.Critical {
				t.Error("SAN extension is not critical")
			}
		}
	}
	if sans != 1 {
		t.Errorf("%d SAN extensions, want 1", sans)
	}
	all := cryptoutils.GetSubjectAlternateNames(leaf)
	if len(all) != 1 || all[0] != id.SAN {
		t.Errorf("SANs %q, want just %q", all, id.SAN)
	}
	switch id.SANKind {
	case oidc.SANEmail:
		if !slices.Equal(leaf.EmailAddresses, []string{id.SAN}) {
			t.Errorf("email SANs %q", leaf.EmailAddresses)
		}
	case oidc.SANURI:
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.SAN {
			t.Errorf("URI SANs %v", leaf.URIs)
		}
	case oidc.SANOtherName:
		if name, err := cryptoutils.UnmarshalOtherNameSAN(leaf.Extensions); err != nil || name != id.SAN {
			t.Errorf("otherName SAN %q, %v", name, err)
		}
	}

	// Sigstore extensions.
	if v, ok := extension(leaf, oidIssuerV1); !ok || string(v.Value) != id.Issuer || v.Critical {
		t.Errorf("issuer (1.1) extension %q, want %q non-critical", v.Value, id.Issuer)
	}
	if got := derString(t, leaf, oidIssuerV2); got != id.Issuer {
		t.Errorf("issuer (1.8) extension %q, want %q", got, id.Issuer)
	}
	if got := derString(t, leaf, oidTokenSubject); got != id.Subject {
		t.Errorf("token subject (1.24) extension %q, want %q", got, id.Subject)
	}

	// The chain verifies for code signing within the validity. crypto/x509
	// does not know otherName SANs; like sigstore-go, verify the rest of the
	// chain once the SAN is checked above.
	unhandled := leaf.UnhandledCriticalExtensions
	if id.SANKind == oidc.SANOtherName {
		if len(unhandled) != 1 || !unhandled[0].Equal(cryptoutils.SANOID) {
			t.Errorf("unhandled critical extensions %v, want just the otherName SAN", unhandled)
		}
		leaf.UnhandledCriticalExtensions = nil
	} else if len(unhandled) != 0 {
		t.Errorf("unhandled critical extensions %v", unhandled)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(e.pki.root)
	inter.AddCert(e.pki.issuing)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		CurrentTime: t0.Add(time.Minute), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		CurrentTime: t0.Add(DefaultValidity + time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err == nil {
		t.Error("chain verifies after the certificate expired")
	}
}

func extension(c *x509.Certificate, id asn1.ObjectIdentifier) (ext struct {
	Value    []byte
	Critical bool
}, ok bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(id) {
			ext.Value, ext.Critical = e.Value, e.Critical
			return ext, true
		}
	}
	return ext, false
}

// derString decodes a Sigstore extension holding a DER UTF8String.
func derString(t *testing.T, c *x509.Certificate, id asn1.ObjectIdentifier) string {
	t.Helper()
	ext, ok := extension(c, id)
	if !ok {
		t.Errorf("no extension %v", id)
		return ""
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(ext.Value, &raw)
	if err != nil || len(rest) != 0 || raw.Tag != asn1.TagUTF8String || raw.Class != asn1.ClassUniversal {
		t.Errorf("extension %v is not a DER UTF8String: %x (%v)", id, ext.Value, err)
		return ""
	}
	return string(raw.Bytes)
}

func TestCSR(t *testing.T) {
	e := newTestEnv(t, false, nil)
	key := newECKey(t, elliptic.P384())
	resp, b := e.post(t, csrRequest(t, key, "mallory@evil.example"), emailToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	chain := chainFrom(t, b)
	checkProfile(t, chain[0], testIdentities()[emailToken], key.Public(), e)

	t.Run("bad signature", func(t *testing.T) {
		body := csrRequest(t, key, "x")
		p, _ := base64.StdEncoding.DecodeString(body["certificateSigningRequest"].(string))
		block, _ := pem.Decode(p)
		der := block.Bytes
		// Flip a bit of the signature, which is the DER's last bytes.
		bad := bytes.Clone(der)
		bad[len(bad)-3] ^= 1
		if _, err := x509.ParseCertificateRequest(bad); err != nil {
			t.Fatalf("mangled CSR does not parse any more: %v", err)
		}
		body["certificateSigningRequest"] = base64.StdEncoding.EncodeToString(bad)
		resp, b := e.post(t, body, emailToken)
		if _, msg := errorBody(t, b); resp.StatusCode != 400 || !strings.Contains(msg, "CSR's signature") {
			t.Errorf("status %d %q, want 400 about the CSR signature", resp.StatusCode, msg)
		}
	})
	t.Run("weak key", func(t *testing.T) {
		resp, b := e.post(t, csrRequest(t, newECKey(t, elliptic.P224()), "x"), emailToken)
		if _, msg := errorBody(t, b); resp.StatusCode != 400 || !strings.Contains(msg, "P-224") {
			t.Errorf("status %d %q, want 400 naming P-224", resp.StatusCode, msg)
		}
	})
}

func TestTokenSources(t *testing.T) {
	e := newTestEnv(t, false, nil)
	key := newECKey(t, elliptic.P256())
	withBody := func(token string) map[string]any {
		b := keyRequest(t, key, "alice@example.com")
		b["credentials"] = map[string]any{"oidcIdentityToken": token}
		return b
	}
	for _, tc := range []struct {
		name       string
		body       map[string]any
		header     string // full Authorization header
		wantStatus int
		wantMsg    string
	}{
		{"bearer only", keyRequest(t, key, "alice@example.com"), "Bearer " + emailToken, 200, ""},
		{"bearer lower-case scheme", keyRequest(t, key, "alice@example.com"), "bearer " + emailToken, 200, ""},
		{"body only", withBody(emailToken), "", 200, ""},
		{"both, same", withBody(emailToken), "Bearer " + emailToken, 200, ""},
		{"both, different", withBody(emailToken), "Bearer " + uriToken, 400, "different tokens"},
		{"neither", keyRequest(t, key, "alice@example.com"), "", 401, "no identity token"},
		{"empty bearer", keyRequest(t, key, "alice@example.com"), "Bearer ", 401, "no identity token"},
		{"basic auth", keyRequest(t, key, "alice@example.com"), "Basic dXNlcjpwYXNz", 401, `"Basic" scheme`},
		{"unknown token", keyRequest(t, key, "alice@example.com"), "Bearer nope", 401, "does not know this token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := json.Marshal(tc.body)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v2/signingCert", bytes.NewReader(data))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, b := do(t, req)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantStatus == 200 {
				if chain := chainFrom(t, b); chain[0].EmailAddresses[0] != "alice@example.com" {
					t.Errorf("issued for %q", chain[0].EmailAddresses)
				}
				return
			}
			if _, msg := errorBody(t, b); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q does not say %q", msg, tc.wantMsg)
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	var logs syncBuffer
	e := newTestEnv(t, false, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	e.verifier.errs["expired"] = &oidc.TokenError{Reason: oidc.ReasonExpired, Msg: "the token expired at 12:00"}
	e.verifier.errs["down"] = &oidc.TokenError{Reason: oidc.ReasonIssuerUnavailable, Msg: "fetching the JWKS failed"}
	e.verifier.errs["broken"] = errors.New("verifier bug")
	e.verifier.ids["nochallenge"] = &oidc.Identity{Issuer: testIssuer, SANKind: oidc.SANEmail, SAN: "a@example.com"}
	e.verifier.ids["nonascii"] = &oidc.Identity{Issuer: testIssuer, SANKind: oidc.SANEmail, SAN: "ä@example.com", Challenge: "x"}
	e.verifier.ids["relative-uri"] = &oidc.Identity{Issuer: testIssuer, SANKind: oidc.SANURI, SAN: "just/a/path", Challenge: "x"}
	key := newECKey(t, elliptic.P256())
	for _, tc := range []struct {
		token, challenge string
		wantStatus       int
		wantRetry        bool
		wantMsg, reason  string
	}{
		{"expired", "alice@example.com", 401, false, "the token expired at 12:00", string(oidc.ReasonExpired)},
		{"down", "alice@example.com", 503, true, "fetching the JWKS failed", string(oidc.ReasonIssuerUnavailable)},
		{"broken", "alice@example.com", 500, false, "internal error", reasonInternal},
		{"nochallenge", "alice@example.com", 500, false, "internal error", reasonInternal},
		{"nonascii", "x", 400, false, "not ASCII", reasonBadRequest},
		{"relative-uri", "x", 400, false, "not an absolute ASCII URI", reasonBadRequest},
	} {
		t.Run(tc.token, func(t *testing.T) {
			before := counterValue(t, e.ca.metrics.refused.WithLabelValues(tc.reason))
			resp, b := e.post(t, keyRequest(t, key, tc.challenge), tc.token)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tc.wantRetry {
				t.Errorf("Retry-After %q, want one: %v", resp.Header.Get("Retry-After"), tc.wantRetry)
			}
			if _, msg := errorBody(t, b); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q does not say %q", msg, tc.wantMsg)
			}
			if after := counterValue(t, e.ca.metrics.refused.WithLabelValues(tc.reason)); after != before+1 {
				t.Errorf("refused{reason=%s} went from %v to %v", tc.reason, before, after)
			}
		})
	}
	if n := counterValue(t, e.ca.metrics.issued); n != 0 {
		t.Errorf("issued_total %v after refusals only", n)
	}
	for _, want := range []string{"verifier bug", "identity without a challenge"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not record the 500's cause %q:\n%s", want, logs.String())
		}
	}
}

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRequestSize(t *testing.T) {
	e := newTestEnv(t, false, func(c *Config) { c.MaxRequestBytes = 1000 })
	big := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 2000)...)
	big = append(big, `"}`...)

	resp, b := e.post(t, big, emailToken)
	if _, msg := errorBody(t, b); resp.StatusCode != 413 || !strings.Contains(msg, "request body of 2008 bytes exceeds the CA's limit of 1000 bytes") {
		t.Errorf("Content-Length: status %d %q", resp.StatusCode, msg)
	}

	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v2/signingCert", bytes.NewReader(big))
	req.ContentLength = -1 // streamed: the limit is found while reading
	req.Header.Set("Authorization", "Bearer "+emailToken)
	resp, b = do(t, req)
	if _, msg := errorBody(t, b); resp.StatusCode != 413 || !strings.Contains(msg, "limit of 1000 bytes (MaxRequestBytes); more than 1000 bytes were sent") {
		t.Errorf("streamed: status %d %q", resp.StatusCode, msg)
	}
	if n := counterValue(t, e.ca.metrics.refused.WithLabelValues(reasonTooLarge)); n != 2 {
		t.Errorf("refused{too_large} = %v, want 2", n)
	}

	// A body exactly at the limit is read and judged on its content.
	exact := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 1000-8)...)
	exact = append(exact, `"}`...)
	resp, b = e.post(t, exact, emailToken)
	if _, msg := errorBody(t, b); resp.StatusCode != 400 || !strings.Contains(msg, "neither publicKeyRequest") {
		t.Errorf("at the limit: status %d %q", resp.StatusCode, msg)
	}
}

func TestIssuingCAExpiry(t *testing.T) {
	e := newTestEnv(t, false, nil)
	e.clock.Set(e.pki.issuing.NotAfter.Add(-time.Minute)) // a 10-minute certificate would outlive it
	key := newECKey(t, elliptic.P256())
	resp, b := e.post(t, keyRequest(t, key, "alice@example.com"), emailToken)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500: %s", resp.StatusCode, b)
	}
}
