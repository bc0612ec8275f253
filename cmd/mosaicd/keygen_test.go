package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
)

// keygen prints the log ID in standard base64, as trusted_root.json's
// logId.keyId and 'mosaic log info' spell it.
func TestKeygenPrintsBase64LogID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"keygen", "--out", path, "--public-url", "https://log.example.com"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := note.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	id, err := note.LogID("log.example.com", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	want := "log ID: " + base64.StdEncoding.EncodeToString(id) + "\n"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("keygen printed\n%s\nwant a line %q", stdout.String(), want)
	}
}
