package main

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// verifyOutput is `mosaic verify --output json`.
type verifyOutput struct {
	Verified    bool      `json:"verified"`
	Check       string    `json:"failedCheck,omitempty"`
	Error       string    `json:"error,omitempty"`
	SAN         string    `json:"certificateIdentity,omitempty"`
	Issuer      string    `json:"certificateOIDCIssuer,omitempty"`
	SigningTime time.Time `json:"signingTime,omitzero"`
	Digest      string    `json:"digest,omitempty"`
	LogIndex    int64     `json:"logIndex"`
	LogOrigin   string    `json:"logOrigin,omitempty"`
	// PredicateType and Subject describe a verified attestation.
	PredicateType string `json:"predicateType,omitempty"`
	Subject       string `json:"subject,omitempty"`
}

func cmdVerify(e *env, args []string) error {
	fs, output := newFlags(e, "verify", "verify FILE --bundle B --trusted-root T "+
		"[--certificate-identity[-regexp] X --certificate-oidc-issuer[-regexp] Y | --key PUB] [--witness-policy P] [--state DIR | --no-state] [--offline]")
	bundlePath := fs.String("bundle", "", "the Sigstore bundle (JSON) to verify (required)")
	rootPath := fs.String("trusted-root", "", "trusted_root.json naming the logs, CAs and TSAs to trust (required)")
	digest := fs.String("digest", "", "verify against this artifact digest (sha256:<hex>) instead of FILE")
	var p verify.Policy
	fs.StringVar(&p.CertificateIdentity, "certificate-identity", "", "exact SAN (email, URI or username) of a keyless signer")
	fs.StringVar(&p.CertificateIdentityRegexp, "certificate-identity-regexp", "", "regular expression the whole SAN must match")
	fs.StringVar(&p.CertificateOIDCIssuer, "certificate-oidc-issuer", "", "exact OIDC issuer of a keyless signer")
	fs.StringVar(&p.CertificateOIDCIssuerRegexp, "certificate-oidc-issuer-regexp", "", "regular expression the whole issuer must match")
	keyPath := fs.String("key", "", "public key (PEM) of a key-based signer")
	fs.BoolVar(&p.IgnoreSCT, "insecure-ignore-sct", false, "do not require an SCT from a trusted certificate log (INSECURE)")
	fs.StringVar(&p.PredicateType, "predicate-type", "", "require an attestation (DSSE, in-toto) with this predicate type")
	fs.StringVar(&p.SubjectName, "subject-name", "", "require the attestation's subject that is the artifact to have this name")
	var witnesses multiFlag
	fs.Var(&witnesses, "witness", "signed-note verifier key of a witness (repeatable)")
	fs.IntVar(&p.WitnessThreshold, "witness-threshold", 0, "how many --witness cosignatures each checkpoint needs")
	policyPath := fs.String("witness-policy", "", "witness policy file (Tessera's format): the quorum of witnesses that must cosign each checkpoint")
	state := addStateFlags(fs, "state", true)
	pos, err := parse(fs, output, args, 0, 1)
	if err != nil {
		return err
	}
	switch {
	case *bundlePath == "" || *rootPath == "":
		return usagef("--bundle and --trusted-root are required")
	case len(pos) == 1 && *digest != "":
		return usagef("give FILE or --digest, not both")
	case len(pos) == 0 && *digest == "":
		return usagef("missing FILE (or --digest sha256:<hex>)")
	case *keyPath != "" && (p.CertificateIdentity != "" || p.CertificateIdentityRegexp != "" ||
		p.CertificateOIDCIssuer != "" || p.CertificateOIDCIssuerRegexp != ""):
		return usagef("--key verifies a key-based bundle; it does not combine with certificate identity flags")
	case *keyPath == "" && p.CertificateIdentity == "" && p.CertificateIdentityRegexp == "":
		return usagef("a keyless bundle needs --certificate-identity or --certificate-identity-regexp (or give --key PUB)")
	case *keyPath == "" && p.CertificateOIDCIssuer == "" && p.CertificateOIDCIssuerRegexp == "":
		return usagef("a keyless bundle needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp")
	}
	p.Witnesses = witnesses
	if *policyPath != "" {
		if len(witnesses) > 0 || p.WitnessThreshold != 0 {
			return usagef("give --witness-policy or --witness with --witness-threshold, not both")
		}
		if p.WitnessPolicy, err = readWitnessPolicy(*policyPath); err != nil {
			return err
		}
	}
	mem, err := state.memory()
	if err != nil {
		return err
	}
	if *keyPath != "" {
		raw, err := os.ReadFile(*keyPath)
		if err != nil {
			return usagef("--key: %v", err)
		}
		if p.PublicKey, err = cryptoutils.UnmarshalPEMToPublicKey(raw); err != nil {
			return usagef("--key %s: not a PEM public key: %v", *keyPath, err)
		}
	}
	artifact, err := loadArtifact(pos, *digest)
	if err != nil {
		return err
	}
	tr, b, err := loadTrustAndBundle(*rootPath, *bundlePath)
	if err != nil {
		return err
	}
	res, verr := verify.Verify(b, artifact, tr, p)
	if verr == nil && mem != nil {
		verr = rememberEntries(e, state, mem, res.Entries)
	}
	return reportVerify(e, *output, res, verr)
}

