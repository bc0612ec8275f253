package main

import (
	"bytes"
	"strings"
	"testing"
)

// A mistaken bench flag is one short error, exit 2, before anything runs.
func TestBenchFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--client", "64"}, "unknown flag --client; did you mean --clients?"},
		{[]string{"--clients", "64,x"}, `--clients: "x" is not a positive integer`},
		{[]string{"--clients", "0"}, `--clients: "0" is not a positive integer`},
		{[]string{"--stores", "posix,sqlite"}, `--stores: unknown "sqlite"`},
		{[]string{"--read-stores", "rekor-tiles"}, `--read-stores: unknown "rekor-tiles"`},
		{[]string{"--read-kinds", "tile,proof"}, `--read-kinds: unknown "proof"`},
		{[]string{"--read-size-for", "postgres"}, `--read-size-for: "postgres": want STORE=N`},
		{[]string{"--read-size-for", "mysql=5"}, `--read-size-for: "mysql=5": want STORE=N`},
		{[]string{"--read-size-for", "postgres=0"}, `--read-size-for: "postgres=0": want a positive size`},
		{[]string{"--stores", "rekor-tiles", "--rekor", "/nonexistent/rekor"}, "make bench-tools builds it"},
		{[]string{"--stores", "posix", "--duration", "0s"}, "--duration 0s: want a positive duration"},
		{[]string{"--stores", "posix", "--read-duration", "0s"}, "reads need"},
		{[]string{"extra"}, `unexpected arguments ["extra"]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"bench"}, tc.args...), &stdout, &stderr)
			if code != 2 || !strings.HasPrefix(stderr.String(), "mosaic-load bench: ") || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}
