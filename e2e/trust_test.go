package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/witnesstest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// splitViewEnv is a directory with a signer's key pair, a log's public
// key and a trusted root naming the log at rootURL.
func splitViewEnv(t *testing.T, logKey *mosaictest.Log, rootURL string) string {
	t.Helper()
	dir := t.TempDir()
	signer, err := note.GenerateKey(note.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := note.MarshalPrivateKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := note.MarshalPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	logPub, err := note.MarshalPublicKey(logKey.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "signer.pem", string(priv))
	write(t, dir, "signer.pub", string(pub))
	write(t, dir, "log.pub", string(logPub))
	if code, out, errOut := mosaicCLI(t, dir, nil, "trusted-root", "create", "--out", "root.json",
		"--rekor", "url="+rootURL+",public-key=log.pub,start-time=2026-01-01T00:00:00Z"); code != 0 {
		t.Fatalf("trusted-root create: exit %d\n%s%s", code, out, errOut)
	}
	return dir
}

// signVia signs a new file name through the log at url and returns the
// bundle's name.
func signVia(t *testing.T, dir, url, name string) string {
	t.Helper()
	write(t, dir, name, "the artifact "+name+"\n")
	if code, out, errOut := mosaicCLI(t, dir, nil, "sign", name, "--key", "signer.pem", "--log-url", url, "--bundle", name+".json"); code != 0 {
		t.Fatalf("sign %s via %s: exit %d\n%s%s", name, url, code, out, errOut)
	}
	return name + ".json"
}

// A log shows two views: logs A and B share the signing key and the origin
// but not their entries. One verifier state directory: bundles from A
// verify; bundles from B (at A's size, larger, smaller) each exit 4 with an
// evidence file that mosaic verify-evidence confirms (and a tampered copy
// it refuses), and the remembered checkpoint stays A's. mosaic monitor of
// B with the same state directory exits 4 too.
func TestCLISplitView(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			key, err := note.GenerateKey(note.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			a := mosaictest.NewLog(t, mosaictest.Options{Store: store, Key: key})
			b := mosaictest.NewLog(t, mosaictest.Options{Store: store, Key: key})
			dir := splitViewEnv(t, a, a.URL)
			var aBundles, bBundles []string
			for i := range 2 {
				aBundles = append(aBundles, signVia(t, dir, a.URL, fmt.Sprintf("a%d", i)))
			}
			for i := range 3 {
				bBundles = append(bBundles, signVia(t, dir, b.URL, fmt.Sprintf("b%d", i)))
			}
			state := filepath.Join(stateHome(t), "mosaic")
			verifyBundle := func(bundle string) (int, string) {
				code, out, errOut := mosaicCLI(t, dir, nil, "verify", strings.TrimSuffix(bundle, ".json"), "--bundle", bundle,
					"--trusted-root", "root.json", "--key", "signer.pub")
				return code, out + errOut
			}
			if code, out := verifyBundle(aBundles[1]); code != 0 {
				t.Fatalf("verify A's bundle at size 2: exit %d\n%s", code, out)
			}
			wantA := rememberedCheckpoint(t, state, a)

			splitView := func(what, bundle string) {
				t.Helper()
				code, out := verifyBundle(bundle)
				m := regexp.MustCompile(`check it with: mosaic verify-evidence (\S+)\)`).FindStringSubmatch(out)
				if code != 4 || m == nil {
					t.Fatalf("%s: exit %d, want 4 naming the evidence file:\n%s", what, code, out)
				}
				checkEvidence(t, dir, m[1])
				if got := rememberedCheckpoint(t, state, a); got != wantA {
					t.Fatalf("%s: the remembered checkpoint changed to\n%s\nwant\n%s", what, got, wantA)
				}
			}
			splitView("B's bundle at A's size", bBundles[1])
			signVia(t, dir, a.URL, "a2") // A grows to 3: the proof 2 -> 3 comes from A
			splitView("B's larger bundle", bBundles[2])
			if code, out := verifyBundle("a2.json"); code != 0 {
				t.Fatalf("verify A's bundle at size 3: exit %d\n%s", code, out)
			}
			wantA = rememberedCheckpoint(t, state, a)
			splitView("B's smaller bundle", bBundles[0])

			code, out, errOut := mosaicCLI(t, dir, nil, "monitor", "--url", b.URL, "--log-key", "log.pub", "--state", "monitor.json", "--quiet")
			m := regexp.MustCompile(`check it with: mosaic verify-evidence (\S+)\)`).FindStringSubmatch(errOut)
			if code != 4 || m == nil {
				t.Fatalf("monitor of B: exit %d, want 4 naming the evidence file:\n%s%s", code, out, errOut)
			}
			checkEvidence(t, dir, m[1])
			if got := rememberedCheckpoint(t, state, a); got != wantA {
				t.Fatalf("after the monitor: the remembered checkpoint changed to\n%s", got)
			}
		})
	}
}

