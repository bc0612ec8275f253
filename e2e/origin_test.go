package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
)

// TestOtherOrigin: a log started with an origin that is not its URL's
// hostname. The example and the CLI, asked for the hostname, say which
// origin the checkpoint is signed for and which they asked for (not only
// that no signature verifies); with --origin they verify it.
func TestOtherOrigin(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--origin", "log.example.org")
	keyPath := filepath.Join(dir, "mosaic-data", ".mosaic", "signing-key.pem")
	pub, err := note.MarshalPublicKey(readKey(t, keyPath))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "log.pub", string(pub))
	const want = `the checkpoint is signed for origin "log.example.org", you asked for "127.0.0.1"`

	example := func(args ...string) (string, error) {
		out, err := exec.Command(filepath.Join(binDir, "example"), append([]string{"--url", s.URL, "--log-key", keyPath}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := example(); err == nil || !strings.Contains(out, want) || !strings.Contains(out, "--origin log.example.org") {
		t.Errorf("example without --origin: %v\n%s\nwant %q and the flag to give", err, out, want)
	}
	if out, err := example("--origin", "log.example.org"); err != nil || !strings.Contains(out, "verified inclusion") {
		t.Errorf("example --origin log.example.org: %v\n%s", err, out)
	}

	code, _, errOut := mosaicCLI(t, dir, nil, "audit", "--url", s.URL, "--log-key", "log.pub", "--quiet")
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "--origin log.example.org") {
		t.Errorf("mosaic audit without --origin: exit %d\n%s\nwant exit 1, %q and the flag to give", code, errOut, want)
	}
	code, out, errOut := mosaicCLI(t, dir, nil, "audit", "--url", s.URL, "--log-key", "log.pub", "--origin", "log.example.org", "--quiet")
	if code != 0 || !strings.Contains(out, "audit OK: log.example.org") {
		t.Errorf("mosaic audit --origin log.example.org: exit %d\n%s%s", code, out, errOut)
	}
}
