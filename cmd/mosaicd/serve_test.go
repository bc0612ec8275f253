package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// syncBuffer is a bytes.Buffer safe for a server writing while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runServe runs serve with args until it prints that it serves (or fails),
// then stops it, and returns everything it printed.
func runServe(t *testing.T, args ...string) (out string, err error) {
	t.Helper()
	_, stop, err := startServe(t, args...)
	if err != nil {
		return stop()
	}
	return stop()
}

// startServe runs serve with args in the background until it prints that
// it serves. It returns the base URL and a func that stops the server and
// returns what it printed and its error. If serve fails first, err is that
// failure.
func startServe(t *testing.T, args ...string) (baseURL string, stop func() (string, error), err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), &stdout, &stderr) }()
	var exited error
	stopped := false
	stop = func() (string, error) {
		cancel()
		if !stopped {
			exited, stopped = <-done, true
		}
		return stdout.String() + stderr.String(), exited
	}
	t.Cleanup(func() { stop() })
	deadline := time.After(60 * time.Second)
	for {
		out := stdout.String()
		if i := strings.Index(out, " on http"); strings.Contains(out, "mosaicd serving") && i >= 0 {
			addr, _, _ := strings.Cut(out[i+len(" on "):], " ")
			return addr, stop, nil
		}
		select {
		case exited = <-done:
			stopped = true
			return "", stop, exited
		case <-deadline:
			t.Fatalf("serve did not start within 60 s; it printed:\n%s%s", stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func testKeyFile(t *testing.T) string {
	t.Helper()
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := writeKeyFile(path, key); err != nil {
		t.Fatal(err)
	}
	return path
}

// A password in the storage URL, in any of its forms, is never printed:
// not in the serving line, not in errors.
func TestStoragePasswordNeverPrinted(t *testing.T) {
	key := testKeyFile(t)
	t.Setenv("PGPASSWORD", "SECRET-FROM-ENV")
	t.Setenv("PGCONNECT_TIMEOUT", "2")

	db, err := url.Parse(pgtest.NewDatabase(t)) // trust auth: a password is accepted and ignored
	if err != nil {
		t.Fatal(err)
	}
	q := db.Query()
	q.Set("password", "SECRET-QUERY")
	db.RawQuery = q.Encode()
	out, err := runServe(t, "--storage", db.String(), "--signing-key", key, "--search-index=false")
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
	if !strings.Contains(out, "password=xxxxx") {
		t.Errorf("the serving line does not show the redacted storage URL:\n%s", out)
	}

	for _, spec := range []string{
		"postgres://u:SECRET-USERINFO@127.0.0.1:1/db?sslmode=disable",
		"postgres://u@127.0.0.1:1/db?sslmode=disable&password=SECRET-QUERY",
		"host=127.0.0.1 port=1 user=u password=SECRET-KV dbname=db sslmode=disable",
		"host=127.0.0.1 port=1 user=u password='SECRET KV QUOTED' dbname=db sslmode=disable",
		"postgres://u:SECRET-BROKEN@127.0.0.1:1/db\x7f",
		"mysql://u:SECRET-SCHEME@h/db",
	} {
		out, err := runServe(t, "--storage", spec, "--signing-key", key)
		if err == nil {
			t.Errorf("%s: serve started against an unreachable database", storage.Redact(spec))
		}
		all := out
		if err != nil {
			all += err.Error()
		}
		if strings.Contains(all, "SECRET") {
			t.Errorf("the password of %q was printed:\n%s", storage.Redact(spec), all)
		}
	}
}

// While PostgreSQL is down /readyz says "storage unavailable" and nothing
// about the database (host, port, user, database name, driver text); the
// detail goes to the server log once, and the recovery once.
func TestReadyzHidesStorageDetail(t *testing.T) {
	db := pgtest.NewCluster(t)
	const dbName = "readyz_secret_db_name"
	dbURL := db.CreateDatabase(dbName)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := startServe(t, "--storage", dbURL, "--signing-key", testKeyFile(t), "--search-index=false",
		"--checkpoint-republish-interval", "1s")
	if err != nil {
		out, _ := stop()
		t.Fatalf("serve: %v\n%s", err, out)
	}
	readyz := func() (int, string) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitUntil("/readyz 200", func() bool { code, _ := readyz(); return code == http.StatusOK })

	db.Stop()
	var body string
	waitUntil("/readyz 503", func() bool { code, b := readyz(); body = b; return code == http.StatusServiceUnavailable })
	for i := 0; i < 20; i++ { // a probe polled often logs the outage once
		readyz()
	}
	if !strings.Contains(body, "not ready: storage unavailable") {
		t.Errorf("/readyz during the outage = %s, want it to say the storage is unavailable", body)
	}
	for _, secret := range []string{dbName, u.Port(), u.Hostname(), u.User.Username(), "dial", "connect", "SQLSTATE"} {
		if strings.Contains(body, secret) {
			t.Errorf("/readyz shows %q to anyone: %s", secret, body)
		}
	}
	db.Start()
	waitUntil("/readyz 200 after PostgreSQL is back", func() bool { code, _ := readyz(); return code == http.StatusOK })
	out, err := stop()
	if err != nil {
		t.Errorf("serve: %v", err)
	}
	if n := strings.Count(out, "msg=\"not ready\" reason=storage_unavailable"); n != 1 {
		t.Errorf("the server log has %d 'not ready' lines for the outage, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "reason=storage_unavailable err=\"storage unavailable: pinging PostgreSQL") {
		t.Errorf("the server log does not hold the detail of the outage:\n%s", out)
	}
	if n := strings.Count(out, "msg=ready"); n < 2 {
		t.Errorf("the server log has %d 'ready' lines, want one at start and one after recovery:\n%s", n, out)
	}
}

// A data directory that does not exist is created only when it is the
// default (./mosaic-data) or with --init: a mistyped one is refused, and
// nothing is written there.
func TestServeInit(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "mosaic-dta")
	out, err := runServe(t, "--storage", "file:"+typo, "--search-index=false")
	want := "no log at " + typo + "; pass --init to create one"
	if err == nil || err.Error() != want {
		t.Fatalf("serve on a missing directory: %v, want %q\n%s", err, want, out)
	}
	if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused directory exists: %v", err)
	}
	if out, err := runServe(t, "--storage", "file:"+typo, "--init", "--search-index=false"); err != nil {
		t.Fatalf("serve --init: %v\n%s", err, out)
	}
	if out, err := runServe(t, "--storage", "file:"+typo, "--search-index=false"); err != nil {
		t.Fatalf("serve on the directory --init created: %v\n%s", err, out)
	}

	t.Chdir(t.TempDir())
	if out, err := runServe(t, "--search-index=false"); err != nil {
		t.Fatalf("serve on the default directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join("mosaic-data", ".mosaic", "signing-key.pem")); err != nil {
		t.Errorf("the default directory was not created with its key: %v", err)
	}
}
