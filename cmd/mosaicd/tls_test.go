package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/servingcert/servingcerttest"
)

// mosaicd serve --tls-cert --tls-key serves HTTPS with HTTP/2, names https
// in its public URL, and on SIGHUP (with polling off) serves the files'
// new pair from the next handshake on; a bad pair on SIGHUP leaves the
// previous one serving.
func TestServeTLSAndSIGHUP(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := ca.Issue(t, time.Hour)
	first.Write(t, certFile, keyFile)
	base, stop, err := startServe(t, "--storage", "file:"+filepath.Join(dir, "data"), "--init", "--search-index=false",
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-reload-interval", "0")
	if err != nil {
		out, _ := stop()
		t.Fatalf("serve: %v\n%s", err, out)
	}
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("serving on %s, want https://127.0.0.1:PORT", base)
	}
	resp, err := ca.Client().Get(base + "/api/v2/log/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET /api/v2/log/info: %d over %s, want 200 over HTTP/2.0", resp.StatusCode, resp.Proto)
	}
	addr := strings.TrimPrefix(base, "https://")

	second := ca.Issue(t, 2*time.Hour)
	second.Write(t, certFile, keyFile)
	if got := ca.Serial(t, addr); got.Cmp(first.Serial) != 0 {
		t.Fatalf("with polling off the replaced files were loaded without SIGHUP (serial %s)", got)
	}
	hangup(t)
	waitServe(t, "the new pair served after SIGHUP", func() bool { return ca.Serial(t, addr).Cmp(second.Serial) == 0 })

	third := ca.Issue(t, 3*time.Hour)
	servingcerttest.WriteFile(t, certFile, third.Cert) // without its key
	hangup(t)
	waitServe(t, "the bad pair reported in the metrics", func() bool {
		return strings.Contains(get(t, ca.Client(), base+"/metrics"), "\nmosaic_tls_certificate_reload_failing 1\n")
	})
	if got := ca.Serial(t, addr); got.Cmp(second.Serial) != 0 {
		t.Errorf("after a bad pair on SIGHUP the server presents serial %s, want the previous %s", got, second.Serial)
	}
	out, _ := stop()
	if !strings.Contains(out, "TLS certificate not reloaded: still serving the previous one") {
		t.Errorf("a bad pair on SIGHUP was not logged:\n%s", out)
	}
	if n := strings.Count(out, "TLS certificate reloaded"); n != 1 {
		t.Errorf("the log has %d reloads, want 1:\n%s", n, out)
	}
}

// hangup sends SIGHUP to this process, where serve handles it.
func hangup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func waitServe(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Bad TLS flags are refused at start, naming the flag and what to do.
func TestServeTLSRefused(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	dir := t.TempDir()
	ca.Issue(t, time.Hour).Write(t, filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"))
	ca.Issue(t, time.Hour).Write(t, filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key"))
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"--tls-cert", a + ".crt"}, "--tls-cert and --tls-key go together", true},
		{[]string{"--tls-key", a + ".key"}, "--tls-cert and --tls-key go together", true},
		{[]string{"--tls-cert", a + ".crt", "--tls-key", b + ".key"}, "--tls-cert " + a + ".crt and --tls-key " + b + ".key: tls: private key does not match public key", false},
		{[]string{"--tls-cert", a + ".key", "--tls-key", a + ".crt"}, "the certificate file holds no PEM CERTIFICATE block", false},
		{[]string{"--tls-cert", filepath.Join(dir, "none.crt"), "--tls-key", a + ".key"}, "--tls-cert: open " + dir + "/none.crt: no such file or directory", false},
		{[]string{"--tls-reload-interval", "10ms"}, "--tls-reload-interval=10ms is out of range: allowed 0 (only on SIGHUP) or 1s to 24h0m0s", true},
	} {
		data := filepath.Join(t.TempDir(), "data")
		out, err := runServe(t, append([]string{"--storage", "file:" + data, "--init", "--search-index=false"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q\n%s", tc.args, err, tc.want, out)
			continue
		}
		if errors.As(err, new(usageError)) != tc.usage {
			t.Errorf("%q: usage error %v, want %v", tc.args, !tc.usage, tc.usage)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q: a refused start created %s", tc.args, data)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
