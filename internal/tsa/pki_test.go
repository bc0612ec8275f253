package tsa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

var (
	oidEKUTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidEKUCodeSigning  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
)

// testPKI is a root CA and a TSA certificate it issued.
type testPKI struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey
	leaf    *x509.Certificate
	leafKey *ecdsa.PrivateKey
}

// chain is the TSA chain, leaf first.
func (p *testPKI) chain() []*x509.Certificate { return []*x509.Certificate{p.leaf, p.root} }

// leafProfile describes the TSA certificate to issue.
type leafProfile struct {
	curve elliptic.Curve
	// ekus is the EKU extension's content; empty leaves the extension out.
	ekus        []asn1.ObjectIdentifier
	ekuCritical bool
	notBefore   time.Time
	notAfter    time.Time
	isCA        bool
}

// goodProfile is what New accepts: one critical timeStamping EKU, valid
// for an hour either side of now.
func goodProfile() leafProfile {
	now := time.Now()
	return leafProfile{
		curve:       elliptic.P256(),
		ekus:        []asn1.ObjectIdentifier{oidEKUTimeStamping},
		ekuCritical: true,
		notBefore:   now.Add(-time.Hour),
		notAfter:    now.Add(time.Hour),
	}
}

func newKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// newRoot makes a self-signed ECDSA P-384 root CA.
func newRoot(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t, elliptic.P384())
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Mosaic test"}},
		NotBefore:             time.Now().Add(-24 * time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// newLeaf issues a TSA certificate for pub from parent.
func newLeaf(t testing.TB, parent *x509.Certificate, parentKey crypto.Signer, pub crypto.PublicKey, p leafProfile) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "Mosaic test TSA", Organization: []string{"Mosaic test"}},
		NotBefore:             p.notBefore,
		NotAfter:              p.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  p.isCA,
	}
	if len(p.ekus) > 0 {
		value, err := asn1.Marshal(p.ekus)
		if err != nil {
			t.Fatal(err)
		}
		// crypto/x509 writes a non-critical EKU extension from ExtKeyUsage;
		// an ExtraExtensions entry replaces it with the criticality we want.
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidExtKeyUsage, Critical: p.ekuCritical, Value: value}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// newPKI makes a root and a TSA certificate with profile p.
func newPKI(t testing.TB, p leafProfile) *testPKI {
	t.Helper()
	root, rootKey := newRoot(t, "Mosaic test root")
	leafKey := newKey(t, p.curve)
	return &testPKI{root: root, rootKey: rootKey, leafKey: leafKey,
		leaf: newLeaf(t, root, rootKey, leafKey.Public(), p)}
}

// newTestTSA makes a TSA over a fresh PKI with the good profile on curve.
func newTestTSA(t testing.TB, curve elliptic.Curve) (*TSA, *testPKI, *Metrics) {
	t.Helper()
	p := goodProfile()
	p.curve = curve
	pki := newPKI(t, p)
	m := NewMetrics()
	tsa, err := New(Config{Signer: pki.leafKey, Chain: pki.chain(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return tsa, pki, m
}
