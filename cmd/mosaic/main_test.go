package main

import (
	"bytes"
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
