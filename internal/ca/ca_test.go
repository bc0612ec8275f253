package ca

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

func TestNewRefusesBadConfig(t *testing.T) {
	p := newTestPKI(t)
	other := newECKey(t, elliptic.P384())
	// subCA issues a certificate from p's root with tmpl's CA attributes.
	subCA := func(mod func(*x509.Certificate)) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "odd CA"},
			NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(1, 0, 0),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		mod(tmpl)
		return createCert(t, tmpl, p.root, other.Public(), p.rootKey)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	good := func() Config {
		return Config{Signer: p.key, Chain: p.chain, Verifier: &fakeVerifier{}, Now: func() time.Time { return t0 }}
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no signer", func(c *Config) { c.Signer = nil }, "needs a signer"},
		{"no chain", func(c *Config) { c.Chain = nil }, "needs a signer"},
		{"no verifier", func(c *Config) { c.Verifier = nil }, "needs a signer"},
		{"root first", func(c *Config) { c.Chain = []*x509.Certificate{p.root, p.issuing} }, "is not signed by certificate 1"},
		{"no root", func(c *Config) { c.Chain = []*x509.Certificate{p.issuing} }, "not a self-signed root"},
		{"signer mismatch", func(c *Config) { c.Signer = other }, "does not match the issuing certificate"},
		{"not a CA", func(c *Config) {
			c.Signer, c.Chain = other, []*x509.Certificate{subCA(func(t *x509.Certificate) { t.IsCA = false }), p.root}
		}, "must be a CA certificate with the certSign key usage"},
		{"no certSign", func(c *Config) {
			c.Signer, c.Chain = other, []*x509.Certificate{subCA(func(t *x509.Certificate) { t.KeyUsage = x509.KeyUsageCRLSign }), p.root}
		}, "must be a CA certificate with the certSign key usage"},
		{"no codeSigning EKU", func(c *Config) {
			c.Signer, c.Chain = other, []*x509.Certificate{subCA(func(t *x509.Certificate) {
				t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			}), p.root}
		}, "cannot issue code-signing certificates"},
		{"expired CA", func(c *Config) { c.Now = func() time.Time { return p.issuing.NotAfter.Add(time.Hour) } }, "cannot issue code-signing certificates now"},
		{"validity fraction", func(c *Config) { c.Validity = 1500 * time.Millisecond }, "whole number of seconds"},
		{"validity negative", func(c *Config) { c.Validity = -time.Minute }, "whole number of seconds"},
		{"negative limit", func(c *Config) { c.MaxRequestBytes = -1 }, "must be positive"},
		{"issuer without URL", func(c *Config) { c.Issuers = []IssuerInfo{{Audience: "sigstore"}} }, "issuer 0 has no URL"},
		{"CT key P-384", func(c *Config) { c.CT = &CTConfig{Signer: other, Log: &fakeCertLog{}} }, "must be ECDSA P-256"},
		{"CT key Ed25519", func(c *Config) { c.CT = &CTConfig{Signer: ed, Log: &fakeCertLog{}} }, "must be ECDSA P-256"},
		{"CT without log", func(c *Config) { c.CT = &CTConfig{Signer: newECKey(t, elliptic.P256())} }, "needs a signer and a log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := New(good()); err != nil {
		t.Errorf("the good config is refused: %v", err)
	}
}

// TestLongerChain issues from a CA two levels below the root and sends the
// whole chain.
func TestLongerChain(t *testing.T) {
	p := newTestPKI(t)
	midKey, key := newECKey(t, elliptic.P384()), newECKey(t, elliptic.P384())
	ca := func(serial int64, name string, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
		return createCert(t, &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(2, 0, 0),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}, parent, pub, parentKey)
	}
	mid := ca(3, "policy CA", p.root, midKey.Public(), p.rootKey)
	issuing := ca(4, "issuing CA 2", mid, key.Public(), midKey)
	e := newTestEnv(t, true, func(c *Config) {
		c.Signer, c.Chain = key, []*x509.Certificate{issuing, mid, p.root}
	})
	leafKey := newECKey(t, elliptic.P256())
	resp, b := e.post(t, keyRequest(t, leafKey, "alice@example.com"), emailToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	chain := chainFrom(t, b)
	if len(chain) != 4 || !chain[1].Equal(issuing) || !chain[2].Equal(mid) || !chain[3].Equal(p.root) {
		t.Fatalf("chain of %d certificates, want leaf, issuing, policy CA, root", len(chain))
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.root)
	inter.AddCert(mid)
	inter.AddCert(issuing)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: t0,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
}

func TestTrustBundle(t *testing.T) {
	e := newTestEnv(t, false, nil)
	var got map[string][]map[string][]string
	getJSON(t, e.srv.URL+"/api/v2/trustBundle", &got)
	chains := got["chains"]
	if len(got) != 1 || len(chains) != 1 || len(chains[0]) != 1 {
		t.Fatalf("trust bundle %v, want {chains: [{certificates: [...]}]}", got)
	}
	certs := chains[0]["certificates"]
	want := []*x509.Certificate{e.pki.issuing, e.pki.root}
	if len(certs) != len(want) {
		t.Fatalf("%d certificates, want %d", len(certs), len(want))
	}
	for i, p := range certs {
		c, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(p))
		if err != nil || len(c) != 1 || !c[0].Equal(want[i]) {
			t.Errorf("certificate %d is not %s (%v)", i, want[i].Subject, err)
		}
	}
}

func TestConfiguration(t *testing.T) {
	e := newTestEnv(t, false, func(c *Config) {
		c.Issuers = append(c.Issuers, IssuerInfo{IssuerURL: "https://spiffe.example", Audience: "sigstore",
			ChallengeClaim: "sub", Type: "spiffe", SPIFFETrustDomain: "example.org"})
	})
	var got map[string]any
	getJSON(t, e.srv.URL+"/api/v2/configuration", &got)
	want := map[string]any{"issuers": []any{
		map[string]any{"issuerUrl": testIssuer, "audience": "sigstore", "challengeClaim": "email", "issuerType": "email"},
		map[string]any{"issuerUrl": "https://spiffe.example", "audience": "sigstore", "challengeClaim": "sub",
			"issuerType": "spiffe", "spiffeTrustDomain": "example.org"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("configuration\n%v\nwant\n%v", got, want)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, b := do(t, req)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s: %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

var _ crypto.Signer = (*fakeSigner)(nil)

// fakeSigner is a crypto.Signer that is not a concrete key type, as a KMS
// key would be: the CA and the SCT signer must use only the interface.
type fakeSigner struct{ crypto.Signer }

func TestOpaqueSigners(t *testing.T) {
	e := newTestEnv(t, true, func(c *Config) {
		c.Signer = fakeSigner{c.Signer}
		c.CT.Signer = fakeSigner{c.CT.Signer}
	})
	resp, b := e.post(t, keyRequest(t, newECKey(t, elliptic.P256()), "alice@example.com"), emailToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}
