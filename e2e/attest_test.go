package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
)

// cosignVersion is the cosign release the tests drive; the Makefile pins
// the same.
const cosignVersion = "v3.1.3"

// cosignTool returns the cosign binary 'make tools' builds, or one on PATH;
// without it the test fails in CI and is skipped elsewhere, saying how to
// install it.
func cosignTool(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	path := filepath.Join(home, ".cache", "mosaic-tools", "cosign-"+cosignVersion, "cosign")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	msg := fmt.Sprintf("cosign not found in %s or PATH; install it with 'make tools' "+
		"(go install github.com/sigstore/cosign/v3/cmd/cosign@%s)", filepath.Dir(path), cosignVersion)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// cosign runs cosign in dir and returns its exit code and output.
func cosign(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

const attestType = "https://mosaic.example/release/v1"

// TestCLIAttestInteropCosign: attestations go both ways between mosaic and
// an unmodified cosign v3.1.3 against a real keyless deployment: `mosaic
// attest` output passes `cosign verify-blob-attestation`, and `cosign
// attest-blob` output passes `mosaic verify --predicate-type`, keyless and
// with a key; then a refusal table in which each failure names its check.
func TestCLIAttestInteropCosign(t *testing.T) {
	bin := cosignTool(t)
	dir := t.TempDir()
	const email = "alice@example.com"
	s, token, root := keylessServer(t, dir, email)
	issuer := s.URL + "/dev-oidc"
	fetchTo(t, s.URL+"/api/v2/signingConfig", filepath.Join(dir, "signing_config.json"))
	write(t, dir, "release.tar.gz", "release 2.0\n")
	write(t, dir, "predicate.json", `{"builder": "ci", "tests": "passed"}`)
	keyless := []string{"--certificate-identity", email, "--certificate-oidc-issuer", issuer}

	// mosaic attest, keyless → cosign verify-blob-attestation.
	code, out, errOut := mosaicCLI(t, dir, []string{"SIGSTORE_ID_TOKEN=" + token}, "attest", "release.tar.gz",
		"--predicate", "predicate.json", "--type", attestType, "--bundle", "mosaic.intoto.json", "--url", s.URL)
	if code != 0 || !strings.Contains(out, "Attested") {
		t.Fatalf("mosaic attest: exit %d\n%s%s", code, out, errOut)
	}
	if code, out := cosign(t, bin, dir, append([]string{"verify-blob-attestation", "--trusted-root", root,
		"--bundle", "mosaic.intoto.json", "--type", attestType}, append(keyless, "release.tar.gz")...)...); code != 0 {
		t.Errorf("cosign verify-blob-attestation of mosaic attest's bundle: exit %d\n%s", code, out)
	}
	if code, out := cosign(t, bin, dir, append([]string{"verify-blob-attestation", "--trusted-root", root,
		"--bundle", "mosaic.intoto.json", "--type", "https://slsa.dev/provenance/v1"}, append(keyless, "release.tar.gz")...)...); code == 0 {
		t.Errorf("cosign verified mosaic's attestation as another predicate type:\n%s", out)
	}

	// cosign attest-blob, keyless → mosaic verify.
	if code, out := cosign(t, bin, dir, "attest-blob", "--yes", "--trusted-root", root, "--signing-config", "signing_config.json",
		"--identity-token", token, "--predicate", "predicate.json", "--type", attestType,
		"--bundle", "cosign.intoto.json", "release.tar.gz"); code != 0 {
		t.Fatalf("cosign attest-blob: exit %d\n%s", code, out)
	}
	verifyArgs := func(bundle string, extra ...string) []string {
		args := []string{"verify", "release.tar.gz", "--bundle", bundle, "--trusted-root", root}
		return append(append(args, keyless...), extra...)
	}
	for _, bundle := range []string{"cosign.intoto.json", "mosaic.intoto.json"} {
		code, out, errOut := mosaicCLI(t, dir, nil, verifyArgs(bundle, "--predicate-type", attestType, "--subject-name", "release.tar.gz")...)
		if code != 0 || !strings.Contains(out, "predicate type "+attestType) {
			t.Errorf("mosaic verify %s: exit %d\n%s%s", bundle, code, out, errOut)
		}
		code, out, _ = mosaicCLI(t, dir, nil, verifyArgs(bundle, "--output", "json")...)
		var res struct {
			Verified      bool   `json:"verified"`
			PredicateType string `json:"predicateType"`
			Subject       string `json:"subject"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Verified || res.PredicateType != attestType || res.Subject != "release.tar.gz" {
			t.Errorf("mosaic verify %s --output json: exit %d %s", bundle, code, out)
		}
	}

	// With a key, both ways.
	key, err := note.GenerateKey(note.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := note.MarshalPrivateKey(key)
	pub, _ := note.MarshalPublicKey(key.Public())
	write(t, dir, "signer.pem", string(pemKey))
	write(t, dir, "signer.pub", string(pub))
	if code, out, errOut := mosaicCLI(t, dir, nil, "attest", "release.tar.gz", "--key", "signer.pem", "--predicate", "predicate.json",
		"--type", attestType, "--bundle", "mosaic-key.intoto.json", "--url", s.URL); code != 0 {
		t.Fatalf("mosaic attest --key: exit %d\n%s%s", code, out, errOut)
	}
	if code, out := cosign(t, bin, dir, "verify-blob-attestation", "--trusted-root", root, "--key", "signer.pub",
		"--bundle", "mosaic-key.intoto.json", "--type", attestType, "release.tar.gz"); code != 0 {
		t.Errorf("cosign verify-blob-attestation --key of mosaic attest --key: exit %d\n%s", code, out)
	}
	cosignKey := cosignKeyPair(t, bin, dir)
	if code, out := cosign(t, bin, dir, "attest-blob", "--yes", "--trusted-root", root, "--signing-config", "signing_config.json",
		"--key", cosignKey, "--predicate", "predicate.json", "--type", attestType,
		"--bundle", "cosign-key.intoto.json", "release.tar.gz"); code != 0 {
		t.Fatalf("cosign attest-blob --key: exit %d\n%s", code, out)
	}
	if code, out, errOut := mosaicCLI(t, dir, nil, "verify", "release.tar.gz", "--bundle", "cosign-key.intoto.json", "--trusted-root", root,
		"--key", "cosign.pub", "--predicate-type", attestType); code != 0 {
		t.Errorf("mosaic verify --key of cosign attest-blob --key: exit %d\n%s%s", code, out, errOut)
	}
	s.kill()

	cosignBundle, err := os.ReadFile(filepath.Join(dir, "cosign.intoto.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(d string)
		args   []string
		output string
	}{
		{"changed artifact", func(d string) { write(t, d, "release.tar.gz", "release 2.1\n") }, nil, "attestation subject"},
		{"other subject name", nil, []string{"--subject-name", "other.tar.gz"}, "attestation subject"},
		{"wrong predicate type", nil, []string{"--predicate-type", "https://slsa.dev/provenance/v1"}, "predicate type"},
		{"tampered statement", func(d string) { editEnvelope(t, d, cosignBundle, tamperPayload) }, nil, "envelope signature"},
		{"tampered signature", func(d string) { editEnvelope(t, d, cosignBundle, tamperSignature) }, nil, "envelope signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			write(t, d, "release.tar.gz", "release 2.0\n")
			write(t, d, "cosign.intoto.json", string(cosignBundle))
			if tc.edit != nil {
				tc.edit(d)
			}
			code, out, errOut := mosaicCLI(t, d, nil, verifyArgs("cosign.intoto.json", tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.output) {
				t.Errorf("exit %d, want 1 with %q in:\n%s%s", code, tc.output, out, errOut)
			}
		})
	}
	if code, _, errOut := mosaicCLI(t, dir, nil, "attest", "release.tar.gz", "--predicate", "predicate.json",
		"--type", "slsaprovenance", "--bundle", "x.json"); code != 2 || !strings.Contains(errOut, "URI") {
		t.Errorf("attest --type slsaprovenance: exit %d, want 2 naming the URI\n%s", code, errOut)
	}
	write(t, dir, "list.json", `[1, 2]`)
	if code, _, errOut := mosaicCLI(t, dir, nil, "attest", "release.tar.gz", "--predicate", "list.json",
		"--type", attestType, "--bundle", "x.json"); code != 2 || !strings.Contains(errOut, "not a JSON object") {
		t.Errorf("attest with a list predicate: exit %d, want 2\n%s", code, errOut)
	}
}

// cosignKeyPair makes cosign.key and cosign.pub (empty password) in dir
// with cosign generate-key-pair and returns the private key's name.
func cosignKeyPair(t *testing.T, bin, dir string) string {
	t.Helper()
	cmd := exec.Command(bin, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	t.Setenv("COSIGN_PASSWORD", "")
	return "cosign.key"
}

// editEnvelope writes the bundle with its DSSE envelope changed by edit.
func editEnvelope(t *testing.T, dir string, bundle []byte, edit func(env map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	edit(m["dsseEnvelope"].(map[string]any))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "cosign.intoto.json", string(out))
}

// tamperPayload changes the statement's predicate, keeping it valid.
func tamperPayload(env map[string]any) {
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	payload = bytes.Replace(payload, []byte("passed"), []byte("failed"), 1)
	env["payload"] = base64.StdEncoding.EncodeToString(payload)
}

func tamperSignature(env map[string]any) {
	sig := env["signatures"].([]any)[0].(map[string]any)
	raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
	raw[len(raw)/2] ^= 1
	sig["sig"] = base64.StdEncoding.EncodeToString(raw)
}
