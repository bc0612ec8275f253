package tsa

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"
)

func TestNewAccepts(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			tsa, pki, _ := newTestTSA(t, curve)
			got := tsa.CertChain()
			if len(got) != 2 || !got[0].Equal(pki.leaf) || !got[1].Equal(pki.root) {
				t.Fatalf("CertChain() = %v, want leaf then root", got)
			}
			got[0] = nil // a copy: the TSA's own chain must not change
			if tsa.CertChain()[0] == nil {
				t.Fatal("CertChain returned the TSA's own slice")
			}
			if !tsa.policy.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}) {
				t.Errorf("default policy = %v", tsa.policy)
			}
			if tsa.maxRequestBytes != DefaultMaxRequestBytes {
				t.Errorf("default MaxRequestBytes = %d", tsa.maxRequestBytes)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	good := newPKI(t, goodProfile())
	otherRoot, otherRootKey := newRoot(t, "Other root")
	leafFrom := func(mod func(*leafProfile)) []*x509.Certificate {
		p := goodProfile()
		mod(&p)
		return []*x509.Certificate{newLeaf(t, good.root, good.rootKey, good.leafKey.Public(), p), good.root}
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edLeaf := newLeaf(t, good.root, good.rootKey, edKey.Public(), goodProfile())

	tests := []struct {
		name    string
		signer  crypto.Signer
		chain   []*x509.Certificate
		now     time.Time
		wantErr string
	}{
		{"nil signer", nil, good.chain(), time.Time{}, "signer is nil"},
		{"empty chain", good.leafKey, nil, time.Time{}, "chain is empty"},
		{"nil certificate", good.leafKey, []*x509.Certificate{good.leaf, nil}, time.Time{}, "chain[1] is nil"},
		{"EKU not critical", good.leafKey, leafFrom(func(p *leafProfile) { p.ekuCritical = false }), time.Time{},
			"not marked critical"},
		{"extra EKU", good.leafKey, leafFrom(func(p *leafProfile) {
			p.ekus = []asn1.ObjectIdentifier{oidEKUTimeStamping, oidEKUCodeSigning}
		}), time.Time{}, "has 2 extended key usages"},
		{"extra unknown EKU", good.leafKey, leafFrom(func(p *leafProfile) {
			p.ekus = []asn1.ObjectIdentifier{oidEKUTimeStamping, {1, 2, 3, 4}}
		}), time.Time{}, "has 2 extended key usages"},
		{"no EKU", good.leafKey, leafFrom(func(p *leafProfile) { p.ekus = nil }), time.Time{},
			"has 0 extended key usages"},
		{"codeSigning EKU", good.leafKey, leafFrom(func(p *leafProfile) {
			p.ekus = []asn1.ObjectIdentifier{oidEKUCodeSigning}
		}), time.Time{}, "other than timeStamping"},
		{"leaf is a CA", good.leafKey, leafFrom(func(p *leafProfile) { p.isCA = true }), time.Time{},
			"is a CA certificate"},
		{"key mismatch", newKey(t, elliptic.P256()), good.chain(), time.Time{}, "does not hold the signer's public key"},
		{"broken chain", good.leafKey, []*x509.Certificate{good.leaf, otherRoot}, time.Time{},
			"chain[0] (\"CN=Mosaic test TSA,O=Mosaic test\") is not signed by chain[1] (\"CN=Other root,O=Mosaic test\")"},
		{"reversed chain", good.leafKey, []*x509.Certificate{good.root, good.leaf}, time.Time{},
			"order the chain TSA certificate first, root last"},
		{"no root", good.leafKey, []*x509.Certificate{good.leaf}, time.Time{}, "not a self-signed root"},
		{"expired leaf", good.leafKey, leafFrom(func(p *leafProfile) {
			p.notBefore, p.notAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}), time.Time{}, "is not valid now"},
		{"leaf not yet valid", good.leafKey, good.chain(), good.leaf.NotBefore.Add(-time.Minute), "is not valid now"},
		{"Ed25519 key", edKey, []*x509.Certificate{edLeaf, good.root}, time.Time{}, "key type ed25519.PublicKey is not supported"},
		{"intermediate without timeStamping", good.leafKey,
			intermediateChain(t, good, otherRoot, otherRootKey), time.Time{}, "restricts extended key usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Signer: tc.signer, Chain: tc.chain}
			if !tc.now.IsZero() {
				cfg.Now = func() time.Time { return tc.now }
			}
			tsa, err := New(cfg)
			if err == nil {
				t.Fatalf("New succeeded (%v), want an error containing %q", tsa, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// intermediateChain returns leaf → intermediate → root where the
// intermediate's EKU allows only codeSigning.
func intermediateChain(t *testing.T, good *testPKI, root *x509.Certificate, rootKey crypto.Signer) []*x509.Certificate {
	t.Helper()
	interKey := newKey(t, elliptic.P256())
	tmpl := x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "Code signing intermediate"},
		NotBefore:             root.NotBefore,
		NotAfter:              root.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, root, interKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	leaf := newLeaf(t, inter, interKey, good.leafKey.Public(), goodProfile())
	return []*x509.Certificate{leaf, inter, root}
}
