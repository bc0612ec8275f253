package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// mosaicCLI runs the mosaic binary in dir and returns its exit code,
// stdout and stderr. Its environment is the test's plus env, with the
// verifier state under a directory of the test's own (stateHome).
func mosaicCLI(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mosaic"), args...)
	cmd.Dir = dir
	cmd.Env = append(cliEnv(t), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// stateHomes holds each test's XDG_STATE_HOME, by *testing.T.
var stateHomes sync.Map

// stateHome is the test's XDG_STATE_HOME: the CLI keeps its verifier state
// there (mosaic verify, mosaic monitor), never in the real home directory.
func stateHome(t *testing.T) string {
	t.Helper()
	if d, ok := stateHomes.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	stateHomes.Store(t, d)
	t.Cleanup(func() { stateHomes.Delete(t) })
	return d
}

// cliEnv is the environment the CLI runs in: the test's, with the test's
// own XDG_STATE_HOME.
func cliEnv(t *testing.T) []string {
	t.Helper()
	return append(os.Environ(), "XDG_STATE_HOME="+stateHome(t))
}

func fetchTo(t *testing.T, url, path string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	if path != "" {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// keylessServer runs mosaicd with a fresh CA, TSA and development OIDC
// issuer, and returns it with a token for email and the trusted root file.
func keylessServer(t *testing.T, dir, email string) (*server, string, string) {
	t.Helper()
	if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "ca", "init", "--dir", filepath.Join(dir, "keyless")).CombinedOutput(); err != nil {
		t.Fatalf("ca init: %v\n%s", err, out)
	}
	s := startServer(t, dir, "--storage", "file:data", "--init", "--keyless-dir", "keyless", "--dev-oidc")
	root := filepath.Join(dir, "trusted_root.json")
	fetchTo(t, s.URL+"/api/v2/trustedRoot", root)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(fetchTo(t, s.URL+"/dev-oidc/token?email="+email, ""), &tok); err != nil {
		t.Fatal(err)
	}
	return s, tok.IDToken, root
}

// TestCLIKeylessRoundTrip: `mosaic sign` against a real deployment (log,
// CA, TSA, development OIDC issuer), then `mosaic verify` with the server
// gone (nothing at verification time has a URL), and a tamper table in
// which every failure exits 1 naming its check.
func TestCLIKeylessRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, token, root := keylessServer(t, dir, "alice@example.com")
	issuer := s.URL + "/dev-oidc"
	if err := os.WriteFile(filepath.Join(dir, "artifact"), []byte("release 1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := mosaicCLI(t, dir, []string{"SIGSTORE_ID_TOKEN=" + token},
		"sign", "artifact", "--bundle", "artifact.sigstore.json", "--url", s.URL)
	if code != 0 {
		t.Fatalf("mosaic sign: exit %d\n%s%s", code, out, errOut)
	}
	// The log answers questions about what was signed, verified against
	// the trusted root.
	if code, out, errOut := mosaicCLI(t, dir, nil, "log", "get", "0", "--url", s.URL, "--trusted-root", root); code != 0 ||
		!strings.Contains(out, "alice@example.com") || !strings.Contains(out, "inclusion proof verified: true") {
		t.Errorf("mosaic log get 0: exit %d\n%s%s", code, out, errOut)
	}
	s.kill() // the network is closed from here on

	offline := []string{"MOSAIC_URL=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "HTTPS_PROXY=http://127.0.0.1:1"}
	verifyArgs := func(extra ...string) []string {
		args := []string{"verify", "artifact", "--bundle", "artifact.sigstore.json", "--trusted-root", root,
			"--certificate-identity", "alice@example.com", "--certificate-oidc-issuer", issuer}
		return append(args, extra...)
	}
	code, out, errOut = mosaicCLI(t, dir, offline, verifyArgs()...)
	if code != 0 || !strings.Contains(out, "Verified OK") {
		t.Fatalf("mosaic verify offline: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = mosaicCLI(t, dir, offline, verifyArgs("--output", "json")...)
	var res struct {
		Verified bool   `json:"verified"`
		SAN      string `json:"certificateIdentity"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Verified || res.SAN != "alice@example.com" {
		t.Errorf("mosaic verify --output json: exit %d %q", code, out)
	}

	bundle, err := os.ReadFile(filepath.Join(dir, "artifact.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(dir string)
		args   []string
		code   int
		output string
	}{
		{"changed artifact", func(d string) { write(t, d, "artifact", "release 1.1\n") }, nil, 1, "artifact digest"},
		{"wrong identity", nil, []string{"--certificate-identity", "bob@example.com"}, 1, "identity (SAN)"},
		{"identity regexp suffix", nil, []string{"--certificate-identity", "", "--certificate-identity-regexp", "alice@example"}, 1, "identity (SAN)"},
		{"wrong issuer", nil, []string{"--certificate-oidc-issuer", "https://accounts.google.com"}, 1, "identity (issuer)"},
		{"truncated bundle", func(d string) { write(t, d, "artifact.sigstore.json", string(bundle[:len(bundle)/2])) }, nil, 1, "bundle"},
		{"altered proof hash", func(d string) { editBundle(t, d, bundle, alterProofHash) }, nil, 1, "inclusion proof"},
		{"altered checkpoint", func(d string) { editBundle(t, d, bundle, alterCheckpoint) }, nil, 1, "checkpoint"},
		{"no identity policy", nil, []string{"--certificate-identity", ""}, 2, "--certificate-identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			write(t, d, "artifact", "release 1.0\n")
			write(t, d, "artifact.sigstore.json", string(bundle))
			if tc.edit != nil {
				tc.edit(d)
			}
			code, out, errOut := mosaicCLI(t, d, offline, verifyArgs(tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.output) {
				t.Errorf("exit %d, want %d with %q in:\n%s%s", code, tc.code, tc.output, out, errOut)
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editBundle rewrites the bundle's first tlog entry's inclusion proof.
func editBundle(t *testing.T, dir string, bundle []byte, edit func(proof map[string]any)) {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	tle := b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
	edit(tle["inclusionProof"].(map[string]any))
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "artifact.sigstore.json", string(out))
}

func alterProofHash(p map[string]any) {
	root, _ := base64.StdEncoding.DecodeString(p["rootHash"].(string))
	root[0] ^= 1
	p["rootHash"] = base64.StdEncoding.EncodeToString(root)
}

func alterCheckpoint(p map[string]any) {
	cp := p["checkpoint"].(map[string]any)
	env := cp["envelope"].(string)
	lines := strings.SplitN(env, "\n", 3)
	lines[1] = lines[1] + "0" // another tree size, same signature
	cp["envelope"] = strings.Join(lines, "\n")
}

// TestCLIKeyBased: `mosaic sign --key` and `mosaic verify --key` on the
// embedded store, and the same bundle refused under another key.
func TestCLIKeyBased(t *testing.T) {
	dir := t.TempDir()
	s, _, root := keylessServer(t, dir, "unused@example.com")
	key, err := note.GenerateKey(note.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := note.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := note.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := note.GenerateKey(note.ECDSAP256)
	otherPub, _ := note.MarshalPublicKey(other.Public())
	write(t, dir, "signer.pem", string(pemKey))
	write(t, dir, "signer.pub", string(pub))
	write(t, dir, "other.pub", string(otherPub))
	write(t, dir, "artifact", "key-signed artifact\n")
	if code, out, errOut := mosaicCLI(t, dir, nil, "sign", "artifact", "--key", "signer.pem", "--bundle", "b.json", "--url", s.URL); code != 0 {
		t.Fatalf("mosaic sign --key: exit %d\n%s%s", code, out, errOut)
	}
	s.kill()
	if code, out, errOut := mosaicCLI(t, dir, nil, "verify", "artifact", "--bundle", "b.json", "--trusted-root", root, "--key", "signer.pub"); code != 0 {
		t.Fatalf("mosaic verify --key: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := mosaicCLI(t, dir, nil, "verify", "artifact", "--bundle", "b.json", "--trusted-root", root, "--key", "other.pub"); code != 1 {
		t.Errorf("verify under another key: exit %d, want 1\n%s", code, errOut)
	}
	if code, _, _ := mosaicCLI(t, dir, nil, "verify", "artifact"); code != 2 {
		t.Errorf("verify without --bundle: exit %d, want 2", code)
	}
}

// TestCLIMonitorAlertsOnSigning: a running `mosaic monitor` reports a
// signing by a watched identity (in the log and in the certificate log),
// once, and nothing for another identity. The time from the signer holding
// its bundle to the report is logged (measured, not asserted).
func TestCLIMonitorAlertsOnSigning(t *testing.T) {
	dir := t.TempDir()
	s, token, root := keylessServer(t, dir, "alice@example.com")
	write(t, dir, "watch.yaml", "identities:\n  - san: alice@example.com\n    issuer: "+s.URL+"/dev-oidc\n")
	mon := exec.Command(filepath.Join(binDir, "mosaic"), "monitor", "--url", s.URL, "--trusted-root", root,
		"--state", "monitor.json", "--watch", "watch.yaml", "--certlog", "--interval", "100ms")
	mon.Dir, mon.Env = dir, cliEnv(t)
	stdout, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var monErr bytes.Buffer
	mon.Stderr = &monErr
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mon.Process.Kill(); _ = mon.Wait() })
	events := make(chan map[string]any, 16)
	go func() {
		dec := json.NewDecoder(stdout)
		for {
			var ev map[string]any
			if dec.Decode(&ev) != nil {
				close(events)
				return
			}
			events <- ev
		}
	}()

	bobToken := devToken(t, s.URL, "bob@example.com")
	write(t, dir, "a", "artifact\n")
	if code, out, errOut := mosaicCLI(t, dir, []string{"SIGSTORE_ID_TOKEN=" + bobToken}, "sign", "a", "--bundle", "bob.json", "--url", s.URL); code != 0 {
		t.Fatalf("bob signs: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := mosaicCLI(t, dir, []string{"SIGSTORE_ID_TOKEN=" + token}, "sign", "a", "--bundle", "alice.json", "--url", s.URL); code != 0 {
		t.Fatalf("alice signs: exit %d\n%s%s", code, out, errOut)
	}
	signed := time.Now()
	seen := map[string]int{}
	timeout := time.After(30 * time.Second)
	for len(seen) < 2 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("monitor exited:\n%s", monErr.String())
			}
			if ev["type"] != "match" || ev["san"] != "alice@example.com" {
				t.Fatalf("unexpected event %v", ev)
			}
			seen[ev["log"].(string)]++
			t.Logf("%s match reported %s after alice's bundle was written", ev["log"], time.Since(signed).Round(time.Millisecond))
		case <-timeout:
			t.Fatalf("no report for alice within 30 s (seen %v):\n%s", seen, monErr.String())
		}
	}
	// Nothing more: the next polls report no duplicates and nothing for bob.
	select {
	case ev := <-events:
		t.Errorf("a further event %v", ev)
	case <-time.After(time.Second):
	}
}

func devToken(t *testing.T, baseURL, email string) string {
	t.Helper()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(fetchTo(t, baseURL+"/dev-oidc/token?email="+email, ""), &tok); err != nil {
		t.Fatal(err)
	}
	return tok.IDToken
}

// TestCLICreateConfigs: `mosaic trusted-root create` and `mosaic
// signing-config create`, with cosign's flags, from the files `mosaicd ca
// init` wrote, describe the deployment well enough to sign and verify.
func TestCLICreateConfigs(t *testing.T) {
	dir := t.TempDir()
	s, token, _ := keylessServer(t, dir, "dana@example.com")
	write(t, dir, "log.pub", string(fetchTo(t, s.URL+"/api/v2/log/publicKey", "")))
	ctKey, err := pki.LoadSigner(filepath.Join(dir, "keyless", pki.CTLogKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ctPub, err := note.MarshalPublicKey(ctKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "ctlog.pub", string(ctPub))
	const since = "start-time=2020-01-01T00:00:00Z"
	code, out, errOut := mosaicCLI(t, dir, nil, "trusted-root", "create",
		"--fulcio", "url="+s.URL+",certificate-chain=keyless/"+pki.CAChainFile,
		"--rekor", "url="+s.URL+",public-key=log.pub,"+since,
		"--ctfe", "url="+s.URL+"/api/v2/certlog,public-key=ctlog.pub,"+since,
		"--tsa", "url="+s.URL+"/api/v1/timestamp,certificate-chain=keyless/"+pki.TSAChainFile,
		"--out", "made_root.json")
	if code != 0 {
		t.Fatalf("trusted-root create: exit %d\n%s%s", code, out, errOut)
	}
	svc := func(url, version string) string {
		return "url=" + url + ",api-version=" + version + "," + since + ",operator=test"
	}
	code, out, errOut = mosaicCLI(t, dir, nil, "signing-config", "create",
		"--fulcio", svc(s.URL, "1"), "--rekor", svc(s.URL, "2"), "--rekor-config", "ANY",
		"--tsa", svc(s.URL+"/api/v1/timestamp", "1"), "--tsa-config", "ANY", "--out", "made_signing.json")
	if code != 0 {
		t.Fatalf("signing-config create: exit %d\n%s%s", code, out, errOut)
	}
	write(t, dir, "a", "configured by hand\n")
	if code, out, errOut := mosaicCLI(t, dir, []string{"SIGSTORE_ID_TOKEN=" + token},
		"sign", "a", "--bundle", "a.json", "--signing-config", "made_signing.json"); code != 0 {
		t.Fatalf("sign with the created signing config: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := mosaicCLI(t, dir, nil, "verify", "a", "--bundle", "a.json", "--trusted-root", "made_root.json",
		"--certificate-identity", "dana@example.com", "--certificate-oidc-issuer", s.URL+"/dev-oidc"); code != 0 {
		t.Fatalf("verify with the created trusted root: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := mosaicCLI(t, dir, nil, "signing-config", "create", "--rekor", svc(s.URL, "2")); code != 2 ||
		!strings.Contains(errOut, "--rekor-config") {
		t.Errorf("--rekor without --rekor-config: exit %d, want 2 naming --rekor-config:\n%s", code, errOut)
	}
}
