package main

import (
	"crypto"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/sign"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
)

// signOutput is `mosaic sign --output json`.
type signOutput struct {
	Bundle     string `json:"bundle"`
	LogIndex   int64  `json:"logIndex"`
	LogID      []byte `json:"logId"`
	TreeSize   int64  `json:"treeSize"`
	Timestamps int    `json:"timestamps"`
	Keyless    bool   `json:"keyless"`
	// PredicateType is set for an attestation (mosaic attest).
	PredicateType string `json:"predicateType,omitempty"`
}

func cmdSign(e *env, args []string) error {
	fs, output := newFlags(e, "sign", "sign FILE --bundle OUT [--url URL | --signing-config F | --ca-url U --log-url U --tsa-url U] "+
		"[--identity-token T | --key KEY]")
	bundlePath := fs.String("bundle", "", "where to write the Sigstore bundle (required)")
	sf := addSignerFlags(fs)
	pos, err := parse(fs, output, args, 1, 1)
	if err != nil {
		return err
	}
	if *bundlePath == "" {
		return usagef("--bundle is required")
	}
	s, err := sf.signer(e)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var b *protobundle.Bundle
	if sf.keyPath != "" {
		key, err := loadSigningKey(sf.keyPath, sf.keyPassEnv)
		if err != nil {
			return err
		}
		b, err = s.SignWithKey(e.ctx, key, f)
		if err != nil {
			return err
		}
	} else {
		tok, err := sign.ResolveToken(sf.token)
		if err != nil {
			return usagef("identity token: %v", err)
		}
		if b, err = s.SignKeyless(e.ctx, tok, f); err != nil {
			return err
		}
	}
	return writeBundle(e, *output, *bundlePath, b, sf.keyPath == "", "")
}

// signerFlags are the flags that choose the services and the key, shared
// by sign and attest.
type signerFlags struct {
	baseURL, scPath, caURL     string
	logURLs, tsaURLs           multiFlag
	token, keyPath, keyPassEnv string
	keyAlg                     string
	timeout                    time.Duration
}

func addSignerFlags(fs *flag.FlagSet) *signerFlags {
	f := &signerFlags{}
	fs.StringVar(&f.baseURL, "url", "", "a Mosaic deployment: its signing config is fetched from URL/api/v2/signingConfig (default $MOSAIC_URL or http://127.0.0.1:3000 when no other service flag is given)")
	fs.StringVar(&f.scPath, "signing-config", "", "a Sigstore signing_config.json (v0.2) naming the CA, logs and TSAs")
	fs.StringVar(&f.caURL, "ca-url", "", "Fulcio-compatible CA base URL")
	fs.Var(&f.logURLs, "log-url", "Rekor v2 log base URL (repeatable)")
	fs.Var(&f.tsaURLs, "tsa-url", "RFC 3161 timestamp URL (repeatable; keyless bundles need one to verify)")
	fs.StringVar(&f.token, "identity-token", "", "OIDC identity token, or a file holding one (default $SIGSTORE_ID_TOKEN)")
	fs.StringVar(&f.keyPath, "key", "", "sign with this private key (PEM) instead of an ephemeral key and certificate")
	fs.StringVar(&f.keyPassEnv, "key-password-env", "", "environment variable holding --key's password, if encrypted")
	fs.StringVar(&f.keyAlg, "key-algorithm", string(sign.ECDSAP256), "ephemeral key type: ecdsa-p256 or ed25519")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-request timeout")
	return f
}

// signer builds the Signer the flags describe.
func (f *signerFlags) signer(e *env) (*sign.Signer, error) {
	cfg, err := signConfig(e, f.baseURL, f.scPath, f.caURL, f.logURLs, f.tsaURLs)
	if err != nil {
		return nil, err
	}
	cfg.KeyAlgorithm = sign.KeyAlgorithm(f.keyAlg)
	cfg.ClientOptions = append(cfg.ClientOptions, client.WithTimeout(f.timeout))
	s, err := sign.New(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	return s, nil
}

// signConfig picks the services: explicit URLs, a signing config file, or
// the signing config a Mosaic deployment serves.
func signConfig(e *env, baseURL, scPath, caURL string, logURLs, tsaURLs []string) (sign.Config, error) {
	explicit := caURL != "" || len(logURLs) > 0 || len(tsaURLs) > 0
	sources := 0
	for _, set := range []bool{baseURL != "", scPath != "", explicit} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return sign.Config{}, usagef("give one of --url, --signing-config, or --ca-url/--log-url/--tsa-url")
	}
	switch {
	case explicit:
		return sign.Config{CAURL: caURL, LogURLs: logURLs, TSAURLs: tsaURLs}, nil
	case scPath != "":
		raw, err := os.ReadFile(scPath)
		if err != nil {
			return sign.Config{}, err
		}
		sc, err := sign.ParseSigningConfig(raw)
		if err != nil {
			return sign.Config{}, fmt.Errorf("%s: %w", scPath, err)
		}
		return sign.ConfigFromSigningConfig(sc, time.Now())
	}
	if baseURL == "" {
		baseURL = defaultURL()
	}
	c, err := client.New(baseURL)
	if err != nil {
		return sign.Config{}, usagef("--url: %v", err)
	}
	sc, _, err := c.SigningConfig(e.ctx)
	if err != nil {
		return sign.Config{}, fmt.Errorf("fetching the signing config of %s: %w", baseURL, err)
	}
	return sign.ConfigFromSigningConfig(sc, time.Now())
}

// loadSigningKey reads a PEM private key, decrypting it with the password
// in $passEnv when given.
func loadSigningKey(path, passEnv string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--key: %v", err)
	}
	var pass []byte
	if passEnv != "" {
		pass = []byte(os.Getenv(passEnv))
	}
	key, err := sign.LoadPrivateKey(raw, pass)
	if err != nil {
		return nil, usagef("--key %s: %v", path, err)
	}
	return key, nil
}

// writeBundle writes b to path and reports it; predicateType is set for
// an attestation.
func writeBundle(e *env, output, path string, b *protobundle.Bundle, keyless bool, predicateType string) error {
	raw, err := sign.MarshalBundle(b)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return err
	}
	tle := b.GetVerificationMaterial().GetTlogEntries()[0]
	out := signOutput{
		Bundle: path, LogIndex: tle.GetLogIndex(), LogID: tle.GetLogId().GetKeyId(),
		TreeSize: tle.GetInclusionProof().GetTreeSize(), Keyless: keyless,
		Timestamps:    len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()),
		PredicateType: predicateType,
	}
	return emit(e, output, out, func(w io.Writer) {
		how := "with your key"
		if keyless {
			how = "with an ephemeral key (now destroyed) and a short-lived certificate"
		}
		what := "Signed"
		if predicateType != "" {
			what = fmt.Sprintf("Attested (in-toto statement, predicate type %s, in a DSSE envelope)", predicateType)
		}
		fmt.Fprintf(w, "%s %s; logged at index %d (tree size %d); %d timestamp(s)\nWrote bundle to %s\n",
			what, how, out.LogIndex, out.TreeSize, out.Timestamps, strings.TrimSpace(path))
	})
}
