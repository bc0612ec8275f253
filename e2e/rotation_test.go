package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRotationCosign rotates a keyless deployment to a new shard with the
// binaries and has an unmodified cosign v3 sign before and after: cosign
// signs into the shard the signing config says is valid now (the new one,
// once the old is frozen), and verifies the bundles of both shards with
// the trusted root the rotated server emits; mosaic verify does too.
func TestRotationCosign(t *testing.T) {
	bin := cosignTool(t)
	dir := t.TempDir()
	const email = "rotation@example.com"
	s, token, _ := keylessServer(t, dir, email)
	issuer := s.URL + "/dev-oidc"
	signBlob := func(file, bundle string) {
		t.Helper()
		fetchTo(t, s.URL+"/api/v2/trustedRoot", filepath.Join(dir, "root.json"))
		fetchTo(t, s.URL+"/api/v2/signingConfig", filepath.Join(dir, "signing_config.json"))
		var tok struct {
			IDToken string `json:"id_token"`
		}
		if err := json.Unmarshal(fetchTo(t, s.URL+"/dev-oidc/token?email="+email, ""), &tok); err != nil {
			t.Fatal(err)
		}
		token = tok.IDToken
		if code, out := cosign(t, bin, dir, "sign-blob", "--yes", "--trusted-root", "root.json", "--signing-config",
			"signing_config.json", "--identity-token", token, "--bundle", bundle, file); code != 0 {
			t.Fatalf("cosign sign-blob %s: exit %d\n%s", file, code, out)
		}
	}
	write(t, dir, "old.txt", "before the rotation\n")
	signBlob("old.txt", "old.sigstore.json")

	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s.args = append(s.args, "--shard", "2026b")
	s.start()
	freeze := exec.Command(filepath.Join(binDir, "mosaicd"), "freeze", "--storage", "file:data", "--shard", "main", "--successor", s.URL)
	freeze.Dir = dir
	if out, err := freeze.CombinedOutput(); err != nil || !strings.Contains(string(out), "froze shard main") {
		t.Fatalf("mosaicd freeze: %v\n%s", err, out)
	}
	for i := 0; !strings.Contains(string(fetchTo(t, s.URL+"/api/v2/signingConfig", "")), `"end"`); i++ {
		if i == 100 {
			t.Fatal("the signing config does not end the frozen shard's window")
		}
		time.Sleep(50 * time.Millisecond)
	}
	write(t, dir, "new.txt", "after the rotation\n")
	signBlob("new.txt", "new.sigstore.json")
	if bundleLogID(t, dir, "old.sigstore.json") == bundleLogID(t, dir, "new.sigstore.json") {
		t.Fatal("cosign logged the new file in the frozen shard")
	}
	for _, f := range []string{"old", "new"} {
		args := []string{"verify-blob", "--trusted-root", "root.json", "--bundle", f + ".sigstore.json",
			"--certificate-identity", email, "--certificate-oidc-issuer", issuer}
		if code, out := cosign(t, bin, dir, append(args, f+".txt")...); code != 0 {
			t.Errorf("cosign verify-blob %s: exit %d\n%s", f, code, out)
		}
		other := "old.txt"
		if f == "old" {
			other = "new.txt"
		}
		if code, out := cosign(t, bin, dir, append(args, other)...); code == 0 {
			t.Errorf("cosign verified the %s bundle over another file:\n%s", f, out)
		}
		code, out, errOut := mosaicCLI(t, dir, nil, "verify", f+".txt", "--bundle", f+".sigstore.json", "--trusted-root", "root.json",
			"--certificate-identity", email, "--certificate-oidc-issuer", issuer)
		if code != 0 {
			t.Errorf("mosaic verify %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
	monitorBothShards(t, dir, s.URL)
}

// monitorBothShards: one mosaic monitor pass with the rotated trusted root
// follows the active shard and the frozen one, each into its own state.
func monitorBothShards(t *testing.T, dir, url string) {
	t.Helper()
	code, out, errOut := mosaicCLI(t, dir, nil, "monitor", "--url", url, "--trusted-root", "root.json", "--state", "mon.json", "--quiet")
	if code != 0 {
		t.Fatalf("mosaic monitor: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"mon.json", "mon.json.main"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("mosaic monitor kept no state for a shard: %v", err)
		}
		if !strings.Contains(string(data), "127.0.0.1") {
			t.Errorf("%s: %s", f, data)
		}
	}
}

func bundleLogID(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		VerificationMaterial struct {
			TlogEntries []struct {
				LogID struct {
					KeyID string `json:"keyId"`
				} `json:"logId"`
			} `json:"tlogEntries"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(data, &b); err != nil || len(b.VerificationMaterial.TlogEntries) == 0 {
		t.Fatalf("%s has no tlog entry: %v", name, err)
	}
	return b.VerificationMaterial.TlogEntries[0].LogID.KeyID
}
