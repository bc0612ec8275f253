package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// A mistake on the command line is one short error, exit 2: what is wrong,
// the nearest flag or command and how to see them all, never the usage
// (69 lines for serve) that scrolls it away.
func TestShortUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--storag", "file:x"}, "mosaicd serve: unknown flag --storag; did you mean --storage?\nrun 'mosaicd serve --help' for the flags\n"},
		{[]string{"serve", "-max-conections=9"}, "mosaicd serve: unknown flag --max-conections; did you mean --max-connections?\nrun 'mosaicd serve --help' for the flags\n"},
		{[]string{"serve", "--listen"}, "mosaicd serve: flag --listen needs a value\nrun 'mosaicd serve --help' for the flags\n"},
		{[]string{"serve", "--add-timeout", "soon"}, "mosaicd serve: invalid value \"soon\" for --add-timeout: parse error\nrun 'mosaicd serve --help' for the flags\n"},
		{[]string{"keygen", "--ot", "k.pem"}, "mosaicd keygen: unknown flag --ot; did you mean --out?\nrun 'mosaicd keygen --help' for the flags\n"},
		{[]string{"migrate", "--frobnicate"}, "mosaicd migrate: unknown flag --frobnicate\nrun 'mosaicd migrate --help' for the flags\n"},
		{[]string{"ca", "init", "--dri", "x"}, "mosaicd ca init: unknown flag --dri; did you mean --dir?\nrun 'mosaicd ca init --help' for the flags\n"},
		{[]string{"serv"}, "mosaicd: unknown command \"serv\"; did you mean serve?\nrun 'mosaicd --help' for the commands\n"},
		{[]string{"nope"}, "mosaicd: unknown command \"nope\"\nrun 'mosaicd --help' for the commands\n"},
		{[]string{"--storage", "x", "serve"}, "mosaicd: unknown flag --storage: flags go after the command (mosaicd serve --storage ...)\nrun 'mosaicd --help' for the commands\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != 2 || stderr.String() != tc.want || stdout.Len() != 0 {
				t.Errorf("exit %d, stderr\n%s\nwant exit 2, stderr\n%s\nstdout %q", code, stderr.String(), tc.want, stdout.String())
			}
			if strings.Contains(stderr.String(), "usage:") || strings.Contains(stderr.String(), "environment variable in brackets") {
				t.Errorf("the usage was printed on a mistake")
			}
		})
	}
}

// oneDashFlag matches a flag spelled -flag, which mosaicd's usage and
// errors never do.
var oneDashFlag = regexp.MustCompile(`(^|[\s(\[,'"])-[a-z]`)

// -h and --help print the full usage, every flag spelled --flag with its
// environment variable, and exit 0.
func TestHelpSpellsTwoDashes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}, {"keygen", "--help"}, {"migrate", "-h"}, {"ca", "init", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
			out := stdout.String() + stderr.String()
			if !strings.HasPrefix(out, "usage: mosaicd") {
				t.Errorf("no usage:\n%s", out)
			}
			if m := oneDashFlag.FindString(out); m != "" {
				t.Errorf("%q spells a flag with one dash in:\n%s", m, out)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	run([]string{"serve", "--help"}, &stdout, &stderr)
	for _, want := range []string{"  --storage string  [MOSAIC_STORAGE]\n", "(default \"file:./mosaic-data\")", "  --search-index  [MOSAIC_SEARCH_INDEX]\n"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("serve --help lacks %q:\n%s", want, stderr.String())
		}
	}
}

// version and --version print one line and exit 0. A test binary carries
// no VCS revision, so only the shape is checked here; e2e's TestVersion
// checks the revision of a binary built in the checkout.
func TestVersion(t *testing.T) {
	line := regexp.MustCompile(`^mosaicd \S+( \(revision [0-9a-f]{40}(, modified)?(, committed \S+)?\))? go\S+ \S+/\S+\n$`)
	for _, arg := range []string{"version", "--version", "-version"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{arg}, &stdout, &stderr); code != 0 || !line.MatchString(stdout.String()) || stderr.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, stdout.String(), stderr.String())
		}
	}
}
