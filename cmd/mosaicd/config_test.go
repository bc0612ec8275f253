package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mosaicd.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A flag on the command line wins over its environment variable, which
// wins over the configuration file, which wins over the default; the file
// itself may be named by MOSAIC_CONFIG.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, "max-connections: 100\nadd-timeout: 5s\nbatch-max-size: 64\nsearch-index: false\n"+
		"oidc-issuer:\n  - https://file.example\n")
	t.Setenv("MOSAIC_ADD_TIMEOUT", "7s")
	t.Setenv("MOSAIC_BATCH_MAX_SIZE", "48")
	t.Setenv("MOSAIC_OIDC_ISSUER", "https://env.example")
	c, err := parseServeFlags([]string{"--config", path, "--batch-max-size", "32"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.conn.MaxConnections != 100 || c.addTimeout != 7*time.Second || c.batchMaxSize != 32 || c.searchIndex ||
		strings.Join(c.keyless.oidcIssuers, " ") != "https://env.example" || c.shutdownTimeout != 30*time.Second {
		t.Errorf("file 100/5s/64/false/file issuer, env 7s/48/env issuer, flag 32: got max-connections %d, add-timeout %s, "+
			"batch-max-size %d, search-index %v, oidc-issuer %q, shutdown-timeout %s (default 30s)", c.conn.MaxConnections,
			c.addTimeout, c.batchMaxSize, c.searchIndex, c.keyless.oidcIssuers, c.shutdownTimeout)
	}

	t.Setenv("MOSAIC_CONFIG", path)
	os.Unsetenv("MOSAIC_OIDC_ISSUER")
	c, err = parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.conn.MaxConnections != 100 || strings.Join(c.keyless.oidcIssuers, " ") != "https://file.example" {
		t.Errorf("with MOSAIC_CONFIG: max-connections %d, oidc-issuer %q", c.conn.MaxConnections, c.keyless.oidcIssuers)
	}
}

// A bad file is a usage error (exit 2) naming the file, the line, the key
// and, for a mistyped key, the nearest serve flag; a bad value is refused
// even where a flag overrides it.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		args []string
		want string
	}{
		{"storage: file:x\nwitness-polcy: w.txt\n", nil, `:2: unknown key "witness-polcy"; did you mean witness-policy?`},
		{"tls_cert: a.pem\n", nil, `:1: unknown key "tls_cert"; did you mean tls-cert?`},
		{"config: other.yaml\n", nil, ":1: config cannot be set in a configuration file"},
		{"listen: a\nlisten: b\n", nil, ":2: listen is set twice (first on line 1)"},
		{"search-index: maybe\n", nil, `:1: search-index: want true or false, not "maybe"`},
		{"max-connections: lots\n", nil, `:1: max-connections: want an integer, not "lots"`},
		{"add-timeout: 30\n", []string{"--add-timeout", "1s"}, `:1: add-timeout: invalid value "30" (want a duration such as 30s, 1m or 100ms)`},
		{"allowed-algorithms:\n  - ed25519-ph\n", nil, ":2: allowed-algorithms: want one value, not a list"},
		{"oidc-issuer: [not-a-url]\n", nil, `:1: oidc-issuer: invalid value "not-a-url"`},
		{"checkpoint-interval: 1ms\n", nil, "--checkpoint-interval=1ms is out of range"},
		{"tls-cert: a.pem\n", nil, "--tls-cert and --tls-key go together"},
	} {
		path := writeConfig(t, tc.yaml)
		_, err := parseServeFlags(append([]string{"--config", path}, tc.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error with %q", tc.yaml, err, tc.want)
		}
		if !strings.Contains(tc.want, "--") && err != nil && !strings.HasPrefix(err.Error(), path+":") {
			t.Errorf("%q: %v does not start with the file's name", tc.yaml, err)
		}
	}
	_, err := parseServeFlags([]string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--config: open ") {
		t.Errorf("a missing file: %v", err)
	}
}

// Every serve flag is a configuration key, with its default as a valid
// value: the keys come from the flag set, so a new flag is one at once.
func TestEveryFlagIsAKey(t *testing.T) {
	var lines []string
	serveFlags(&serveConfig{}, io.Discard).VisitAll(func(f *flag.Flag) {
		v := f.DefValue
		switch {
		case f.Name == "config" || v == "":
			return
		case v == "true" || v == "false" || regexp.MustCompile(`^-?[0-9]+$`).MatchString(v):
		default:
			v = strconv.Quote(v)
		}
		lines = append(lines, f.Name+": "+v)
	})
	if len(lines) < 30 {
		t.Fatalf("only %d serve flags with defaults", len(lines))
	}
	path := writeConfig(t, strings.Join(lines, "\n")+"\n")
	if _, err := parseServeFlags([]string{"--config", path}, io.Discard); err != nil {
		t.Fatalf("a file of every flag's default is refused: %v\n%s", err, strings.Join(lines, "\n"))
	}
}

// The README's example configuration file loads.
func TestReadmeConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Configuration file\n.*?```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```yaml block under ### Configuration file")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("mosaicd.yaml", m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := parseServeFlags([]string{"--config", "mosaicd.yaml"}, io.Discard)
	if err != nil {
		t.Fatalf("the README's mosaicd.yaml:\n%s\n%v", m[1], err)
	}
	if c.listen == "127.0.0.1:3000" {
		t.Errorf("the README's example was not applied: listen %s", c.listen)
	}
	// Served with it (on the port --listen, which wins, gives).
	if out, err := runServe(t, "--config", "mosaicd.yaml"); err != nil || !strings.Contains(out, "mosaicd serving") {
		t.Fatalf("serve --config with the README's example: %v\n%s", err, out)
	}
}
