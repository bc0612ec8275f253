//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/diskspace/diskspacetest"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// diskMetric reads the main log's disk gauge name from /metrics.
func diskMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+`{log="main"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// checkReads reads the whole log as a client does (checkpoint, bundles,
// tiles), proves every acknowledged entry and re-derives the tree, and also
// asks the server for an entry and a proof.
func checkReads(t *testing.T, s *server, key crypto.PublicKey, acks []acked) {
	t.Helper()
	cp, leaves := logState(t, s.URL, s.Origin, key)
	checkAcked(t, s.URL, cp, leaves, acks)
	rederive(t, cp, leaves)
	a := acks[len(acks)/2]
	for _, path := range []string{
		fmt.Sprintf("/api/v2/log/entries/%d", a.index),
		fmt.Sprintf("/api/v2/log/proof/inclusion?index=%d&treeSize=%d", a.index, cp.Size),
		fmt.Sprintf("/api/v2/log/proof/consistency?first=%d&second=%d", a.index+1, cp.Size),
	} {
		if status, _, msg, err := probe(s.URL + path); err != nil || status != http.StatusOK {
			t.Errorf("GET %s: %d %s %v", path, status, msg, err)
		}
	}
}

// noCrash fails t if mosaicd's log shows a crash.
func noCrash(t *testing.T, s *server) {
	t.Helper()
	for _, bad := range []string{"SIGBUS", "panic", "fatal error"} {
		if strings.Contains(s.stderr.String(), bad) {
			t.Fatalf("mosaicd's log mentions %q:\n%s", bad, s.stderr)
		}
	}
}

// searchFinds reports whether a search by digest returns index.
func searchFinds(t *testing.T, url string, digest [sha256.Size]byte, index uint64) bool {
	t.Helper()
	query := fmt.Sprintf(`{"digest":"sha256:%s"}`, hex.EncodeToString(digest[:]))
	resp, err := http.Post(url+"/api/v2/log/search", "application/json", strings.NewReader(query))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var res struct {
		Results []struct {
			LogIndex uint64 `json:"logIndex"`
		} `json:"results"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&res) != nil {
		return false
	}
	for _, r := range res.Results {
		if r.LogIndex == index {
			return true
		}
	}
	return false
}

