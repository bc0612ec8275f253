package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/pgtest"
)

// addEntries logs n new entries through s and returns the index of the last.
func addEntries(t *testing.T, url string, signer *mosaictest.Signer, tag string, n int) uint64 {
	t.Helper()
	var last uint64
	for i := range n {
		body := signer.Request(t, []byte(tag+" entry "+string(rune('a'+i))))
		tle, status, b, err := postEntry(t.Context(), url, body)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("add %s %d: %d %s %v", tag, i, status, b, err)
		}
		last = uint64(tle.GetLogIndex())
	}
	return last
}

// serveRefused runs "mosaicd serve" with args in dir, expecting it to
// refuse to start: it must exit 1 within a minute, its error containing
// every one of want. It returns the error output.
func serveRefused(t *testing.T, dir string, args []string, want ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "mosaicd"), append([]string{"serve", "--listen", freeAddr(t)}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("mosaicd serve %v: %v, want exit status 1 (a refusal)\n%s", args, err, &stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("the refusal does not say %q:\n%s", w, &stderr)
		}
	}
	return stderr.String()
}

// copyTree copies the directory from to a new directory to, as a file
// backup of a stopped server's data directory would.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v %s", from, to, err, out)
	}
}

// The rollback every operator can make: restore an older copy of the data
// directory under a server that already published more. The checkpoint
// record beside the directory (data.published, the default) refuses it, and
// says what happened and what to do; so does another log's store. The same
// old copy under a server with no record is served: without a record
// nothing tells it what clients saw.
func TestRollbackRefusedPosix(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	s := startServer(t, dir, "--storage", "file:data", "--init")
	addEntries(t, s.URL, signer, "first", 5)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(filepath.Join(dir, "data.published"))
	if err != nil || !strings.HasPrefix(string(rec), "127.0.0.1\n5\n") {
		t.Fatalf("the default record beside the data directory holds %q (%v), want the checkpoint of size 5", rec, err)
	}
	copyTree(t, data, filepath.Join(dir, "old"))
	s.start()
	addEntries(t, s.URL, signer, "second", 4)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// Restore the older copy in place.
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(dir, "old"), data)
	serveRefused(t, dir, []string{"--storage", "file:data"},
		"refusing to serve this store", "the store holds a tree of size 5, smaller than 9",
		"published a checkpoint of size 9", filepath.Join(dir, "data.published"),
		"Backup, restore and rollback")

	// Another log's store, larger than the record but another tree.
	o := startServer(t, dir, "--storage", "file:other", "--init", "--checkpoint-record", filepath.Join(dir, "other.published"))
	addEntries(t, o.URL, signer, "other", 12)
	if err := o.stop(); err != nil {
		t.Fatal(err)
	}
	serveRefused(t, dir, []string{"--storage", "file:other", "--checkpoint-record", filepath.Join(dir, "data.published")},
		"refusing to serve this store", "the store's tree at size 9 has root hash")

	// The old copy under a fresh record is served, and grows from 5.
	f := startServer(t, dir, "--storage", "file:data", "--checkpoint-record", filepath.Join(dir, "fresh.published"))
	if idx := addEntries(t, f.URL, signer, "fresh", 1); idx != 5 {
		t.Fatalf("the restored copy took its next entry at %d, want 5", idx)
	}
}

// The same on PostgreSQL, where a restore is of the whole database (here a
// copy of it taken while the server was stopped, as a snapshot would be):
// the record is a file the operator names.
func TestRollbackRefusedPostgres(t *testing.T) {
	dir := t.TempDir()
	args, keyPath := pgServerArgs(t, dir)
	dbURL := args[1]
	record := filepath.Join(dir, "log.published")
	signer := mosaictest.NewSigner(t, mosaictest.Ed25519ph)
	s := startServer(t, dir, append(args, "--checkpoint-record", record)...)
	addEntries(t, s.URL, signer, "first", 5)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	old := pgtest.CopyDatabase(t, dbURL)
	s.start()
	addEntries(t, s.URL, signer, "second", 4)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	serveRefused(t, dir, []string{"--storage", old, "--signing-key", keyPath, "--checkpoint-record", record},
		"refusing to serve this store", "the store holds a tree of size 5, smaller than 9", record)
	f := startServer(t, dir, "--storage", old, "--signing-key", keyPath, "--checkpoint-record", filepath.Join(dir, "fresh.published"))
	if idx := addEntries(t, f.URL, signer, "fresh", 1); idx != 5 {
		t.Fatalf("the restored copy took its next entry at %d, want 5", idx)
	}
}
