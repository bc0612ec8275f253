package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	formatsproof "github.com/transparency-dev/formats/proof"
	sumdbnote "golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The tlog-proof files 'mosaic proof' writes are read by an independent
// implementation of c2sp.org/tlog-proof, transparency-dev/formats' proof
// package (which re-encodes them byte for byte), and verify with nothing
// of Mosaic's: x/mod's signed-note verifier and its own Merkle code
// (sumdb/tlog.CheckRecord over the leaf's record hash). The other way, a
// proof written by formats from the log's API answer verifies with
// 'mosaic verify-proof'.
func TestTlogProofInterop(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mosaic")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/mosaiclog/mosaic/cmd/mosaic").CombinedOutput(); err != nil {
		t.Fatalf("building mosaic: %v\n%s", err, out)
	}
	lg := mosaictest.NewLog(t, mosaictest.Options{})
	c, err := client.New(lg.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	const n = 6
	for i := range n {
		if _, err := c.AddEntry(t.Context(), s.RequestProto(t, fmt.Appendf(nil, "tlog-proof interop %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	vkey, err := note.VerifierKey(lg.Origin, lg.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range uint64(n) {
		prefix := filepath.Join(dir, fmt.Sprintf("entry-%d", i))
		runMosaic(t, bin, "proof", "--index", fmt.Sprint(i), "--url", lg.URL, "--out", prefix)
		leaf, data := mustReadFile(t, prefix), mustReadFile(t, prefix+".tlog-proof")
		independentVerify(t, vkey, lg.Origin, i, leaf, data)

		// Written by formats, verified by Mosaic.
		tle, err := c.Entry(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		theirs := formatsproof.TLogProof{Index: i, Checkpoint: []byte(tle.GetInclusionProof().GetCheckpoint().GetEnvelope())}
		for _, h := range tle.GetInclusionProof().GetHashes() {
			theirs.Hashes = append(theirs.Hashes, [32]byte(h))
		}
		theirsPath := filepath.Join(dir, fmt.Sprintf("formats-%d.tlog-proof", i))
		mustWriteFile(t, theirsPath, theirs.Marshal())
		out := runMosaic(t, bin, "verify-proof", "--vkey", vkey, prefix, theirsPath)
		if !strings.HasPrefix(out, fmt.Sprintf("verified: %s is entry %d of log %s", prefix, i, lg.Origin)) {
			t.Errorf("mosaic verify-proof said %q", out)
		}
	}
}

// independentVerify reads a tlog-proof with formats and checks it with
// x/mod alone, as torchwood's VerifyProof does: open the checkpoint with
// the log's vkey, then check the record's inclusion under its root.
func independentVerify(t *testing.T, vkey, origin string, index uint64, leaf, data []byte) {
	t.Helper()
	var p formatsproof.TLogProof
	if err := p.Unmarshal(data); err != nil {
		t.Fatalf("formats does not read Mosaic's proof: %v\n%s", err, data)
	}
	if !bytes.Equal(p.Marshal(), data) {
		t.Fatalf("formats re-encodes Mosaic's proof differently:\n%s\nwant\n%s", p.Marshal(), data)
	}
	if p.Index != index || p.ExtraData != nil {
		t.Errorf("formats read index %d, extra %q; want %d and none", p.Index, p.ExtraData, index)
	}
	v, err := sumdbnote.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := sumdbnote.Open(p.Checkpoint, sumdbnote.VerifierList(v))
	if err != nil {
		t.Fatalf("x/mod does not verify the proof's checkpoint: %v", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil || cp.Origin != origin {
		t.Fatalf("checkpoint %q: %v (origin %q, want %q)", n.Text, err, cp.Origin, origin)
	}
	proof := make(tlog.RecordProof, len(p.Hashes))
	for i, h := range p.Hashes {
		proof[i] = tlog.Hash(h)
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), tlog.Hash(cp.Hash), int64(index), tlog.RecordHash(leaf)); err != nil {
		t.Errorf("x/mod's tlog.CheckRecord refuses entry %d: %v", index, err)
	}
	// And a leaf that is not the entry is refused by the same code.
	if err := tlog.CheckRecord(proof, int64(cp.Size), tlog.Hash(cp.Hash), int64(index), tlog.RecordHash(append(leaf, ' '))); err == nil {
		t.Errorf("x/mod's tlog.CheckRecord accepts a changed leaf for entry %d", index)
	}
}

// runMosaic runs the CLI binary and returns its stdout; it fails the test
// unless it exits 0.
func runMosaic(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mosaic %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
