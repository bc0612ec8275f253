package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/cmdline"
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/server"
)

// keylessConfig is the flags of the optional keyless services.
type keylessConfig struct {
	dir              string
	caChain, caKey   string
	caValidity       time.Duration
	ctlogKey         string
	tsaChain, tsaKey string
	oidcIssuers      []string
	devOIDC          bool
}

func keylessFlags(fs *flag.FlagSet, c *keylessConfig) {
	fs.StringVar(&c.dir, "keyless-dir", "", "directory written by 'mosaicd ca init': enables the CA (with its certificate log) and the TSA from the files found there")
	fs.StringVar(&c.caChain, "ca-chain", "", "CA: issuing CA certificate then its parents up to the root, PEM (enables /api/v2/signingCert)")
	fs.StringVar(&c.caKey, "ca-key", "", "CA: the issuing CA's private key, PEM, mode 0600")
	fs.DurationVar(&c.caValidity, "ca-validity", 10*time.Minute, "CA: lifetime of issued certificates")
	fs.StringVar(&c.ctlogKey, "ctlog-key", "", "CA: ECDSA P-256 key, PEM, mode 0600, of the certificate log that every issued certificate is appended to and whose SCT it embeds")
	fs.StringVar(&c.tsaChain, "tsa-chain", "", "TSA: timestamping certificate then its parents up to the root, PEM (enables /api/v1/timestamp)")
	fs.StringVar(&c.tsaKey, "tsa-key", "", "TSA: the timestamping key, PEM, mode 0600")
	fs.Var(cmdline.Repeatable(func(s string) error {
		for _, spec := range strings.Fields(s) {
			if _, err := oidc.ParseIssuer(spec); err != nil {
				return err
			}
			c.oidcIssuers = append(c.oidcIssuers, spec)
		}
		return nil
	}), "oidc-issuer", "CA: accepted OIDC issuer, repeatable: URL[,client-id=ID][,type=email|uri|username][,domain=D] "+
		"(environment: several separated by spaces; configuration file: a list)")
	fs.BoolVar(&c.devOIDC, "dev-oidc", false, "INSECURE, demos and tests only: serve a development OIDC issuer under /dev-oidc that mints tokens for any identity, and accept its tokens")
}

// resolve fills the file flags not given from --keyless-dir, and checks that
// the flags come in working sets.
func (c *keylessConfig) resolve() error {
	if c.dir != "" {
		fill := func(p *string, name string) error {
			if *p != "" {
				return nil
			}
			path := filepath.Join(c.dir, name)
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("--keyless-dir %s: %w (create the directory with 'mosaicd ca init --dir %s')", c.dir, err, c.dir)
			}
			*p = path
			return nil
		}
		for _, f := range []struct {
			p    *string
			name string
		}{{&c.caChain, pki.CAChainFile}, {&c.caKey, pki.CAKeyFile}, {&c.ctlogKey, pki.CTLogKeyFile},
			{&c.tsaChain, pki.TSAChainFile}, {&c.tsaKey, pki.TSAKeyFile}} {
			if err := fill(f.p, f.name); err != nil {
				return err
			}
		}
	}
	switch {
	case (c.caChain == "") != (c.caKey == ""):
		return errors.New("--ca-chain and --ca-key go together")
	case c.caChain != "" && c.ctlogKey == "":
		return errors.New("--ca-chain needs --ctlog-key: every certificate is logged and carries an SCT (cosign v3 requires one)")
	case c.caChain != "" && len(c.oidcIssuers) == 0 && !c.devOIDC:
		return errors.New("the CA needs at least one --oidc-issuer (or --dev-oidc for a demo)")
	case (c.tsaChain == "") != (c.tsaKey == ""):
		return errors.New("--tsa-chain and --tsa-key go together")
	case c.devOIDC && c.caChain == "":
		return errors.New("--dev-oidc is only useful with the CA (--ca-chain or --keyless-dir)")
	}
	return nil
}

// issuers parses the --oidc-issuer values (already checked at parse time).
func (c *keylessConfig) issuers() ([]oidc.IssuerConfig, error) {
	var out []oidc.IssuerConfig
	for _, spec := range c.oidcIssuers {
		ic, err := oidc.ParseIssuer(spec)
		if err != nil {
			return nil, usageError{fmt.Errorf("--oidc-issuer: %w", err)}
		}
		out = append(out, ic)
	}
	return out, nil
}

// keylessConfig turns the flags into the services' configuration.
func (c *keylessConfig) config() (server.KeylessConfig, error) {
	issuers, err := c.issuers()
	if err != nil {
		return server.KeylessConfig{}, err
	}
	return server.KeylessConfig{
		CAChain: c.caChain, CAKey: c.caKey, CTLogKey: c.ctlogKey, CAValidity: c.caValidity,
		Issuers: issuers, DevOIDC: c.devOIDC, TSAChain: c.tsaChain, TSAKey: c.tsaKey,
	}, nil
}
