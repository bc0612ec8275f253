package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/sign"
	"github.com/mosaiclog/mosaic/pkg/tlogproof"
)

// runOK runs the CLI and fails the test unless it exits 0; it returns
// stdout.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("mosaic %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// runFails runs the CLI and fails the test unless it exits 1 with want in
// its error; it returns stderr.
func runFails(t *testing.T, want string, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	if code != exitFailed || !strings.Contains(stderr.String(), want) {
		t.Errorf("mosaic %s: exit %d, want %d with %q in:\n%s", strings.Join(args, " "), code, exitFailed, want, stderr.String())
	}
}

// keyFlags are the three ways to give a test log's key to the CLI.
type keyFlags struct{ vkey, logKey []string }

func logKeys(t *testing.T, l *mosaictest.Log) keyFlags {
	t.Helper()
	vkey, err := note.VerifierKey(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := note.MarshalPublicKey(l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "log.pub")
	if err := os.WriteFile(path, pemKey, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyFlags{vkey: []string{"--vkey", vkey}, logKey: []string{"--log-key", path, "--origin", l.Origin}}
}

// addEntries logs n hashedrekord entries.
func addEntries(t *testing.T, l *mosaictest.Log, n int) {
	t.Helper()
	c, err := client.New(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range n {
		if _, err := c.AddEntry(t.Context(), s.RequestProto(t, fmt.Appendf(nil, "artifact %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// On both stores, mosaic proof writes each entry and a tlog-proof that
// mosaic verify-proof accepts with the log's key alone (as a vkey, or as
// a PEM key and origin); the leaf is the entry whose RFC 6962 hash is in
// the tree.
func TestProofRoundTrip(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
			addEntries(t, l, 5)
			keys := logKeys(t, l)
			dir := t.TempDir()
			for i := range 5 {
				prefix := filepath.Join(dir, fmt.Sprintf("e%d", i))
				out := runOK(t, append([]string{"proof", "--index", fmt.Sprint(i), "--url", l.URL, "--out", prefix}, keys.vkey...)...)
				if !strings.Contains(out, fmt.Sprintf("wrote %s (entry %d of 127.0.0.1", prefix, i)) || !strings.Contains(out, "verified against the log's key") {
					t.Errorf("mosaic proof said:\n%s", out)
				}
				checkLeaf(t, l, uint64(i), prefix)
				want := fmt.Sprintf("verified: %s is entry %d of log 127.0.0.1 (tree size ", prefix, i)
				for _, k := range [][]string{keys.vkey, keys.logKey} {
					if out := runOK(t, append([]string{"verify-proof", prefix}, k...)...); !strings.HasPrefix(out, want) {
						t.Errorf("verify-proof said %q, want %q...", out, want)
					}
				}
			}
		})
	}
}

// checkLeaf checks that the leaf file is the entry the log holds at index.
func checkLeaf(t *testing.T, l *mosaictest.Log, index uint64, path string) {
	t.Helper()
	leaf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	tle, err := c.Entry(t.Context(), index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf, tle.GetCanonicalizedBody()) {
		t.Errorf("leaf file %s is not entry %d's canonicalized body", path, index)
	}
}

// A flipped byte in the leaf, a proof hash, the checkpoint body or the
// log's signature, another key and another origin: each exits 1 naming
// the check that failed. The untouched files still verify.
func TestVerifyProofRefuses(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	addEntries(t, l, 3)
	keys := logKeys(t, l)
	prefix := filepath.Join(t.TempDir(), "entry")
	runOK(t, "proof", "--index", "1", "--url", l.URL, "--out", prefix)
	leaf, proof := mustRead(t, prefix), mustRead(t, prefix+tlogproof.Extension)
	p, err := tlogproof.Parse(proof)
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	otherVkey, err := note.VerifierKey(l.Origin, other.Public())
	if err != nil {
		t.Fatal(err)
	}
	hashFlipped := *p
	hashFlipped.Hashes = append([][]byte(nil), p.Hashes...)
	hashFlipped.Hashes[0] = flipByte(p.Hashes[0], 7)
	for _, tc := range []struct {
		name        string
		leaf, proof []byte
		flags       []string
		want        string
	}{
		{"leaf byte", flipByte(leaf, 20), proof, keys.vkey, "inclusion proof: the leaf and proof hashes lead to root"},
		{"proof hash byte", leaf, marshalProof(t, &hashFlipped), keys.vkey, "inclusion proof: "},
		{"checkpoint body", leaf, flipRootLine(t, proof, l.Origin), keys.vkey, "checkpoint: the checkpoint of log \"127.0.0.1\" does not verify"},
		{"checkpoint signature", leaf, flipLogSignature(t, proof, l.Origin), keys.vkey, "checkpoint: the checkpoint of log \"127.0.0.1\" does not verify"},
		{"another key", leaf, proof, []string{"--vkey", otherVkey}, "checkpoint: the checkpoint of log \"127.0.0.1\" does not verify"},
		{"another origin", leaf, proof, append(keys.logKey, "--origin", "other.example"), `signed for origin "127.0.0.1", you asked for "other.example" (if that is the log you meant, give --origin 127.0.0.1)`},
		{"not a proof", leaf, leaf, keys.vkey, "tlog-proof format: the first line is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lp, pp := filepath.Join(dir, "leaf"), filepath.Join(dir, "proof")
			mustWrite(t, lp, tc.leaf)
			mustWrite(t, pp, tc.proof)
			runFails(t, tc.want, append([]string{"verify-proof", lp, pp}, tc.flags...)...)
		})
	}
	runOK(t, append([]string{"verify-proof", prefix, prefix + tlogproof.Extension}, keys.vkey...)...)
}

// mosaic proof --bundle writes the proof of a real bundle (signed by
// pkg/sign against a real log) without the network, and it verifies; the
// JSON output names what was written.
func TestProofFromBundle(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	addEntries(t, l, 2)
	s, err := sign.New(sign.Config{LogURLs: []string{l.URL}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := note.GenerateKey(note.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	artifact := make([]byte, 100)
	_, _ = rand.Read(artifact)
	b, err := s.SignWithKey(t.Context(), key, bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sign.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundlePath, prefix := filepath.Join(dir, "artifact.sigstore.json"), filepath.Join(dir, "artifact.entry")
	mustWrite(t, bundlePath, raw)
	// No --url: the bundle is all there is.
	out := runOK(t, "proof", "--bundle", bundlePath, "--out", prefix, "--url", "http://127.0.0.1:1", "--output", "json")
	var got proofOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tle := b.GetVerificationMaterial().GetTlogEntries()[0]
	if got.Index != 2 || got.Leaf != prefix || got.Proof != prefix+tlogproof.Extension || got.Origin != l.Origin || got.Verified {
		t.Errorf("mosaic proof --bundle: %+v", got)
	}
	if !bytes.Equal(mustRead(t, prefix), tle.GetCanonicalizedBody()) {
		t.Error("the leaf file is not the bundle's canonicalizedBody")
	}
	keys := logKeys(t, l)
	out = runOK(t, append([]string{"verify-proof", prefix, "--output", "json"}, keys.vkey...)...)
	var v verifyProofOutput
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Verified || v.Index != 2 || v.TreeSize != uint64(tle.GetInclusionProof().GetTreeSize()) {
		t.Errorf("verify-proof --output json: %v %+v", err, v)
	}
}

// Command-line mistakes exit 2 before any I/O; a bundle that is not one,
// or an index the log does not have, exits 1 saying so.
func TestProofUsage(t *testing.T) {
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.VerifierKey("127.0.0.1", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"proof"}, "give one of --index N or --bundle FILE"},
		{[]string{"proof", "--index", "1", "--bundle", "b"}, "give one of --index N or --bundle FILE"},
		{[]string{"proof", "--index", "x"}, `--index "x": want a non-negative integer`},
		{[]string{"proof", "--index", "-1"}, `--index "-1": want a non-negative integer`},
		{[]string{"proof", "--bundle", "/nonexistent/b.json"}, "--bundle: open /nonexistent/b.json"},
		{[]string{"verify-proof"}, "missing arguments"},
		{[]string{"verify-proof", "a", "b", "c"}, "unexpected arguments"},
		{[]string{"verify-proof", "a"}, "give exactly one of --trusted-root, --vkey, --log-key"},
		{[]string{"verify-proof", "a", "--vkey", "nonsense"}, `parsing verifier key "nonsense"`},
		{[]string{"verify-proof", "/nonexistent/leaf", "--vkey", vkey}, "LEAF: open /nonexistent/leaf"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q in:\n%s", code, exitUsage, tc.want, stderr.String())
			}
		})
	}
	dir := t.TempDir()
	notBundle := filepath.Join(dir, "b.json")
	mustWrite(t, notBundle, []byte(`{"mediaType": 1}`))
	runFails(t, "is not a Sigstore bundle", "proof", "--bundle", notBundle)
	noEntries := filepath.Join(dir, "empty.json")
	mustWrite(t, noEntries, []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	runFails(t, "holds 0 transparency log entries, want exactly 1", "proof", "--bundle", noEntries)
	l := mosaictest.NewLog(t, mosaictest.Options{})
	addEntries(t, l, 1)
	runFails(t, "does not cover entry 7", "proof", "--index", "7", "--url", l.URL, "--out", filepath.Join(dir, "x"))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func marshalProof(t *testing.T, p *tlogproof.Proof) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flipRootLine changes the first character of the checkpoint's root hash
// to another base64 letter.
func flipRootLine(t *testing.T, proof []byte, origin string) []byte {
	t.Helper()
	s := string(proof)
	i := strings.Index(s, "\n\n"+origin+"\n")
	if i < 0 {
		t.Fatalf("no checkpoint in\n%s", s)
	}
	j := i + len("\n\n"+origin+"\n")
	j += strings.IndexByte(s[j:], '\n') + 1
	c := []byte(s)
	if c[j] == 'A' {
		c[j] = 'B'
	} else {
		c[j] = 'A'
	}
	return c
}

// flipLogSignature flips a byte of the log's signature and re-encodes it.
func flipLogSignature(t *testing.T, proof []byte, origin string) []byte {
	t.Helper()
	s := string(proof)
	start := strings.Index(s, "\n— "+origin+" ")
	if start < 0 {
		t.Fatalf("no signature by %s in\n%s", origin, s)
	}
	start += len("\n— " + origin + " ")
	end := start + strings.IndexByte(s[start:], '\n')
	sig, err := base64.StdEncoding.DecodeString(s[start:end])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s[:start] + base64.StdEncoding.EncodeToString(flipByte(sig, 30)) + s[end:])
}
