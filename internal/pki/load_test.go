package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/pki"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeFile(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file.pem")
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // the umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

func pkcs8(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

type publicKey interface{ Equal(crypto.PublicKey) bool }

func TestParseSignerFormats(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		pem  []byte
		want crypto.PublicKey
	}{
		{"PKCS#8 ECDSA", pkcs8(t, ec), ec.Public()},
		{"PKCS#8 Ed25519", pkcs8(t, ed), ed.Public()},
		{"PKCS#8 RSA", pkcs8(t, rsaKey), rsaKey.Public()},
		{"SEC 1 ECDSA", pemBlock("EC PRIVATE KEY", sec1), ec.Public()},
		{"PKCS#1 RSA", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), rsaKey.Public()},
		{"explanatory text around", append(append([]byte("my key\n"), pkcs8(t, ec)...), "\nend\n"...), ec.Public()},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := pki.ParseSigner(c.pem)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Public().(publicKey).Equal(c.want) {
				t.Error("parsed key differs from the encoded one")
			}
		})
	}
}

func TestParseSignerRefuses(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00000000000000000000000000000000"},
		Bytes:   der})
	truncated := pkcs8(t, ec)
	truncated = truncated[:len(truncated)-30]
	for _, c := range []struct {
		name, input, want string
	}{
		{"empty", "", "no PEM block"},
		{"garbage", "not a key at all", "no PEM block"},
		{"raw DER", string(der), "no PEM block"},
		{"truncated PEM", string(truncated), "no PEM block"},
		{"public key", string(pemBlock("PUBLIC KEY", pub)), `PEM block is "PUBLIC KEY"`},
		{"certificate", string(pemBlock("CERTIFICATE", der)), `PEM block is "CERTIFICATE"`},
		{"encrypted PKCS#8", string(pemBlock("ENCRYPTED PRIVATE KEY", der)), "encrypted"},
		{"encrypted legacy PEM", string(encrypted), "encrypted"},
		{"two keys", string(pkcs8(t, ec)) + string(pkcs8(t, ec)), "more than one PEM block"},
		{"key and certificate", string(pkcs8(t, ec)) + string(pemBlock("CERTIFICATE", der)), "more than one PEM block"},
		{"corrupt DER", string(pemBlock("PRIVATE KEY", der[:len(der)-5])), "parsing PRIVATE KEY"},
		{"PKCS#8 labelled SEC 1", string(pemBlock("EC PRIVATE KEY", der)), "parsing EC PRIVATE KEY"},
		{"PKCS#8 labelled PKCS#1", string(pemBlock("RSA PRIVATE KEY", der)), "parsing RSA PRIVATE KEY"},
		{"X25519 cannot sign", string(pkcs8(t, x25519)), "cannot sign"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := pki.ParseSigner([]byte(c.input))
			if err == nil {
				t.Fatalf("accepted %T", key)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestLoadSignerFileChecks(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := pkcs8(t, ec)
	if _, err := pki.LoadSigner(writeFile(t, good, 0o600)); err != nil {
		t.Fatalf("mode 0600: %v", err)
	}
	if _, err := pki.LoadSigner(writeFile(t, good, 0o400)); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		path := writeFile(t, good, mode)
		_, err := pki.LoadSigner(path)
		if err == nil {
			t.Errorf("mode %04o accepted", mode)
			continue
		}
		if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
			t.Errorf("mode %04o: error %q does not say %q", mode, err, want)
		}
	}

	big := append(bytes.Repeat([]byte("# padding\n"), pki.MaxKeyFileSize/10+1), good...)
	if _, err := pki.LoadSigner(writeFile(t, big, 0o600)); err == nil || !strings.Contains(err.Error(), "65536-byte limit") {
		t.Errorf("oversized key file: got %v, want the limit named", err)
	}
	if _, err := pki.LoadSigner(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: got %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if _, err := pki.LoadSigner(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: got %v, want an error naming it", err)
	}
	if _, err := pki.LoadSigner(writeFile(t, []byte("junk"), 0o600)); err == nil || !strings.Contains(err.Error(), "file.pem") {
		t.Errorf("junk: got %v, want an error naming the file", err)
	}
}

func TestParseChainAccepts(t *testing.T) {
	d := load(t, initDir(t, ""))
	caPEM := chainPEM(d.caChain...)
	for _, c := range []struct {
		name  string
		input []byte
		want  []*x509.Certificate
	}{
		{"issuing CA and root", caPEM, d.caChain},
		{"TSA and root", chainPEM(d.tsaChain...), d.tsaChain},
		{"root alone", chainPEM(d.root), []*x509.Certificate{d.root}},
		{"explanatory text", []byte("subject=issuing CA\n" + string(chainPEM(d.caChain[0])) +
			"subject=root\n" + string(chainPEM(d.root)) + "\n# end\n"), d.caChain},
		{"CRLF line ends", bytes.ReplaceAll(caPEM, []byte("\n"), []byte("\r\n")), d.caChain},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := pki.ParseChain(c.input)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d certificates, want %d", len(got), len(c.want))
			}
			for i := range got {
				if !got[i].Equal(c.want[i]) {
					t.Errorf("certificate %d differs", i+1)
				}
			}
		})
	}
}

func chainPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pemBlock("CERTIFICATE", c.Raw)...)
	}
	return b
}

func TestParseChainRefuses(t *testing.T) {
	d := load(t, initDir(t, ""))
	other := load(t, initDir(t, "Other"))
	ca, tsa, root := d.caChain[0], d.tsaChain[0], d.root
	keyPEM := pkcs8(t, d.ctKey)
	rootPEM := string(chainPEM(root))
	brokenBase64 := strings.Replace(rootPEM, "\n", "\n!!!!\n", 2)
	noEnd := rootPEM[:strings.Index(rootPEM, "-----END")]
	var tooMany []*x509.Certificate
	for range pki.MaxChainLength + 1 {
		tooMany = append(tooMany, root)
	}
	for _, c := range []struct {
		name, input, want string
	}{
		{"empty", "", "empty certificate chain"},
		{"white space", " \n\t\n", "empty certificate chain"},
		{"garbage", "hello, world", "no PEM certificates found"},
		{"raw DER", string(root.Raw), "no PEM certificates found"},
		{"private key", string(keyPEM), `PEM block 1 is "PRIVATE KEY"`},
		{"key after certificates", string(chainPEM(ca, root)) + string(keyPEM), `PEM block 3 is "PRIVATE KEY"`},
		{"not DER", string(pemBlock("CERTIFICATE", []byte("garbage"))), "certificate 1:"},
		{"bad base64", brokenBase64, "1 of 1 PEM blocks are malformed"},
		{"bad base64 between good blocks", string(chainPEM(ca)) + brokenBase64 + rootPEM, "1 of 3 PEM blocks are malformed"},
		{"no END line", noEnd, "1 of 1 PEM blocks are malformed"},
		{"root first", string(chainPEM(root, ca)), "certificate 1 (CN=Mosaic root,O=Mosaic) is not issued by certificate 2"},
		{"root missing", string(chainPEM(ca)), "not a self-signed root"},
		{"TSA leaf alone", string(chainPEM(tsa)), "not a self-signed root"},
		{"another deployment's root", string(chainPEM(ca, other.root)), "is not issued by certificate 2 (CN=Other root,O=Other)"},
		{"TSA under the issuing CA", string(chainPEM(tsa, ca, root)), "not issued by certificate 2"},
		{"too many", string(chainPEM(tooMany...)), "more than 10 certificates"},
	} {
		t.Run(c.name, func(t *testing.T) {
			chain, err := pki.ParseChain([]byte(c.input))
			if err == nil {
				t.Fatalf("accepted a chain of %d", len(chain))
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestLoadChainFileChecks(t *testing.T) {
	files := initDir(t, "")
	if _, err := pki.LoadChain(files.CAChain); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), pki.MaxChainFileSize+1)
	if _, err := pki.LoadChain(writeFile(t, big, 0o644)); err == nil || !strings.Contains(err.Error(), "1048576-byte limit") {
		t.Errorf("oversized chain: got %v, want the limit named", err)
	}
	if _, err := pki.LoadChain(writeFile(t, []byte("junk"), 0o644)); err == nil || !strings.Contains(err.Error(), "file.pem") {
		t.Errorf("junk: got %v, want an error naming the file", err)
	}
}
