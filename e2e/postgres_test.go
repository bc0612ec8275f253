package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/pgtest"
)

// pgServerArgs creates a fresh database and a signing key and returns the
// serve flags for them.
func pgServerArgs(t *testing.T, dir string) (args []string, keyPath string) {
	t.Helper()
	keyPath = filepath.Join(dir, "key.pem")
	if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	return []string{"--storage", pgtest.NewDatabase(t), "--signing-key", keyPath}, keyPath
}

// kill -9 under sustained load on PostgreSQL: every acknowledged entry is in
// the log at its index with a valid proof, and the tree re-derives from the
// bundles.
func TestCrashRecoveryPostgres(t *testing.T) {
	dir := t.TempDir()
	args, keyPath := pgServerArgs(t, dir)
	s := startServer(t, dir, args...)
	acks := crashUnderLoad(t, s, 32)
	key := readKey(t, keyPath)
	checkAfterCrash(t, s.URL, s.Origin, key, acks, mosaictest.NewSigner(t, mosaictest.ECDSAP256))
}

// Two mosaicd frontends on one database serve one log: what one appends
// the other serves, and the same entry sent to both at once is logged once.
func TestTwoFrontendsPostgres(t *testing.T) {
	dir := t.TempDir()
	args, keyPath := pgServerArgs(t, dir)
	a := startServer(t, dir, args...)
	b := startServer(t, dir, args...)
	signer := mosaictest.NewSigner(t, mosaictest.Ed25519ph)

	const n = 20
	type result struct {
		status int
		index  string
	}
	results := make([][2]result, n)
	var wg sync.WaitGroup
	for i := range n {
		body := signer.Request(t, []byte("racing entry "+strconv.Itoa(i)))
		for j, s := range []*server{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tle, status, _, err := postEntry(t.Context(), s.URL, body)
				if err != nil {
					t.Error(err)
					return
				}
				r := result{status: status}
				if tle != nil {
					r.index = strconv.FormatInt(tle.GetLogIndex(), 10)
				}
				results[i][j] = r
			}()
		}
	}
	wg.Wait()
	// Both frontends answer 201 with the same index (one of them with the
	// existing entry), and the log holds each entry once.
	for i, r := range results {
		for j, x := range r {
			if x.status != http.StatusCreated {
				t.Errorf("entry %d at frontend %d: status %d, want 201", i, j, x.status)
			}
		}
		if r[0].index != r[1].index {
			t.Errorf("entry %d: frontends answered indices %s and %s, want one", i, r[0].index, r[1].index)
		}
	}
	key := readKey(t, keyPath)
	cpA, leavesA := logState(t, a.URL, a.Origin, key)
	if cpA.Size != n {
		t.Errorf("log size %d, want %d: a duplicate slipped through", cpA.Size, n)
	}
	rederive(t, cpA, leavesA)
	// Frontend b serves the same tree (it may lag a checkpoint behind).
	deadline := time.Now().Add(10 * time.Second)
	for {
		cpB, _ := logState(t, b.URL, b.Origin, key)
		if cpB.Size == cpA.Size && string(cpB.Hash) == string(cpA.Hash) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frontend b serves size %d, a serves %d", cpB.Size, cpA.Size)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
