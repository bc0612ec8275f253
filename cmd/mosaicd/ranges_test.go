package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// Every numeric and duration flag is checked at start: a value that would
// panic, refuse every request or time out every add is a usage error
// naming the flag and its range.
func TestServeFlagRanges(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // "" = accepted
	}{
		{nil, ""},
		{[]string{"--await-poll=0"}, "--await-poll=0s is out of range: allowed 1ms to 10s"},
		{[]string{"--await-poll=-1ms"}, "--await-poll"},
		{[]string{"--max-request-bytes=-1"}, "--max-request-bytes=-1 is out of range: allowed 1024 to 67108864"},
		{[]string{"--max-signature-bytes=-5"}, "--max-signature-bytes=-5 is out of range"},
		{[]string{"--max-key-bytes=0"}, "--max-key-bytes"},
		{[]string{"--max-certificate-bytes=0"}, "--max-certificate-bytes"},
		{[]string{"--add-timeout=-1s"}, "--add-timeout=-1s is out of range: allowed 100ms to 10m0s"},
		{[]string{"--add-timeout=0"}, "--add-timeout"},
		{[]string{"--checkpoint-interval=10ms"}, "--checkpoint-interval=10ms is out of range: allowed 100ms to 1h0m0s"},
		{[]string{"--storage", "postgres://db/x", "--signing-key", "k", "--checkpoint-interval=10ms"}, ""},
		{[]string{"--checkpoint-republish-interval=200ms"}, "--checkpoint-republish-interval"},
		{[]string{"--read-cache-bytes=1000"}, "--read-cache-bytes=1000 is out of range: allowed 1048576 to 1099511627776"},
		{[]string{"--batch-max-size=0"}, "--batch-max-size=0 is out of range: allowed 1 to 65536"},
		{[]string{"--batch-max-age=0"}, "--batch-max-age"},
		{[]string{"--pushback-max-outstanding=0"}, "--pushback-max-outstanding"},
		{[]string{"--shutdown-timeout=-1s"}, "--shutdown-timeout"},
		{[]string{"--max-connections=0"}, "--max-connections=0 is out of range"},
		{[]string{"--max-connections=100000000"}, "--max-connections"},
		{[]string{"--body-timeout=0"}, "--body-timeout"},
		{[]string{"--write-timeout=-1s"}, "--write-timeout"},
		{[]string{"--read-header-timeout=0"}, "--read-header-timeout"},
		{[]string{"--idle-timeout=0"}, "--idle-timeout"},
		{[]string{"--ca-validity=0"}, "--ca-validity"},
		{[]string{"--max-inflight-adds=0"}, "--max-inflight-adds=0 is out of range: allowed 1 to 1048576"},
		{[]string{"--search-page-bytes=-1"}, "--search-page-bytes"},
		{[]string{"--search-concurrency=0"}, "--search-concurrency"},
		// Several at once are all named.
		{[]string{"--await-poll=0", "--add-timeout=-1s"}, "--await-poll=0s is out of range: allowed 1ms to 10s\n--add-timeout=-1s"},
	} {
		_, err := parseServeFlags(c.args, io.Discard)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want one containing %q", c.args, err, c.want)
		case c.want != "" && !errors.As(err, new(usageError)):
			t.Errorf("%q: %v is not a usage error (exit 2)", c.args, err)
		}
	}
}

// --checkpoint-interval not given depends on the store (and witnessing);
// given, it is what was given.
func TestServeDefaultCheckpointInterval(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 100 * time.Millisecond},
		{[]string{"--storage", "file:x"}, 100 * time.Millisecond},
		{[]string{"--storage", "postgres://db/x", "--signing-key", "k"}, 25 * time.Millisecond},
		{[]string{"--storage", "postgres://db/x", "--signing-key", "k", "--checkpoint-interval=100ms"}, 100 * time.Millisecond},
		{[]string{"--storage", "postgres://db/x", "--signing-key", "k", "--checkpoint-interval=10ms"}, 10 * time.Millisecond},
		{[]string{"--checkpoint-interval=300ms"}, 300 * time.Millisecond},
	} {
		cfg, err := parseServeFlags(c.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if cfg.checkpointInterval != c.want {
			t.Errorf("%q: --checkpoint-interval %v, want %v", c.args, cfg.checkpointInterval, c.want)
		}
	}
	if got := defaultCheckpointInterval("postgres://db/x", true); got != 100*time.Millisecond {
		t.Errorf("default with PostgreSQL and witnesses: %v, want 100ms", got)
	}
}

// A value from the environment is checked like a flag.
func TestServeFlagRangesFromEnvironment(t *testing.T) {
	t.Setenv("MOSAIC_AWAIT_POLL", "0s")
	if _, err := parseServeFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "--await-poll=0s") {
		t.Fatalf("MOSAIC_AWAIT_POLL=0s: %v", err)
	}
}
