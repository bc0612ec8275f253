package verify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

var update = flag.Bool("update", false, "regenerate testdata/ from a live test Mosaic")

// Golden files: a trusted root and two bundles (key-signed at log index 0,
// keyless at index 1) made by a real test deployment, verified offline by
// TestGolden, the Example and the fuzz targets' seeds.
const (
	goldenTrustedRoot = "testdata/trusted_root.json"
	goldenKeyless     = "testdata/keyless.sigstore.json"
	goldenKey         = "testdata/key.sigstore.json"
	goldenKeyPub      = "testdata/key.pub"
	goldenArtifact    = "testdata/artifact.txt"
	goldenIdentity    = "alice@example.com"
	goldenIssuerRE    = `http://127\.0\.0\.1:[0-9]+/dev-oidc`
)

// TestGenerateTestdata regenerates the golden files:
//
//	go test ./pkg/verify -run TestGenerateTestdata -update
func TestGenerateTestdata(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/")
	}
	e := newEnv(t, "posix")
	artifact, err := os.ReadFile(goldenArtifact)
	if err != nil {
		t.Fatal(err)
	}
	key := e.keyed(t, artifact, false)
	kl := e.keyless(t, goldenIdentity, artifact, keylessOptions{})
	pub, err := note.MarshalPublicKey(key.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		goldenTrustedRoot: e.trJSON,
		goldenKeyless:     indent(t, kl.json),
		goldenKey:         indent(t, key.json),
		goldenKeyPub:      pub,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.FromSlash(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func indent(t testing.TB, js []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden verifies the checked-in bundles offline: they stay valid
// forever, since every time-dependent check uses their timestamps.
func TestGolden(t *testing.T) {
	trJSON, artifact := readFile(t, goldenTrustedRoot), readFile(t, goldenArtifact)
	res, err := verifyJSON(t, readFile(t, goldenKeyless), verify.ArtifactBytes(artifact), trJSON,
		verify.Policy{CertificateIdentity: goldenIdentity, CertificateOIDCIssuerRegexp: goldenIssuerRE})
	if err != nil {
		t.Fatalf("keyless: %v", err)
	}
	if res.LogIndex != 1 || res.SAN != goldenIdentity {
		t.Errorf("keyless: %+v", res)
	}
	pub, err := note.ParsePublicKey(readFile(t, goldenKeyPub))
	if err != nil {
		t.Fatal(err)
	}
	res, err = verifyJSON(t, readFile(t, goldenKey), verify.ArtifactBytes(artifact), trJSON, verify.Policy{PublicKey: pub})
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	if res.LogIndex != 0 || !res.SigningTime.IsZero() {
		t.Errorf("key: %+v", res)
	}
}
