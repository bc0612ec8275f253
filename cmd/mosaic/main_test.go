package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestUsageErrors: command-line mistakes exit 2 and say what is wrong,
// before anything touches the network or the disk.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: mosaic"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"sign"}, "missing arguments"},
		{[]string{"sign", "f", "g", "--bundle", "b"}, "unexpected arguments"},
		{[]string{"sign", "f"}, "--bundle is required"},
		{[]string{"sign", "f", "--bundle", "b", "--url", "http://x", "--log-url", "http://y"}, "give one of --url"},
		{[]string{"verify", "f"}, "--bundle and --trusted-root are required"},
		{[]string{"verify", "f", "--bundle", "b", "--trusted-root", "t"}, "needs --certificate-identity"},
		{[]string{"verify", "f", "--bundle", "b", "--trusted-root", "t", "--certificate-identity", "a"}, "needs --certificate-oidc-issuer"},
		{[]string{"verify", "f", "--bundle", "b", "--trusted-root", "t", "--key", "k", "--certificate-identity", "a"}, "does not combine"},
		{[]string{"verify", "f", "--digest", "sha256:00", "--bundle", "b", "--trusted-root", "t"}, "not both"},
		{[]string{"verify", "f", "--output", "yaml", "--bundle", "b", "--trusted-root", "t"}, `--output "yaml"`},
		{[]string{"log"}, "missing subcommand"},
		{[]string{"log", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"log", "get"}, "missing arguments"},
		{[]string{"log", "get", "x1"}, "want a non-negative integer"},
		{[]string{"log", "consistency", "1"}, "want FIRST SECOND"},
		{[]string{"log", "search"}, "give at least one of"},
		{[]string{"monitor", "--vkey", "x"}, "--state is required"},
		{[]string{"monitor", "--state", "s"}, "give exactly one of --trusted-root, --vkey, --log-key"},
		{[]string{"audit", "--vkey", "x", "--log-key", "y"}, "give exactly one of"},
		{[]string{"audit", "--certlog", "--vkey", "x"}, "needs --trusted-root"},
		{[]string{"trusted-root"}, "want 'mosaic trusted-root create"},
		{[]string{"trusted-root", "create"}, "trusted-root create"},
		{[]string{"signing-config", "create", "--rekor", "url=http://x"}, "missing required key"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q in:\n%s", code, exitUsage, tc.want, stderr.String())
			}
		})
	}
}

// TestHelp: -h prints the flags and exits 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"sign", "-h"}, {"verify", "-h"}, {"log", "-h"}, {"monitor", "-h"}, {"audit", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitOK || stdout.Len()+stderr.Len() == 0 {
			t.Errorf("%v: exit %d, output %q %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// A mistaken flag or command is one short error, exit 2: what is wrong,
// the nearest name and how to see them all, never the usage.
func TestShortUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sign", "f", "--bundel", "b"}, "mosaic sign: unknown flag --bundel; did you mean --bundle?\nrun 'mosaic sign --help' for the flags\n"},
		{[]string{"verify", "f", "--trusted_root", "t"}, "mosaic verify: unknown flag --trusted_root; did you mean --trusted-root?\nrun 'mosaic verify --help' for the flags\n"},
		{[]string{"log", "info", "-ur", "http://x"}, "mosaic log info: unknown flag --ur; did you mean --url?\nrun 'mosaic log info --help' for the flags\n"},
		{[]string{"monitor", "--stat", "s"}, "mosaic monitor: unknown flag --stat; did you mean --start or --state?\nrun 'mosaic monitor --help' for the flags\n"},
		{[]string{"audit", "--parallel", "many"}, "mosaic audit: invalid value \"many\" for --parallel: parse error\nrun 'mosaic audit --help' for the flags\n"},
		{[]string{"trusted-root", "create", "--rekorr", "x"}, "mosaic trusted-root create: unknown flag --rekorr; did you mean --rekor?\nrun 'mosaic trusted-root create --help' for the flags\n"},
		{[]string{"version", "--outptu", "json"}, "mosaic version: unknown flag --outptu; did you mean --output?\nrun 'mosaic version --help' for the flags\n"},
		{[]string{"log", "proff", "1"}, "mosaic log: unknown subcommand \"proff\"; did you mean proof?\nrun 'mosaic log --help' for the subcommands\n"},
		{[]string{"sing"}, "mosaic: unknown command \"sing\"; did you mean sign?\nrun 'mosaic --help' for the commands\n"},
		{[]string{"--url", "x"}, "mosaic: unknown flag --url: flags go after the command (mosaic <command> --url ...)\nrun 'mosaic --help' for the commands\n"},
		{[]string{"sign"}, "mosaic sign: missing arguments (want 1, got 0); run 'mosaic sign --help'\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != exitUsage || stderr.String() != tc.want || stdout.Len() != 0 {
				t.Errorf("exit %d, stderr\n%s\nwant exit %d, stderr\n%s", code, stderr.String(), exitUsage, tc.want)
			}
			if strings.Contains(stderr.String(), "usage:") {
				t.Errorf("the usage was printed on a mistake")
			}
		})
	}
}

