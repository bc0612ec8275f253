package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/mosaiclog/mosaic/internal/pki"
)

// caInit writes the key material of a private keyless deployment: a root,
// an issuing CA, a TSA certificate and the certificate log's key.
func caInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ca init", stderr)
	dir := fs.String("dir", "", "directory to create the files in (created with mode 0700; existing files are never overwritten)")
	org := fs.String("organization", "Mosaic", "organization name in the certificates' subjects")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{errors.New("--dir is required")}
	}
	files, err := pki.Init(*dir, pki.InitOptions{Organization: *org})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote keyless key material to %s:\n", *dir)
	for _, f := range files.List() {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	fmt.Fprintf(stdout, "serve with: mosaicd serve --keyless-dir %s --oidc-issuer https://issuer.example.com\n", *dir)
	fmt.Fprintf(stdout, "move %s offline: serving does not need it\n", files.RootKey)
	return nil
}
