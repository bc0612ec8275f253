package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// mosaicd runs a mosaicd command in dir and returns its output; it must
// succeed.
func mosaicd(t *testing.T, dir string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mosaicd"), args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("mosaicd %s: %v\n%s%s", strings.Join(args, " "), err, &o, &e)
	}
	return o.String(), e.String()
}

// retryKeepsIndex re-submits acknowledged entries to the server at url:
// each must come back at its original index, so the duplicate index was
// rebuilt with the log.
func retryKeepsIndex(t *testing.T, url string, acks []acked) {
	t.Helper()
	for _, a := range []acked{acks[0], acks[len(acks)/2], acks[len(acks)-1]} {
		tle, status, b, err := postEntry(t.Context(), url, a.request)
		if err != nil || status != http.StatusCreated || uint64(tle.GetLogIndex()) != a.index {
			t.Fatalf("the entry acknowledged at %d, sent again: %d %s %v (index %d)", a.index, status, b, err, tle.GetLogIndex())
		}
	}
}

// The operator's whole path with the binaries: mosaicd backup of a file
// store while 8 clients keep writing to its server, restored with its key
// into PostgreSQL and served from there, and the same log imported over
// HTTP from the running server into a new file store and served too. Each
// copy holds every acknowledged entry below its size at its index with a
// valid proof, re-derives from its bundles, and knows its entries again (a
// retry keeps its index).
func TestBackupRestoreImportCLI(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--storage", "file:data", "--init")
	stop := make(chan struct{})
	loaded := make(chan []acked)
	go func() { loaded <- loadUntil(t, s.URL, 8, stop) }()
	growTo(t, s.URL, 300)
	out, progress := mosaicd(t, dir, "backup", "--storage", "file:data", "--to", "bk", "--include-keys")
	close(stop)
	acks := <-loaded
	if !strings.Contains(out, "fsck-clean") || !strings.Contains(progress, "(100%)") {
		t.Errorf("backup output:\n%s\n%s", out, progress)
	}
	keyPath := filepath.Join(dir, "data", ".mosaic", "signing-key.pem")
	key := readKey(t, keyPath)
	m := readManifest(t, filepath.Join(dir, "bk"))
	var below []acked
	for _, a := range acks {
		if a.index < m.size {
			below = append(below, a)
		}
	}
	if len(below) < 10 {
		t.Fatalf("only %d acknowledged entries below the backup's size %d", len(below), m.size)
	}

	db := pgtest.NewDatabase(t)
	restoredKey := filepath.Join(dir, "restored-key.pem")
	out, _ = mosaicd(t, dir, "restore", "--from", "bk", "--storage", db, "--signing-key", restoredKey)
	if !strings.Contains(out, "wrote the backup's signing key") {
		t.Errorf("restore output: %s", out)
	}
	r := startServer(t, dir, "--storage", db, "--signing-key", restoredKey, "--checkpoint-record", filepath.Join(dir, "pg.published"))
	cp, leaves := logState(t, r.URL, r.Origin, key)
	if cp.Size != m.size {
		t.Fatalf("the restored log serves size %d, the backup is of %d", cp.Size, m.size)
	}
	checkAcked(t, r.URL, cp, leaves, below)
	rederive(t, cp, leaves)
	retryKeepsIndex(t, r.URL, below)

	vkey, err := note.VerifierKey(s.Origin, key)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = mosaicd(t, dir, "import", "--from", s.URL+"/api/v2", "--vkey", vkey, "--storage", "file:imported")
	if !strings.Contains(out, "fsck-clean") {
		t.Errorf("import output: %s", out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	i := startServer(t, dir, "--storage", "file:imported", "--signing-key", keyPath)
	cp, leaves = logState(t, i.URL, i.Origin, key)
	if cp.Size < uint64(len(acks)) {
		t.Fatalf("the imported log holds %d entries; %d were acknowledged", cp.Size, len(acks))
	}
	checkAcked(t, i.URL, cp, leaves, acks)
	rederive(t, cp, leaves)
	retryKeepsIndex(t, i.URL, acks)
	t.Logf("%d entries acknowledged; backup at size %d restored into PostgreSQL; import at size %d", len(acks), m.size, cp.Size)
}

type manifestSize struct {
	size uint64
}

// readManifest reads the size a backup's manifest records.
func readManifest(t *testing.T, dir string) manifestSize {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Size uint64 `json:"size"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return manifestSize{m.Size}
}