// rememberedCheckpoint is the checkpoint the verifier state under state
// holds for l's origin and key.
func rememberedCheckpoint(t *testing.T, state string, l *mosaictest.Log) string {
	t.Helper()
	mem, err := verify.NewDirMemory(filepath.Join(state, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mem.Load(verify.LogKey{Origin: l.Origin, LogID: l.LogID})
	if err != nil || raw == nil {
		t.Fatalf("remembered checkpoint: %q, %v", raw, err)
	}
	return string(raw)
}

// checkEvidence runs mosaic verify-evidence in dir on the file (exit 0, also
// against the trusted root) and on a copy whose newer checkpoint is the
// older one (exit 1).
func checkEvidence(t *testing.T, dir, file string) {
	t.Helper()
	for _, args := range [][]string{{file}, {file, "--trusted-root", "root.json"}} {
		if code, out, errOut := mosaicCLI(t, dir, nil, append([]string{"verify-evidence"}, args...)...); code != 0 ||
			!strings.Contains(out, "evidence holds") {
			t.Fatalf("verify-evidence %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	ev["newerCheckpoint"] = ev["olderCheckpoint"]
	tampered, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "tampered.json", string(tampered))
	if code, out, errOut := mosaicCLI(t, dir, nil, "verify-evidence", "tampered.json"); code != 1 || !strings.Contains(errOut, "does not show a split view") {
		t.Fatalf("verify-evidence of a tampered copy: exit %d, want 1\n%s%s", code, out, errOut)
	}
}

// A bundle logged through a log a real litewitness cosigns verifies under
// the witness policy that names that witness, and is refused under a
// 2-of-2 policy whose second witness never cosigned, naming it.
func TestCLIWitnessPolicy(t *testing.T) {
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.VerifierKey("127.0.0.1", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	w1 := witnesstest.Start(t, "w1.example")
	w1.AddLog("127.0.0.1", vkey)
	one := w1.PolicyLine("w1") + "\nquorum w1\n"
	l := mosaictest.NewLog(t, mosaictest.Options{Key: key, WitnessPolicy: one, WitnessFailClosed: true, WitnessTimeout: 10 * time.Second})
	dir := splitViewEnv(t, l, l.URL)
	bundle := signVia(t, dir, l.URL, "witnessed")
	w2, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	w2vkey, err := note.VerifierKey("w2.example", w2.Public())
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "one.policy", one)
	write(t, dir, "two.policy", fmt.Sprintf("%s\nwitness w2 %s https://w2.example\ngroup both 2 w1 w2\nquorum both\n", w1.PolicyLine("w1"), w2vkey))
	verifyWith := func(policy string) (int, string) {
		code, out, errOut := mosaicCLI(t, dir, nil, "verify", "witnessed", "--bundle", bundle, "--trusted-root", "root.json",
			"--key", "signer.pub", "--witness-policy", policy)
		return code, out + errOut
	}
	if code, out := verifyWith("one.policy"); code != 0 || !strings.Contains(out, "Verified OK") {
		t.Fatalf("verify under the policy the witness meets: exit %d\n%s", code, out)
	}
	code, out := verifyWith("two.policy")
	for _, want := range []string{"witness cosignatures", "cosigned by w1 (key w1.example)", "missing cosignatures from w2 (key w2.example)"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("verify under a 2-of-2 policy one witness met: exit %d, want 1 saying %q:\n%s", code, want, out)
		}
	}
}
