package main

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mosaiclog/mosaic/pkg/note"
)

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stderr)
	out := fs.String("out", "", "file to write the private key to (PKCS#8 PEM, created with mode 0600; never overwritten)")
	alg := fs.String("algorithm", string(note.Ed25519), "key algorithm: ed25519 or ecdsa-p256")
	origin := fs.String("origin", "", "checkpoint origin, to print the log ID and verifier key (default: from --public-url)")
	publicURL := fs.String("public-url", "http://127.0.0.1:3000", "the log's public base URL, from which the origin is derived")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{errors.New("--out is required")}
	}
	o, err := resolveOrigin(*origin, *publicURL)
	if err != nil {
		return usageError{err}
	}
	key, err := note.GenerateKey(note.Algorithm(*alg))
	if err != nil {
		return usageError{err}
	}
	if err := writeKeyFile(*out, key); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s private key to %s (mode 0600)\n", *alg, *out)
	return printKeyInfo(stdout, o, key.Public())
}

// writeKeyFile writes key to path with mode 0600, refusing to overwrite.
func writeKeyFile(path string, key crypto.Signer) error {
	pemBytes, err := note.MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite a signing key", path)
		}
		return fmt.Errorf("creating key file: %w", err)
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		return fmt.Errorf("writing key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing key file: %w", err)
	}
	return f.Close()
}

// printKeyInfo prints what a verifier needs: the public key, the log ID and
// (for Ed25519) the signed-note verifier key. The log ID is in standard
// base64, as trusted_root.json's logId.keyId and 'mosaic log info' spell it.
func printKeyInfo(w io.Writer, origin string, pub crypto.PublicKey) error {
	pubPEM, err := note.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	logID, err := note.LogID(origin, pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s", pubPEM)
	fmt.Fprintf(w, "origin: %s\n", origin)
	fmt.Fprintf(w, "log ID: %s\n", base64.StdEncoding.EncodeToString(logID))
	if vkey, err := note.VerifierKey(origin, pub); err == nil {
		fmt.Fprintf(w, "vkey: %s\n", vkey)
	}
	return nil
}