// leftoverTemps lists files in the log directory that only an interrupted
// write leaves: empty files other than Tessera's lock files, and files
// named like Tessera's temporary files.
func leftoverTemps(t *testing.T, data string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		name := d.Name()
		switch {
		case fi.Size() == 0 && !strings.HasSuffix(name, ".lock"):
			found = append(found, rel+" (empty)")
		case strings.HasPrefix(rel, "tile"+string(filepath.Separator)) && len(name) > 3 && !strings.HasSuffix(filepath.Dir(rel), ".p"):
			found = append(found, rel)
		case rel != "checkpoint" && strings.HasPrefix(rel, "checkpoint"):
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// The embedded store on a small filesystem that 64 writers fill: the
// process never dies, writes are refused with 507 saying the disk is full
// while reads and proofs are served and /readyz says "disk full"; it
// restarts on the completely full disk and serves reads; once space is
// freed it writes again without a restart; every acknowledged entry is in
// the log with a valid proof, and no temporary file is left behind.
func TestDiskFullPosix(t *testing.T) {
	mnt := diskspacetest.Mount(t, "64m")
	data := filepath.Join(mnt, "data")
	const reserve = 8 << 20
	s := startServer(t, t.TempDir(), "--storage", "file:"+data, "--init", "--disk-reserve", "8MiB")
	key := readKey(t, filepath.Join(data, ".mosaic", "signing-key.pem"))
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	early := signer.Request(t, []byte("before the disk filled"))
	tle, status, b, err := postEntry(t.Context(), s.URL, early)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("first add: %d %s %v", status, b, err)
	}
	earlyAck := acked{index: uint64(tle.GetLogIndex()), leaf: tle.GetCanonicalizedBody(), request: early}

	// Leave 6 MiB above the reserve once Badger's files are allocated,
	// and let 64 writers take it.
	waitFor(t, 10*time.Second, "Badger's memory-mapped files allocated", func() bool {
		return diskMetric(t, s.URL, "mosaic_disk_unallocated_mapped_bytes") == 0
	})
	available := int64(diskMetric(t, s.URL, "mosaic_disk_available_bytes"))
	diskspacetest.Fill(t, filepath.Join(mnt, "filler-1"), available-reserve-6<<20)
	start := time.Now()
	load := startOutageLoad(t, s.URL, 64)
	full := func(o addOutcome) bool { return o.status == http.StatusInsufficientStorage }
	waitFor(t, 2*time.Minute, "64 writers filling the disk to its reserve", func() bool {
		s.alive(t, "while 64 writers filled the disk")
		return load.count(full) >= 500
	})
	filledIn := time.Since(start)
	outcomes, acks := load.finish()
	s.alive(t, "while 64 writers filled the disk")
	counts := map[int]int{}
	for _, o := range outcomes {
		counts[o.status]++
		switch {
		case o.err != nil:
			t.Fatalf("an add failed without an answer (the server died?): %v", o.err)
		case o.status == http.StatusInsufficientStorage:
			for _, want := range []string{"disk is full", data, "left for writes", "reserve of 8.0 MiB"} {
				if !strings.Contains(o.msg, want) {
					t.Fatalf("507 message lacks %q: %s", want, o.msg)
				}
			}
		case o.status != http.StatusCreated:
			t.Fatalf("an add answered %d %s; want 201 or 507", o.status, o.msg)
		}
	}
	if len(acks) < 100 {
		t.Fatalf("only %d adds acknowledged before the disk filled; the test proves little", len(acks))
	}
	acks = append(acks, earlyAck)
	t.Logf("64 writers: %d acknowledged, %d refused with 507 (%v), in %s", len(acks), counts[http.StatusInsufficientStorage], counts, filledIn.Round(time.Millisecond))

	// Full to the reserve: reads and proofs are served, /readyz says why.
	checkReads(t, s, key, acks)
	if status, _, msg, _ := probe(s.URL + "/readyz"); status != http.StatusServiceUnavailable || msg != "not ready: disk full" {
		t.Errorf("/readyz on a full disk: %d %q", status, msg)
	}

	// Temporary files as a process that died mid-write leaves them.
	planted := []string{filepath.Join(data, "checkpoint1380618378"), filepath.Join(data, "tile", "entries", "0001024571")}
	for i, p := range planted {
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), i), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Something else takes the rest of the disk, to the last byte.
	diskspacetest.Fill(t, filepath.Join(mnt, "filler-2"), -1)
	stalled := startOutageLoad(t, s.URL, 8)
	time.Sleep(3 * time.Second) // three watcher measurements with writers knocking
	outcomes, _ = stalled.finish()
	s.alive(t, "with the disk full to the last byte")
	for _, o := range outcomes {
		if o.err != nil || o.status != http.StatusInsufficientStorage {
			t.Fatalf("an add on a disk full to the last byte: %d %s %v; want 507", o.status, o.msg, o.err)
		}
	}
	checkReads(t, s, key, acks)
	noCrash(t, s)

	// Restart on the full disk: it serves reads and refuses writes.
	if err := s.stop(); err != nil {
		t.Fatalf("graceful stop on a full disk: %v", err)
	}
	s.startedAt = "/healthz"
	s.start()
	if status, _, msg, _ := probe(s.URL + "/readyz"); status != http.StatusServiceUnavailable || msg != "not ready: disk full" {
		t.Errorf("/readyz after a restart on a full disk: %d %q", status, msg)
	}
	if _, status, b, err := postEntry(t.Context(), s.URL, signer.Request(t, []byte("on a full disk"))); err != nil || status != http.StatusInsufficientStorage {
		t.Errorf("add after a restart on a full disk: %d %s %v, want 507", status, b, err)
	}
	checkReads(t, s, key, acks)
	waitFor(t, 30*time.Second, "stale temporary files swept", func() bool {
		for _, p := range planted {
			if _, err := os.Stat(p); err == nil {
				return false
			}
		}
		return true
	})

	// Space comes back: writing resumes by itself.
	for _, f := range []string{"filler-1", "filler-2"} {
		if err := os.Remove(filepath.Join(mnt, f)); err != nil {
			t.Fatal(err)
		}
	}
	freed := time.Now()
	resumed := signer.Request(t, []byte("after space was freed"))
	var resumedAck acked
	waitFor(t, 30*time.Second, "an add acknowledged after space was freed", func() bool {
		tle, status, _, err := postEntry(t.Context(), s.URL, resumed)
		if err == nil && status == http.StatusCreated {
			resumedAck = acked{index: uint64(tle.GetLogIndex()), leaf: tle.GetCanonicalizedBody(), request: resumed}
			return true
		}
		return false
	})
	resumeTime := time.Since(freed)
	waitFor(t, 10*time.Second, "/readyz 200 after space was freed", func() bool {
		status, _, _, _ := probe(s.URL + "/readyz")
		return status == http.StatusOK
	})
	acks = append(acks, resumedAck)
	t.Logf("restarted on the full disk; writing resumed %s after space was freed", resumeTime.Round(time.Millisecond))

	// The dedup map caught up after its deferred start: a retry of an entry
	// acknowledged before the disk filled resolves to its index.
	if tle, status, b, err := postEntry(t.Context(), s.URL, early); err != nil || status != http.StatusCreated || uint64(tle.GetLogIndex()) != earlyAck.index {
		t.Errorf("retry of the entry acknowledged at %d: %d %s %v", earlyAck.index, status, b, err)
	}
	// The search index resumed by itself: it finds the entry added after.
	waitFor(t, 15*time.Second, "the search index finding the entry added after space was freed", func() bool {
		return searchFinds(t, s.URL, sha256.Sum256([]byte("after space was freed")), resumedAck.index)
	})

	cp, leaves := logState(t, s.URL, s.Origin, key)
	checkAcked(t, s.URL, cp, leaves, acks)
	rederive(t, cp, leaves)
	// Failed writes on the full disk may have left temporary files
	// (Tessera leaks one per ENOSPC); the sweeper removes them once there is
	// room again.
	waitFor(t, 30*time.Second, "no temporary files left in the log directory", func() bool {
		return len(leftoverTemps(t, data)) == 0
	})
	noCrash(t, s)
}
