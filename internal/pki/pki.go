// Package pki owns the key material of a self-hosted keyless deployment: the
// certificate authorities behind mosaicd's Fulcio-compatible CA and RFC 3161
// timestamp authority, and the key of the certificate log whose SCTs the CA
// embeds.
//
// Init (`mosaicd ca init`) writes a complete set into one directory:
//
//	root.pem       root CA certificate (ECDSA P-384, 10 years)
//	root-key.pem   root CA key: needed only to issue new intermediates or TSA
//	               certificates. Move it offline (and delete it from the
//	               server); serving never reads it.
//	ca-chain.pem   issuing CA certificate (ECDSA P-384, 5 years), then the root
//	ca-key.pem     issuing CA key
//	tsa-chain.pem  timestamping certificate (ECDSA P-256, 5 years, signed by
//	               the root), then the root
//	tsa-key.pem    timestamping key
//	ctlog-key.pem  certificate log key (ECDSA P-256)
//
// Keys are PKCS#8 PEM files created with mode 0600; certificates are PEM with
// mode 0644. Existing files are never overwritten.
//
// LoadSigner and LoadChain read these files, or ones an operator made with
// another CA, and check what a server needs before it starts: that a key file
// is private to its owner, and that a chain is ordered and signed link by link
// up to a self-signed root.
package pki

import "path/filepath"

// File names Init writes in its directory. mosaicd's --keyless-dir finds the
// files by these names.
const (
	RootCertFile = "root.pem"
	RootKeyFile  = "root-key.pem"
	CAChainFile  = "ca-chain.pem"
	CAKeyFile    = "ca-key.pem"
	TSAChainFile = "tsa-chain.pem"
	TSAKeyFile   = "tsa-key.pem"
	CTLogKeyFile = "ctlog-key.pem"
)

// Files are the paths of the files Init wrote.
type Files struct {
	// Dir is the directory holding all of them.
	Dir string
	// RootCert is the self-signed root certificate.
	RootCert string
	// RootKey is the root's private key. Serving never needs it: move it
	// offline once the deployment works.
	RootKey string
	// CAChain (issuing CA, then root) and CAKey serve /api/v2/signingCert.
	CAChain, CAKey string
	// TSAChain (timestamping certificate, then root) and TSAKey serve
	// /api/v1/timestamp.
	TSAChain, TSAKey string
	// CTLogKey signs the certificate log's checkpoints and SCTs.
	CTLogKey string
}

// filesIn returns the paths Init uses in dir.
func filesIn(dir string) *Files {
	return &Files{
		Dir:      dir,
		RootCert: filepath.Join(dir, RootCertFile),
		RootKey:  filepath.Join(dir, RootKeyFile),
		CAChain:  filepath.Join(dir, CAChainFile),
		CAKey:    filepath.Join(dir, CAKeyFile),
		TSAChain: filepath.Join(dir, TSAChainFile),
		TSAKey:   filepath.Join(dir, TSAKeyFile),
		CTLogKey: filepath.Join(dir, CTLogKeyFile),
	}
}

// List returns every path in f, in the order Init writes them.
func (f *Files) List() []string {
	return []string{f.RootCert, f.RootKey, f.CAChain, f.CAKey, f.TSAChain, f.TSAKey, f.CTLogKey}
}
