package main

import (
	"fmt"
	"os"

	"github.com/mosaiclog/mosaic/internal/trustroot"
)

// cmdTrustedRootCreate writes a trusted_root.json from cosign v3's
// `trusted-root create` flags.
func cmdTrustedRootCreate(e *env, args []string) error {
	fs, output := newFlags(e, "trusted-root create", "trusted-root create [--fulcio SPEC] [--rekor SPEC] [--ctfe SPEC] [--tsa SPEC] [--out FILE]")
	var s trustroot.TrustedRootSpecs
	fs.Var((*multiFlag)(&s.Fulcio), "fulcio", "CA: url=URL,certificate-chain=PEM[,start-time=RFC3339][,end-time=RFC3339] (repeatable)")
	fs.Var((*multiFlag)(&s.Rekor), "rekor", "log: url=URL,public-key=PEM,start-time=RFC3339[,end-time=][,origin=] (repeatable)")
	fs.Var((*multiFlag)(&s.CTFE), "ctfe", "certificate log: url=URL,public-key=PEM,start-time=RFC3339[,end-time=][,origin=] (repeatable)")
	fs.Var((*multiFlag)(&s.TSA), "tsa", "timestamp authority: url=URL,certificate-chain=PEM[,start-time=][,end-time=] (repeatable)")
	out := fs.String("out", "", "write here instead of stdout")
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	raw, err := trustroot.CreateTrustedRoot(s, os.ReadFile)
	if err != nil {
		return usageError{err}
	}
	return writeOut(e, *out, raw)
}

// cmdSigningConfigCreate writes a signing_config.json (v0.2) from cosign
// v3's `signing-config create` flags.
func cmdSigningConfigCreate(e *env, args []string) error {
	fs, output := newFlags(e, "signing-config create", "signing-config create [--fulcio SPEC] [--rekor SPEC --rekor-config C] "+
		"[--oidc-provider SPEC] [--tsa SPEC --tsa-config C] [--out FILE]")
	var s trustroot.SigningConfigSpecs
	spec := "url=URL,api-version=N,start-time=RFC3339,operator=NAME[,end-time=RFC3339] (repeatable)"
	fs.Var((*multiFlag)(&s.Fulcio), "fulcio", "CA: "+spec)
	fs.Var((*multiFlag)(&s.Rekor), "rekor", "log: "+spec)
	fs.Var((*multiFlag)(&s.OIDC), "oidc-provider", "OIDC provider: "+spec)
	fs.Var((*multiFlag)(&s.TSA), "tsa", "timestamp authority: "+spec)
	fs.StringVar(&s.RekorConfig, "rekor-config", "", "which logs a signer uses: ANY, ALL or EXACT:<count> (required with --rekor)")
	fs.StringVar(&s.TSAConfig, "tsa-config", "", "which TSAs a signer uses: ANY, ALL or EXACT:<count> (required with --tsa)")
	out := fs.String("out", "", "write here instead of stdout")
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	raw, err := trustroot.CreateSigningConfig(s)
	if err != nil {
		return usageError{err}
	}
	return writeOut(e, *out, raw)
}

func writeOut(e *env, path string, raw []byte) error {
	if path == "" {
		_, err := e.stdout.Write(raw)
		return err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", path)
	return nil
}
