package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// mosaic monitor keeps the verifier memory mosaic verify keeps: the log
// given by --vkey, by --log-key or by --trusted-root is one log there (one
// file, whose checkpoint each of them checks on the next run), the default
// directory is the state directory's, and --no-verifier-state writes none.
func TestMonitorVerifierState(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	l := mosaictest.NewLog(t, mosaictest.Options{})
	addEntries(t, l, 2)
	keys := logKeys(t, l)
	pemPath := keys.logKey[1]
	root := filepath.Join(t.TempDir(), "trusted_root.json")
	runOK(t, "trusted-root", "create", "--out", root, "--rekor", "url="+l.URL+",public-key="+pemPath+",start-time=2026-01-01T00:00:00Z")
	dir := t.TempDir()
	monitor := func(state string, extra ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		args := append([]string{"monitor", "--url", l.URL, "--state", filepath.Join(dir, state), "--quiet"}, extra...)
		code := run(args, &stdout, &stderr)
		return code, stderr.String()
	}
	for i, k := range [][]string{keys.vkey, keys.logKey, {"--trusted-root", root}, keys.vkey} {
		if code, errOut := monitor(fmt.Sprintf("m%d.json", i), k...); code != exitOK {
			t.Fatalf("monitor %v: exit %d\n%s", k, code, errOut)
		}
		if i == 1 {
			addEntries(t, l, 1) // the next runs remember a larger checkpoint
		}
	}
	files, _ := filepath.Glob(filepath.Join(xdg, "mosaic", memorySubdir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("the default verifier state holds %v, want one log's file", files)
	}
	mem, err := verify.NewDirMemory(filepath.Join(xdg, "mosaic", memorySubdir))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mem.Load(verify.LogKey{Origin: l.Origin, LogID: l.LogID})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := note.ParseCheckpoint(raw); err != nil || cp.Size != 3 {
		t.Fatalf("remembered %q (%v), want the checkpoint of size 3", raw, err)
	}

	other := t.TempDir()
	if code, errOut := monitor("none.json", append(keys.vkey, "--verifier-state", other, "--no-verifier-state")...); code != exitOK {
		t.Fatalf("--no-verifier-state: exit %d\n%s", code, errOut)
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Errorf("--no-verifier-state wrote %v", ents)
	}
	if code, errOut := monitor("x.json", append(keys.vkey, "--origin", "other.example")...); code != exitUsage ||
		!strings.Contains(errOut, "--no-verifier-state") {
		t.Errorf("--vkey named other than --origin: exit %d, want %d naming --no-verifier-state:\n%s", code, exitUsage, errOut)
	}
	if code, errOut := monitor("x.json", append(keys.vkey, "--witness-policy", filepath.Join(dir, "missing.policy"))...); code != exitUsage ||
		!strings.Contains(errOut, "--witness-policy") {
		t.Errorf("a missing --witness-policy: exit %d, want %d:\n%s", code, exitUsage, errOut)
	}
}
