package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pki"
	tsax509 "github.com/sigstore/timestamp-authority/v2/pkg/x509"
)

// initDir runs Init in a fresh directory.
func initDir(t testing.TB, org string) *pki.Files {
	t.Helper()
	files, err := pki.Init(filepath.Join(t.TempDir(), "keyless"), pki.InitOptions{Organization: org})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// deployment is what Init wrote, loaded back with LoadChain and LoadSigner.
type deployment struct {
	root                          *x509.Certificate
	caChain, tsaChain             []*x509.Certificate
	rootKey, caKey, tsaKey, ctKey crypto.Signer
}

func load(t testing.TB, files *pki.Files) deployment {
	t.Helper()
	var d deployment
	rootChain := loadChain(t, files.RootCert)
	if len(rootChain) != 1 {
		t.Fatalf("%s holds %d certificates, want 1", files.RootCert, len(rootChain))
	}
	d.root = rootChain[0]
	d.caChain = loadChain(t, files.CAChain)
	d.tsaChain = loadChain(t, files.TSAChain)
	for _, k := range []struct {
		dst  *crypto.Signer
		path string
	}{{&d.rootKey, files.RootKey}, {&d.caKey, files.CAKey}, {&d.tsaKey, files.TSAKey}, {&d.ctKey, files.CTLogKey}} {
		key, err := pki.LoadSigner(k.path)
		if err != nil {
			t.Fatal(err)
		}
		*k.dst = key
	}
	return d
}

func loadChain(t testing.TB, path string) []*x509.Certificate {
	t.Helper()
	chain, err := pki.LoadChain(path)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func TestInitWritesLoadableFiles(t *testing.T) {
	files := initDir(t, "")
	fi, err := os.Stat(files.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("directory mode %04o, want 0700", perm)
	}
	for _, p := range []string{files.RootKey, files.CAKey, files.TSAKey, files.CTLogKey} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", p, perm)
		}
	}
	if got, want := len(files.List()), 7; got != want {
		t.Errorf("List() has %d files, want %d", got, want)
	}
	for _, p := range files.List() {
		if filepath.Dir(p) != files.Dir {
			t.Errorf("%s is not in %s", p, files.Dir)
		}
	}

	d := load(t, files)
	if len(d.caChain) != 2 || !d.caChain[1].Equal(d.root) {
		t.Errorf("ca-chain.pem should be the issuing CA then root.pem")
	}
	if len(d.tsaChain) != 2 || !d.tsaChain[1].Equal(d.root) {
		t.Errorf("tsa-chain.pem should be the TSA certificate then root.pem")
	}
	for _, pair := range []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
	}{{"root", d.root, d.rootKey}, {"issuing CA", d.caChain[0], d.caKey}, {"TSA", d.tsaChain[0], d.tsaKey}} {
		if !pair.key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pair.cert.PublicKey) {
			t.Errorf("%s key does not match its certificate", pair.name)
		}
	}
	for _, k := range []struct {
		name  string
		key   crypto.Signer
		curve elliptic.Curve
	}{{"root", d.rootKey, elliptic.P384()}, {"issuing CA", d.caKey, elliptic.P384()},
		{"TSA", d.tsaKey, elliptic.P256()}, {"certificate log", d.ctKey, elliptic.P256()}} {
		ec, ok := k.key.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != k.curve {
			t.Errorf("%s key is %T, want ECDSA %s", k.name, k.key, k.curve.Params().Name)
		}
	}
}

func TestInitCertificateProfiles(t *testing.T) {
	before := time.Now()
	d := load(t, initDir(t, "Example Corp"))
	root, ca, tsa := d.root, d.caChain[0], d.tsaChain[0]

	for _, c := range []struct {
		name       string
		cert       *x509.Certificate
		cn         string
		isCA       bool
		maxPathLen int
		keyUsage   x509.KeyUsage
		years      int
	}{
		{"root", root, "Example Corp root", true, 1, x509.KeyUsageCertSign | x509.KeyUsageCRLSign, 10},
		{"issuing CA", ca, "Example Corp issuing CA", true, 0, x509.KeyUsageCertSign, 5},
		{"TSA", tsa, "Example Corp timestamping", false, -1, x509.KeyUsageDigitalSignature, 5},
	} {
		cert := c.cert
		if got := cert.Subject.Organization; !slices.Equal(got, []string{"Example Corp"}) {
			t.Errorf("%s: O=%q", c.name, got)
		}
		if cert.Subject.CommonName != c.cn {
			t.Errorf("%s: CN=%q, want %q", c.name, cert.Subject.CommonName, c.cn)
		}
		if !cert.BasicConstraintsValid || cert.IsCA != c.isCA {
			t.Errorf("%s: IsCA=%v (basic constraints valid %v), want %v", c.name, cert.IsCA, cert.BasicConstraintsValid, c.isCA)
		}
		if c.isCA && (cert.MaxPathLen != c.maxPathLen || (c.maxPathLen == 0 && !cert.MaxPathLenZero)) {
			t.Errorf("%s: MaxPathLen=%d (zero %v), want %d", c.name, cert.MaxPathLen, cert.MaxPathLenZero, c.maxPathLen)
		}
		if cert.KeyUsage != c.keyUsage {
			t.Errorf("%s: KeyUsage=%v, want %v", c.name, cert.KeyUsage, c.keyUsage)
		}
		if !cert.NotBefore.Before(before) {
			t.Errorf("%s: NotBefore %v is not before Init ran (%v)", c.name, cert.NotBefore, before)
		}
		if want := cert.NotBefore.AddDate(c.years, 0, 0); !cert.NotAfter.Equal(want) {
			t.Errorf("%s: NotAfter %v, want %v (%d years)", c.name, cert.NotAfter, want, c.years)
		}
	}
	if !bytes.Equal(ca.AuthorityKeyId, root.SubjectKeyId) || !bytes.Equal(tsa.AuthorityKeyId, root.SubjectKeyId) {
		t.Error("authority key IDs do not name the root")
	}
	if ca.SerialNumber.Cmp(tsa.SerialNumber) == 0 || ca.SerialNumber.Cmp(root.SerialNumber) == 0 {
		t.Error("certificates share a serial number")
	}
}

