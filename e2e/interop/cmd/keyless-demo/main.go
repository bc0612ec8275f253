// Command keyless-demo shows Mosaic's keyless flow with the unmodified
// sigstore-go client (make demo runs it against a fresh mosaicd):
//
//	keyless-demo sign   --url URL --file F --email E --out DIR
//	keyless-demo verify --trusted-root DIR/trusted_root.json --bundle DIR/F.sigstore.json --file F --email E --issuer ISS
//
// sign fetches the deployment's trusted_root.json and signing_config.json
// into DIR, gets a token from the development issuer, and signs F with an
// ephemeral key. verify uses files only: it makes no network request.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaiclog/mosaic/e2e/interop/keyless"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: keyless-demo sign|verify [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "sign":
		err = signCmd(os.Args[2:])
	case "verify":
		err = verifyCmd(os.Args[2:])
	case "ready":
		err = readyCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want sign or verify", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyless-demo:", err)
		os.Exit(1)
	}
}

// readyCmd reports (exit 0) whether URL/readyz answers 200.
func readyCmd(args []string) error {
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:3000", "mosaicd base URL")
	_ = fs.Parse(args)
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(*base + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/readyz: %s", *base, resp.Status)
	}
	return nil
}

func signCmd(args []string) error {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:3000", "mosaicd base URL")
	file := fs.String("file", "", "file to sign")
	email := fs.String("email", "demo@mosaic.example", "identity to request from the development issuer")
	out := fs.String("out", ".", "directory for trusted_root.json, signing_config.json and the bundle")
	_ = fs.Parse(args)
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	fmt.Printf("1. fetching trusted_root.json and signing_config.json from %s\n", *base)
	cfg, err := keyless.FetchConfig(ctx, *base)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "trusted_root.json"), cfg.TrustedRoot, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "signing_config.json"), cfg.SigningConfig, 0o644); err != nil {
		return err
	}
	fmt.Printf("2. getting an identity token for %s from the development issuer (INSECURE, demo only)\n", *email)
	token, err := keyless.DevToken(ctx, *base, *email)
	if err != nil {
		return err
	}
	fmt.Println("3. signing with an ephemeral key: certificate from Mosaic's CA, timestamp from its TSA, entry in its log")
	start := time.Now()
	b, err := keyless.Sign(ctx, cfg, token, data)
	if err != nil {
		return err
	}
	path := filepath.Join(*out, filepath.Base(*file)+".sigstore.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("   signed in %s; the key is gone; bundle written to %s\n", time.Since(start).Round(time.Millisecond), path)
	return nil
}

func verifyCmd(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	trPath := fs.String("trusted-root", "trusted_root.json", "trusted root file")
	bundlePath := fs.String("bundle", "", "Sigstore bundle file")
	file := fs.String("file", "", "signed file")
	email := fs.String("email", "demo@mosaic.example", "expected signer identity (exact)")
	issuer := fs.String("issuer", "", "expected OIDC issuer (exact)")
	_ = fs.Parse(args)
	tr, err := os.ReadFile(*trPath)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*bundlePath)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	fmt.Println("4. verifying offline with sigstore-go: certificate chain + SCT, timestamp, inclusion proof, identity")
	res, err := keyless.Verify(tr, b, data, *email, *issuer)
	if err != nil {
		return fmt.Errorf("verification FAILED: %w", err)
	}
	fmt.Printf("   OK: signed by %s (issuer %s), log index %d, %d verified timestamp(s)\n",
		res.SAN, res.Issuer, res.LogIndex, res.Timestamps)
	return nil
}
