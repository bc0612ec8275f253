package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The keyless flags come in working sets; anything else is a usage error
// that says what is missing.
func TestKeylessFlagSets(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ca-chain.pem", "ca-key.pem", "ctlog-key.pem", "tsa-chain.pem", "tsa-key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string // "" = accepted
	}{
		{nil, ""},
		{[]string{"--keyless-dir", dir, "--dev-oidc"}, ""},
		{[]string{"--keyless-dir", dir, "--oidc-issuer", "https://accounts.example.com"}, ""},
		{[]string{"--tsa-chain", "a.pem", "--tsa-key", "b.pem"}, ""},
		{[]string{"--keyless-dir", dir}, "at least one --oidc-issuer"},
		{[]string{"--keyless-dir", empty, "--dev-oidc"}, "mosaicd ca init --dir"},
		{[]string{"--ca-chain", "a.pem", "--dev-oidc"}, "--ca-chain and --ca-key go together"},
		{[]string{"--ca-chain", "a.pem", "--ca-key", "b.pem", "--dev-oidc"}, "needs --ctlog-key"},
		{[]string{"--tsa-key", "b.pem"}, "--tsa-chain and --tsa-key go together"},
		{[]string{"--dev-oidc"}, "only useful with the CA"},
		{[]string{"--keyless-dir", dir, "--oidc-issuer", "ftp://x"}, "oidc-issuer"},
	} {
		_, err := parseServeFlags(c.args, io.Discard)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
