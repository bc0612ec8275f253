package trustroot_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/trustroot"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// The golden files show exactly what clients receive. Regenerate them with
//
//	go test ./internal/trustroot -run TestGolden -update
//
// after an intended change, and review the diff. -update-inputs first
// replaces the certificates and certificate log key in testdata with new
// ones from pki.Init (the log key is derived from a fixed seed).
var (
	update       = flag.Bool("update", false, "rewrite testdata/*.json")
	updateInputs = flag.Bool("update-inputs", false, "regenerate testdata's certificates and certificate log key with pki.Init")
)

const (
	goldenBaseURL = "https://mosaic.example.com"
	goldenOrigin  = "mosaic.example.com"
)

func TestGolden(t *testing.T) {
	if *updateInputs {
		writeGoldenInputs(t)
	}
	d := goldenDeployment(t)
	for _, c := range []struct {
		file string
		fn   func(trustroot.Deployment) ([]byte, error)
	}{
		{"trusted_root.json", trustroot.TrustedRoot},
		{"signing_config.json", trustroot.SigningConfig},
	} {
		got, err := c.fn(d)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", c.file)
		if *update || *updateInputs {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (if intended, run with -update and review the diff):\n%s", c.file, path, got)
		}
	}
}

func goldenDeployment(t *testing.T) trustroot.Deployment {
	t.Helper()
	caChain, err := pki.LoadChain(filepath.Join("testdata", pki.CAChainFile))
	if err != nil {
		t.Fatal(err)
	}
	tsaChain, err := pki.LoadChain(filepath.Join("testdata", pki.TSAChainFile))
	if err != nil {
		t.Fatal(err)
	}
	ctPEM, err := os.ReadFile(filepath.Join("testdata", "ctlog.pub"))
	if err != nil {
		t.Fatal(err)
	}
	ctPub, err := note.ParsePublicKey(ctPEM)
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("mosaic trustroot golden log key"))
	logPub := ed25519.NewKeyFromSeed(seed[:]).Public()
	logID, err := note.LogID(goldenOrigin, logPub)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return trustroot.Deployment{
		BaseURL: goldenBaseURL,
		OIDCURL: goldenBaseURL + "/dev-oidc",
		Log:     &trustroot.TLog{Origin: goldenOrigin, PublicKey: logPub, LogID: logID, Start: start},
		CA:      caChain,
		CTLog:   &trustroot.TLog{Origin: goldenOrigin + "/certlog", PublicKey: ctPub, Start: start},
		TSA:     tsaChain,
	}
}

// writeGoldenInputs replaces testdata's public inputs with fresh ones. The
// private keys are thrown away with the temporary directory.
func writeGoldenInputs(t *testing.T) {
	files, err := pki.Init(filepath.Join(t.TempDir(), "keyless"), pki.InitOptions{Organization: "Example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{pki.CAChainFile, pki.TSAChainFile} {
		b, err := os.ReadFile(filepath.Join(files.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctKey, err := pki.LoadSigner(files.CTLogKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := note.MarshalPublicKey(ctKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "ctlog.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
}
