package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// A mistaken flag is one short error naming the nearest flag, exit 2,
// never the usage.
func TestShortFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurency", "8"}, "mosaic-load: unknown flag --concurency; did you mean --concurrency?\nrun 'mosaic-load --help' for the flags\n"},
		{[]string{"--entries", "many"}, "mosaic-load: invalid value \"many\" for --entries: parse error\nrun 'mosaic-load --help' for the flags\n"},
		{[]string{"soak", "--adder", "3"}, "mosaic-load soak: unknown flag --adder; did you mean --adders?\nrun 'mosaic-load soak --help' for the flags\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 2 || stderr.String() != tc.want || stdout.Len() != 0 {
				t.Errorf("exit %d, stderr\n%s\nwant exit 2, stderr\n%s", code, stderr.String(), tc.want)
			}
		})
	}
}

// --help prints the usage with every flag spelled --flag.
func TestHelpSpellsTwoDashes(t *testing.T) {
	oneDash := regexp.MustCompile(`(^|[\s(\[,'"|])-[a-z]`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "  --concurrency int\n"},
		{[]string{"soak", "-h"}, "  --never-reading-clients int\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, want 0 and %q in:\n%s", tc.args, code, tc.want, stderr.String())
		}
		if m := oneDash.FindString(stderr.String()); m != "" {
			t.Errorf("%q: %q spells a flag with one dash in:\n%s", tc.args, m, stderr.String())
		}
	}
}
