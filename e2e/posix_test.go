package e2e

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
)

func readKey(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := note.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// The README's quick start: mosaicd with no storage flag creates its key and
// log in ./mosaic-data, the example adds and verifies an entry, the prepared
// body can be posted with curl and a second post is a duplicate.
func TestQuickStart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	keyPath := filepath.Join(dir, "mosaic-data", ".mosaic", "signing-key.pem")
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key %s: %v mode %v", keyPath, err, fi.Mode())
	}
	if !strings.Contains(s.stderr.String(), "created a new Ed25519 checkpoint signing key") {
		t.Errorf("mosaicd did not say it created a key:\n%s", s.stderr)
	}
	out, err := exec.Command(filepath.Join(binDir, "example"), "--url", s.URL, "--log-key", keyPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verified inclusion") {
		t.Fatalf("example: %v\n%s", err, out)
	}
	body, err := os.ReadFile("testdata/hashedrekord.json")
	if err != nil {
		t.Fatal(err)
	}
	if tle, status, b, err := postEntry(t.Context(), s.URL, body); err != nil || status != http.StatusCreated || tle.GetLogIndex() != 1 {
		t.Fatalf("prepared body: %d %s %v, want 201 at index 1", status, b, err)
	}
	// A retry succeeds with the same entry (--duplicates=existing).
	again, status, b, err := postEntry(t.Context(), s.URL, body)
	if err != nil || status != http.StatusCreated || again.GetLogIndex() != 1 {
		t.Fatalf("prepared body again: %d %s %v, want 201 with index 1", status, b, err)
	}
	cp, leaves := logState(t, s.URL, s.Origin, readKey(t, keyPath))
	if cp.Size != 2 {
		t.Errorf("log size %d, want 2", cp.Size)
	}
	rederive(t, cp, leaves)
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "log.pem")
	out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", key, "--public-url", "https://log.example.com").Output()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi.Mode())
	}
	pub := readKey(t, key)
	vkey, _ := note.VerifierKey("log.example.com", pub)
	logID, _ := note.LogID("log.example.com", pub)
	// The log ID as trusted_root.json's logId.keyId spells it.
	for _, want := range []string{"-----BEGIN PUBLIC KEY-----", "origin: log.example.com", "log ID: " + base64.StdEncoding.EncodeToString(logID) + "\n", "vkey: " + vkey} {
		if !strings.Contains(string(out), want) {
			t.Errorf("keygen output lacks %q:\n%s", want, out)
		}
	}
	cmd := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", key)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "refusing to overwrite") {
		t.Errorf("keygen over an existing key: %v %s", err, out)
	}
	ecKey := filepath.Join(dir, "ec.pem")
	if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", ecKey, "--algorithm", "ecdsa-p256").CombinedOutput(); err != nil {
		t.Fatalf("ecdsa keygen: %v %s", err, out)
	}
}

// serve refuses what would change a log's identity or leak its key.
func TestServeRefuses(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := startServer(t, dir, "--storage", "file:"+data, "--init")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.pem")
	if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", other).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	loose := filepath.Join(dir, "loose.pem")
	if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", loose).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	os.Chmod(loose, 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"another key", []string{"--signing-key", other}, "created with another checkpoint signing key"},
		{"another origin", []string{"--public-url", "https://elsewhere.example.com"}, `created with origin "127.0.0.1"`},
		{"readable key", []string{"--signing-key", loose}, "readable by group or others"},
		{"bad flag", []string{"--checkpoint-interval", "soon"}, "invalid value"},
		{"unknown storage", []string{"--storage", "s3://bucket"}, "unknown storage"},
		{"mistyped directory", []string{"--storage", "file:" + filepath.Join(dir, "dta")}, "no log at " + filepath.Join(dir, "dta") + "; pass --init to create one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", freeAddr(t), "--storage", "file:" + data}, tc.args...)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, filepath.Join(binDir, "mosaicd"), args...).CombinedOutput()
			if err == nil {
				t.Fatalf("mosaicd served; want a refusal saying %q", tc.want)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("refusal does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// loadUntil posts distinct entries from workers until stop is closed and
// returns what was acknowledged.
func loadUntil(t *testing.T, url string, workers int, stop <-chan struct{}) []acked {
	t.Helper()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	var mu sync.Mutex
	var acks []acked
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := s.Request(t, []byte(fmt.Sprintf("worker %d entry %d at %d", w, i, time.Now().UnixNano())))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				tle, status, _, err := postEntry(ctx, url, body)
				cancel()
				if err != nil || status != http.StatusCreated {
					time.Sleep(20 * time.Millisecond) // the server is down or refusing: try again
					continue
				}
				mu.Lock()
				acks = append(acks, acked{index: uint64(tle.GetLogIndex()), leaf: tle.GetCanonicalizedBody(), request: body})
				mu.Unlock()
			}
		}()
	}
	<-stop
	wg.Wait()
	return acks
}

// kill -9 under load loses nothing that was acknowledged, on the embedded
// store, and the log re-derives from its bundles after the restart.
func TestCrashRecoveryPosix(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--storage", "file:data", "--init")
	key := readKey(t, filepath.Join(dir, "data", ".mosaic", "signing-key.pem"))
	acks := crashUnderLoad(t, s, 16)
	checkAfterCrash(t, s.URL, s.Origin, key, acks, mosaictest.NewSigner(t, mosaictest.Ed25519ph))
}

// SIGTERM under load: in-flight adds finish, the process exits 0, and every
// acknowledged entry is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--storage", "file:data", "--init")
	key := readKey(t, filepath.Join(dir, "data", ".mosaic", "signing-key.pem"))
	stop := make(chan struct{})
	var acks []acked
	done := make(chan struct{})
	go func() { acks = loadUntil(t, s.URL, 16, stop); close(done) }()
	time.Sleep(time.Second)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	if !strings.Contains(s.stderr.String(), "shut down cleanly") {
		t.Errorf("no clean shutdown logged:\n%s", s.stderr)
	}
	s.start()
	cp, leaves := logState(t, s.URL, s.Origin, key)
	checkAcked(t, s.URL, cp, leaves, acks)
	rederive(t, cp, leaves)
}