// readWitnessPolicy reads a --witness-policy file.
func readWitnessPolicy(path string) (*verify.WitnessPolicy, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--witness-policy: %v", err)
	}
	wp, err := verify.ParseWitnessPolicy(text)
	if err != nil {
		return nil, usagef("--witness-policy %s: %v", path, err)
	}
	return wp, nil
}

// rememberEntries checks each entry's checkpoint against the verifier's
// memory, fetching consistency proofs from the log's tiles under its
// trusted root base URL.
func rememberEntries(e *env, state *stateFlags, mem *verify.DirMemory, entries []*verify.Entry) error {
	for _, en := range entries {
		if err := state.remember(e.ctx, mem, en.Checkpoint, client.TilesURL(en.Log.BaseURL), e.stderr); err != nil {
			return err
		}
	}
	return nil
}

// loadArtifact reads FILE or parses --digest.
func loadArtifact(pos []string, digest string) (verify.Artifact, error) {
	if digest != "" {
		a, err := verify.ParseArtifactDigest(digest)
		if err != nil {
			return verify.Artifact{}, usagef("--digest: %v", err)
		}
		return a, nil
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return verify.Artifact{}, err
	}
	return verify.ArtifactBytes(data), nil
}

// readTrustedRoot reads and parses a trusted_root.json.
func readTrustedRoot(path string) (*verify.TrustedRoot, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tr, err := verify.ParseTrustedRoot(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tr, nil
}

func loadTrustAndBundle(rootPath, bundlePath string) (*verify.TrustedRoot, *verify.Bundle, error) {
	tr, err := readTrustedRoot(rootPath)
	if err != nil {
		return nil, nil, err
	}
	rawBundle, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, nil, err
	}
	b, err := verify.ParseBundle(rawBundle)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", bundlePath, err)
	}
	return tr, b, nil
}

// reportVerify prints the outcome; a failed verification is an error
// naming the check (exit 1).
func reportVerify(e *env, output string, res *verify.Result, verr error) error {
	out := verifyOutput{Verified: verr == nil}
	if verr != nil {
		out.Error = verr.Error()
		var ve *verify.Error
		if errors.As(verr, &ve) {
			out.Check = string(ve.Check)
		}
		if output == "json" {
			_ = emit(e, output, out, nil)
		}
		return fmt.Errorf("verification failed: %w", verr)
	}
	out.SAN, out.Issuer, out.SigningTime = res.SAN, res.Issuer, res.SigningTime
	out.Digest = "sha256:" + hex.EncodeToString(res.Digest)
	if res.DigestAlgorithm.String() != "SHA-256" {
		out.Digest = res.DigestAlgorithm.String() + ":" + hex.EncodeToString(res.Digest)
	}
	out.LogIndex, out.LogOrigin = res.LogIndex, res.LogOrigin
	if res.Subject != nil {
		out.PredicateType, out.Subject = res.PredicateType, res.Subject.Name
	}
	return emit(e, output, out, func(w io.Writer) {
		fmt.Fprintf(w, "Verified OK\n")
		if res.SAN != "" {
			fmt.Fprintf(w, "  signer:       %s (issuer %s)\n", res.SAN, res.Issuer)
		} else {
			fmt.Fprintf(w, "  signer:       key %s\n", keyFingerprint(res.PublicKey))
		}
		if !res.SigningTime.IsZero() {
			fmt.Fprintf(w, "  signed at:    %s (RFC 3161 timestamp)\n", res.SigningTime.UTC().Format(time.RFC3339))
		}
		if res.Subject != nil {
			fmt.Fprintf(w, "  attestation:  predicate type %s, subject %q\n", res.PredicateType, res.Subject.Name)
		}
		fmt.Fprintf(w, "  log entry:    %d in %s\n", res.LogIndex, res.LogOrigin)
	})
}

func keyFingerprint(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "(unknown)"
	}
	return entry.Fingerprint(der)
}
