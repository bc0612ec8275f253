package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/witnesstest"
	"github.com/mosaiclog/mosaic/pkg/note"
	fnote "github.com/transparency-dev/formats/note"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// A bad --witness-policy, --witness-timeout or --witness-fail-closed is a
// usage error naming the flag, and for the file, the line at fault.
func TestWitnessFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bad := write("bad.policy", "# witnesses\nwitness w1 not-a-key http://127.0.0.1:7380\nquorum w1\n")
	for _, c := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"--witness-policy", bad}, "--witness-policy " + bad + ": witness policy line 2: invalid witness config", true},
		{[]string{"--witness-policy", filepath.Join(dir, "missing")}, "--witness-policy: open", false},
		{[]string{"--witness-fail-closed"}, "--witness-fail-closed needs --witness-policy", true},
		{[]string{"--witness-timeout=0s"}, "--witness-timeout=0s is out of range: allowed 100ms to 30s", true},
		{[]string{"--witness-timeout=1m"}, "--witness-timeout=1m0s is out of range", true},
	} {
		_, err := parseAndConfigure(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.args, err, c.want)
		} else if errors.As(err, new(usageError)) != c.usage {
			t.Errorf("%q: %v: usage error %v, want %v", c.args, err, !c.usage, c.usage)
		}
	}
}

// parseAndConfigure parses serve flags and reads the witness flags' file.
func parseAndConfigure(t *testing.T, args ...string) (*serveConfig, error) {
	t.Helper()
	c, err := parseServeFlags(args, io.Discard)
	if err != nil {
		return nil, err
	}
	_, err = c.witness.config()
	return c, err
}

// mosaicd serve --witness-policy publishes checkpoints cosigned by the
// policy's witness (a real litewitness).
func TestServeWitnessed(t *testing.T) {
	keyFile := testKeyFile(t)
	pemKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := note.ParsePrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.VerifierKey("log.example", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	w := witnesstest.Start(t, "witness.example")
	w.AddLog("log.example", vkey)
	policy := filepath.Join(t.TempDir(), "witness.policy")
	if err := os.WriteFile(policy, fmt.Appendf(nil, "%s\nquorum w1\n", w.PolicyLine("w1")), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop, err := startServe(t, "--storage", "file:"+filepath.Join(t.TempDir(), "log"), "--init", "--origin", "log.example",
		"--signing-key", keyFile, "--search-index=false", "--witness-policy", policy)
	if err != nil {
		out, _ := stop()
		t.Fatalf("serve: %v\n%s", err, out)
	}
	logV, err := note.NewVerifier("log.example", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	wV, err := fnote.NewVerifierForCosignatureV1(w.VKey)
	if err != nil {
		t.Fatal(err)
	}
	var cp []byte
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/api/v2/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		cp, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if n, err := sumdbnote.Open(cp, sumdbnote.VerifierList(logV, wV)); err == nil && len(n.Sigs) == 2 {
			out, _ := stop()
			if !strings.Contains(out, "checkpoints are witnessed") {
				t.Errorf("serve did not say the checkpoints are witnessed:\n%s", out)
			}
			return
		}
	}
	t.Fatalf("no checkpoint signed by the log and cosigned by the witness within 30 s; the last:\n%s", cp)
}
