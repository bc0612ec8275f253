package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// InitOptions configure Init.
type InitOptions struct {
	// Organization is the O= of every certificate subject and the prefix of
	// their common names. Default "Mosaic".
	Organization string
}

// DefaultOrganization is the organization Init uses when none is given.
const DefaultOrganization = "Mosaic"

// Validity periods of the certificates Init issues. Each starts
// clockSkew before Init runs, so that clients whose clocks are a little
// behind the server's still accept them.
const (
	rootValidityYears = 10
	caValidityYears   = 5
	tsaValidityYears  = 5
	clockSkew         = 5 * time.Minute
)

// Modes of what Init creates. The umask can only narrow them.
const (
	dirMode      fs.FileMode = 0o700
	keyFileMode  fs.FileMode = 0o600
	certFileMode fs.FileMode = 0o644
)

var (
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// ErrExists is returned (wrapped, naming the file) when Init finds a file it
// would write.
var ErrExists = errors.New("already exists")

const overwriteHint = "'mosaicd ca init' never overwrites key material; choose another --dir or move the existing files away"

// Init creates dir (mode 0700) if needed and writes a new root CA, issuing
// CA, TSA certificate and certificate log key into it (see the package doc
// for the files). It refuses, before writing anything, if any of the files
// already exists, and removes what it wrote if a later write fails, so a
// failed Init never leaves a partial set behind or changes an existing file.
func Init(dir string, opts InitOptions) (*Files, error) {
	org := opts.Organization
	if org == "" {
		org = DefaultOrganization
	}
	files := filesIn(dir)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	for _, p := range files.List() {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s %w; %s", p, ErrExists, overwriteHint)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("checking %s: %w", p, err)
		}
	}
	m, err := generate(org, time.Now())
	if err != nil {
		return nil, err
	}
	outputs, err := m.encode(files)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, o := range outputs {
		if err := writeNew(o.path, o.data, o.mode); err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
			return nil, err
		}
		written = append(written, o.path)
	}
	return files, nil
}

// material is a freshly generated deployment, before it is written.
type material struct {
	root, ca, tsa    *x509.Certificate
	rootKey, caKey   *ecdsa.PrivateKey
	tsaKey, ctLogKey *ecdsa.PrivateKey
}

// generate creates the keys and certificates for organization org, valid
// from now (less clockSkew).
func generate(org string, now time.Time) (*material, error) {
	start := now.Add(-clockSkew).UTC().Truncate(time.Second)
	m := &material{}
	var err error
	for _, k := range []struct {
		key   **ecdsa.PrivateKey
		curve elliptic.Curve
	}{{&m.rootKey, elliptic.P384()}, {&m.caKey, elliptic.P384()}, {&m.tsaKey, elliptic.P256()}, {&m.ctLogKey, elliptic.P256()}} {
		if *k.key, err = ecdsa.GenerateKey(k.curve, rand.Reader); err != nil {
			return nil, fmt.Errorf("generating key: %w", err)
		}
	}

	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{org}, CommonName: org + " root"},
		NotBefore:             start,
		NotAfter:              start.AddDate(rootValidityYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if m.root, err = issue(rootTmpl, rootTmpl, m.rootKey.Public(), m.rootKey); err != nil {
		return nil, fmt.Errorf("issuing the root certificate: %w", err)
	}

	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{org}, CommonName: org + " issuing CA"},
		NotBefore:             start,
		NotAfter:              start.AddDate(caValidityYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	if m.ca, err = issue(caTmpl, m.root, m.caKey.Public(), m.rootKey); err != nil {
		return nil, fmt.Errorf("issuing the issuing CA certificate: %w", err)
	}

	eku, err := timeStampingEKU()
	if err != nil {
		return nil, err
	}
	tsaTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{org}, CommonName: org + " timestamping"},
		NotBefore:             start,
		NotAfter:              start.AddDate(tsaValidityYears, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtraExtensions:       []pkix.Extension{eku},
	}
	if m.tsa, err = issue(tsaTmpl, m.root, m.tsaKey.Public(), m.rootKey); err != nil {
		return nil, fmt.Errorf("issuing the timestamping certificate: %w", err)
	}
	return m, nil
}

// timeStampingEKU returns the extended key usage extension RFC 3161 section
// 2.3 requires of a TSA certificate: exactly id-kp-timeStamping, critical.
// crypto/x509 would write the extension from ExtKeyUsage as non-critical,
// so it is built here and passed as an extra extension.
func timeStampingEKU() (pkix.Extension, error) {
	value, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding the timeStamping extended key usage: %w", err)
	}
	return pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: value}, nil
}

// issue signs tmpl with parent's key. crypto/x509 fills in a random serial
// number, the subject key ID of CA certificates and the authority key ID.
func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

type output struct {
	path string
	data []byte
	mode fs.FileMode
}

// encode returns the files to write, in the order of files.List().
func (m *material) encode(files *Files) ([]output, error) {
	keys := map[string]*ecdsa.PrivateKey{
		files.RootKey: m.rootKey, files.CAKey: m.caKey, files.TSAKey: m.tsaKey, files.CTLogKey: m.ctLogKey,
	}
	certs := map[string][]*x509.Certificate{
		files.RootCert: {m.root}, files.CAChain: {m.ca, m.root}, files.TSAChain: {m.tsa, m.root},
	}
	var out []output
	for _, p := range files.List() {
		if key, ok := keys[p]; ok {
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return nil, fmt.Errorf("encoding %s: %w", p, err)
			}
			out = append(out, output{p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), keyFileMode})
			continue
		}
		var data []byte
		for _, c := range certs[p] {
			data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		out = append(out, output{p, data, certFileMode})
	}
	return out, nil
}

// writeNew creates path with mode and writes data to it, refusing to replace
// an existing file. On error nothing is left at path.
func writeNew(path string, data []byte, mode fs.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s %w; %s", path, ErrExists, overwriteHint)
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