func TestInitChainsVerify(t *testing.T) {
	d := load(t, initDir(t, ""))
	roots := x509.NewCertPool()
	roots.AddCert(d.root)

	// The issuing CA issues code-signing leaves, as the Fulcio-compatible CA
	// does; x509.Verify must accept them under the root.
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leaf := issue(t, &x509.Certificate{
		NotBefore: now, NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{"alice@example.com"},
	}, d.caChain[0], &leafKey.PublicKey, d.caKey)
	intermediates := x509.NewCertPool()
	intermediates.AddCert(d.caChain[0])
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}); err != nil {
		t.Errorf("leaf issued by the issuing CA does not verify: %v", err)
	}

	// Path length limits (0 on the issuing CA, 1 on the root): a CA under the
	// issuing CA must not verify.
	subCAKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	subCA := issue(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "sub CA"},
		NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, d.caChain[0], &subCAKey.PublicKey, d.caKey)
	subLeaf := issue(t, &x509.Certificate{
		NotBefore: now, NotAfter: now.Add(10 * time.Minute), KeyUsage: x509.KeyUsageDigitalSignature,
	}, subCA, &leafKey.PublicKey, subCAKey)
	intermediates.AddCert(subCA)
	if _, err := subLeaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("a CA below the issuing CA verified; path length limits are not enforced")
	}

	// The TSA certificate verifies for timestamping, directly under the root.
	tsa := d.tsaChain[0]
	if _, err := tsa.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		t.Errorf("TSA certificate does not verify for timestamping: %v", err)
	}
	if _, err := tsa.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err == nil {
		t.Error("TSA certificate verifies for code signing; its only EKU must be timeStamping")
	}
	if !slices.Equal(tsa.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) || len(tsa.UnknownExtKeyUsage) != 0 {
		t.Errorf("TSA EKUs %v + unknown %v, want exactly timeStamping", tsa.ExtKeyUsage, tsa.UnknownExtKeyUsage)
	}
	var ekus int
	for _, ext := range tsa.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			ekus++
			if !ext.Critical {
				t.Error("TSA extended key usage extension is not critical (RFC 3161 section 2.3)")
			}
		}
	}
	if ekus != 1 {
		t.Errorf("TSA certificate has %d extended key usage extensions, want 1", ekus)
	}
	// The timestamp-authority project's own check of a TSA chain.
	if err := tsax509.VerifyCertChain(d.tsaChain, d.tsaKey, true); err != nil {
		t.Errorf("timestamp-authority rejects the TSA chain: %v", err)
	}
}

func issue(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestInitNeverOverwrites(t *testing.T) {
	files := initDir(t, "")
	before := snapshot(t, files.Dir)

	_, err := pki.Init(files.Dir, pki.InitOptions{})
	if !errors.Is(err, pki.ErrExists) || !strings.Contains(err.Error(), files.RootCert) {
		t.Fatalf("second Init: got %v, want an error naming %s", err, files.RootCert)
	}
	if after := snapshot(t, files.Dir); !maps.Equal(before, after) {
		t.Error("second Init changed the directory")
	}

	// One file in the way is enough to refuse, and nothing else is written.
	dir := t.TempDir()
	existing := filepath.Join(dir, pki.CTLogKeyFile)
	if err := os.WriteFile(existing, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = pki.Init(dir, pki.InitOptions{})
	if !errors.Is(err, pki.ErrExists) || !strings.Contains(err.Error(), existing) {
		t.Fatalf("Init over %s: got %v, want an error naming it", existing, err)
	}
	if got := snapshot(t, dir); len(got) != 1 || got[pki.CTLogKeyFile] != "mine" {
		t.Errorf("Init left %d files behind after refusing", len(got))
	}
}

// snapshot returns the names and contents of the files in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func TestInitFailsOnUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(parent, 0o700) })
	if _, err := pki.Init(filepath.Join(parent, "keys"), pki.InitOptions{}); err == nil {
		t.Fatal("Init succeeded in a directory it cannot create")
	}
}
