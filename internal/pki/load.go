package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits on what LoadSigner and LoadChain accept. A PEM private key is a few
// kilobytes at most, and a deployment's chains are two or three certificates.
const (
	MaxKeyFileSize   = 64 << 10
	MaxChainFileSize = 1 << 20
	MaxChainLength   = 10
)

// LoadSigner reads the private key at path. It refuses a file whose mode
// lets group or others read or write it, and anything ParseSigner refuses.
func LoadSigner(path string) (crypto.Signer, error) {
	data, err := readFile(path, MaxKeyFileSize, "private key", true)
	if err != nil {
		return nil, err
	}
	key, err := ParseSigner(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// LoadChain reads the certificate chain at path; see ParseChain.
func LoadChain(path string) ([]*x509.Certificate, error) {
	data, err := readFile(path, MaxChainFileSize, "certificate chain", false)
	if err != nil {
		return nil, err
	}
	chain, err := ParseChain(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return chain, nil
}

// readFile reads the regular file at path, of at most limit bytes. With
// private set, it refuses a file that group or others may access. The checks
// are made on the opened file, so they apply to what is read.
func readFile(path string, limit int64, what string, private bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); private && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o and is readable by group or others; run 'chmod 600 %s'",
			what, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s is %d bytes, over the %d-byte limit for a %s file",
			what, path, max(fi.Size(), int64(len(data))), limit, what)
	}
	return data, nil
}

// ParseSigner decodes one PEM private key: PKCS#8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). It refuses encrypted
// keys, keys that cannot sign (such as X25519), and input holding more than
// one PEM block.
func ParseSigner(pemBytes []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New(`no PEM block found (want a "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY")`)
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, errors.New("the key is encrypted; store it unencrypted in a file of mode 0600 " +
			"(decrypt it with 'openssl pkey -in KEY -out KEY.pem')")
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errors.New("more than one PEM block; a key file must hold only the private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf(`PEM block is %q, want "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"`, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign (want an ECDSA, Ed25519 or RSA key)", key)
	}
	return signer, nil
}

// ParseChain decodes a PEM certificate chain: a leaf or issuing CA first,
// then each certificate's issuer, ending with a self-signed root. Text
// outside the PEM blocks is ignored (RFC 7468 allows it); every block must be
// a well-formed "CERTIFICATE", there must be at most MaxChainLength of them,
// and each certificate's signature must verify with the next one's key.
func ParseChain(pemBytes []byte) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(pemBytes)) == 0 {
		return nil, errors.New("empty certificate chain (want PEM CERTIFICATE blocks, leaf or issuing CA first, root last)")
	}
	var chain []*x509.Certificate
	begins := bytes.Count(pemBytes, []byte("-----BEGIN"))
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n := len(chain) + 1
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf(`PEM block %d is %q, want "CERTIFICATE"`, n, block.Type)
		}
		if n > MaxChainLength {
			return nil, fmt.Errorf("more than %d certificates in the chain", MaxChainLength)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		chain = append(chain, cert)
	}
	switch {
	case len(chain) == 0 && begins == 0:
		return nil, errors.New("no PEM certificates found (want CERTIFICATE blocks, leaf or issuing CA first, root last)")
	case len(chain) != begins:
		// pem.Decode skips a block it cannot decode and carries on with the
		// next one; count BEGIN lines so that a damaged block is not lost.
		return nil, fmt.Errorf("%d of %d PEM blocks are malformed (missing END line or bad base64)",
			begins-len(chain), begins)
	}
	if err := checkLinks(chain); err != nil {
		return nil, err
	}
	return chain, nil
}

// checkLinks verifies that each certificate in chain is signed by the next,
// and the last by itself. It does not check validity periods: a server
// loading its chain is not the place to judge time.
func checkLinks(chain []*x509.Certificate) error {
	for i, cert := range chain[:len(chain)-1] {
		parent := chain[i+1]
		if err := cert.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("certificate %d (%s) is not issued by certificate %d (%s): %w; "+
				"list the certificates from the leaf or issuing CA up to the root, in that order",
				i+1, cert.Subject, i+2, parent.Subject, err)
		}
	}
	root := chain[len(chain)-1]
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Errorf("the last certificate (%s) is not a self-signed root: %w; end the chain with the root certificate",
			root.Subject, err)
	}
	return nil
}