// Every usage spells flags --flag.
func TestHelpSpellsTwoDashes(t *testing.T) {
	oneDash := regexp.MustCompile(`(^|[\s(,'"|]|\W\[)-[a-z]`) // not the [-regexp] of --certificate-identity[-regexp]
	for _, args := range [][]string{
		{"--help"}, {"sign", "--help"}, {"verify", "-h"}, {"log", "--help"}, {"log", "info", "-h"}, {"log", "search", "--help"},
		{"log", "proof", "-h"}, {"log", "consistency", "-h"}, {"monitor", "-h"}, {"audit", "--help"},
		{"trusted-root", "create", "-h"}, {"signing-config", "create", "--help"}, {"version", "--help"},
		{"proof", "--help"}, {"verify-proof", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
			out := stdout.String() + stderr.String()
			if !strings.HasPrefix(out, "usage: mosaic") {
				t.Errorf("no usage:\n%s", out)
			}
			if m := oneDash.FindString(out); m != "" {
				t.Errorf("%q spells a flag with one dash in:\n%s", m, out)
			}
		})
	}
}

// version, --version and version --output json answer and exit 0. A test
// binary carries no VCS revision, so only the shape is checked here; e2e's
// TestVersion checks the revision of a binary built in the checkout.
func TestVersion(t *testing.T) {
	line := regexp.MustCompile(`^mosaic \S+( \(revision [0-9a-f]{40}(, modified)?(, committed \S+)?\))? go\S+ \S+/\S+\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitOK || !line.MatchString(stdout.String()) || stderr.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version", "--output", "json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("version --output json: exit %d\n%s", code, stderr.String())
	}
	var v struct{ Version, GoVersion, Platform string }
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || v.Version == "" || v.GoVersion != runtime.Version() || v.Platform == "" {
		t.Errorf("version --output json: %v %+v\n%s", err, v, stdout.String())
	}
}

// A verifier key whose base64 holds '+' is still read whole.
func TestVkeyPublicKeyPlus(t *testing.T) {
	const vkey = "127.0.0.1+90ca6e80+AcdWfyWgC7GBSgA0aswFgq+VOluwlXUyZ8nt38C2P/z0"
	pub, err := vkeyPublicKey(vkey)
	if err != nil {
		t.Fatalf("vkeyPublicKey(%q): %v", vkey, err)
	}
	if len(pub.(ed25519.PublicKey)) != ed25519.PublicKeySize {
		t.Fatalf("key of %d bytes", len(pub.(ed25519.PublicKey)))
	}
	for _, bad := range []string{"", "name", "name+hash", "name+abcd+!!!", "name+abcd+AQ=="} {
		if _, err := vkeyPublicKey(bad); err == nil {
			t.Errorf("vkeyPublicKey(%q) accepted", bad)
		}
	}
}
