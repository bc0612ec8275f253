package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/e2e/interop/keyless"
	"github.com/mosaiclog/mosaic/internal/pgtest"
)

// buildMosaicd builds the server binary once per test binary run.
func buildMosaicd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mosaicd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mosaiclog/mosaic/cmd/mosaicd").CombinedOutput()
	if err != nil {
		t.Fatalf("building mosaicd: %v\n%s", err, out)
	}
	return bin
}

// startKeyless runs 'mosaicd ca init' and 'mosaicd serve --keyless-dir
// --dev-oidc' on storage and returns the server's URL.
func startKeyless(t *testing.T, bin, storage string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(bin, "ca", "init", "--dir", filepath.Join(dir, "keyless")).CombinedOutput(); err != nil {
		t.Fatalf("mosaicd ca init: %v\n%s", err, out)
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--keyless-dir", filepath.Join(dir, "keyless"), "--dev-oidc"}
	if storage == "" {
		args = append(args, "--storage", "file:"+filepath.Join(dir, "log"), "--init")
	} else {
		// PostgreSQL stores need an explicit checkpoint key.
		key := filepath.Join(dir, "signing-key.pem")
		if out, err := exec.Command(bin, "keygen", "--out", key).CombinedOutput(); err != nil {
			t.Fatalf("mosaicd keygen: %v\n%s", err, out)
		}
		args = append(args, "--storage", storage, "--signing-key", key)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mosaicd log:\n%s", stderr.String())
		}
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "mosaicd" && f[1] == "serving" {
				urlc <- f[2]
			}
		}
		close(urlc)
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(30 * time.Second):
	}
	if url == "" {
		t.Fatalf("mosaicd did not start:\n%s", stderr.String())
	}
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if i == 300 {
			t.Fatalf("mosaicd never became ready:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return url
}

// TestKeylessSigstoreGo runs the keyless flow with the unmodified sigstore-go
// client against mosaicd's own CA, TSA, log and development issuer, on both
// stores: sigstore-go's Fulcio client gets a certificate, its timestamp
// client a timestamp, its Rekor v2 client an entry, and its verifier accepts
// the bundle offline against the trusted_root.json mosaicd emits (SCT,
// timestamp, inclusion proof and identity all required).
func TestKeylessSigstoreGo(t *testing.T) {
	bin := buildMosaicd(t)
	for _, store := range []string{"posix", "postgres"} {
		t.Run(store, func(t *testing.T) {
			const email = "alice@mosaic.test"
			ctx, url, cfg, token := keylessDeployment(t, bin, store, email)
			data := []byte("artifact signed keylessly through Mosaic")
			b, err := keyless.Sign(ctx, cfg, token, data)
			if err != nil {
				t.Fatal(err)
			}
			issuer := url + "/dev-oidc"
			res, err := keyless.Verify(cfg.TrustedRoot, b, data, email, issuer)
			if err != nil {
				t.Fatalf("sigstore-go refused Mosaic's bundle: %v", err)
			}
			if res.SAN != email || res.Issuer != issuer || res.Timestamps < 1 {
				t.Errorf("verified %+v, want SAN %s, issuer %s and a timestamp", res, email, issuer)
			}
			// The identity policy is exact: another SAN, a suffix attack or
			// another issuer must fail; so must other content.
			for _, c := range []struct{ san, iss string }{
				{"bob@mosaic.test", issuer}, {email + ".evil", issuer}, {email, "https://accounts.example.com"},
			} {
				if _, err := keyless.Verify(cfg.TrustedRoot, b, data, c.san, c.iss); err == nil {
					t.Errorf("verified for SAN %q issuer %q", c.san, c.iss)
				}
			}
			if _, err := keyless.Verify(cfg.TrustedRoot, b, []byte("other"), email, issuer); err == nil {
				t.Error("verified other content")
			}
			// The certificate went into the certificate log before it was
			// issued: the log's checkpoint covers at least one entry, and
			// entry 0 is a precertificate for the same identity.
			size := certLogSize(t, url)
			if size < 1 {
				t.Fatalf("certificate log size %d after issuing a certificate", size)
			}
			precert := certLogEntry(t, url, 0)
			if len(precert.EmailAddresses) != 1 || precert.EmailAddresses[0] != email {
				t.Errorf("certificate log entry 0 is for %v, want %s", precert.EmailAddresses, email)
			}
		})
	}
}

func certLogSize(t *testing.T, url string) uint64 {
	t.Helper()
	body := httpGet(t, url+"/api/v2/certlog/checkpoint")
	lines := strings.Split(string(body), "\n")
	if len(lines) < 3 || !strings.HasSuffix(lines[0], "/certlog") {
		t.Fatalf("certificate log checkpoint %q", body)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// certLogEntry reads entry i from the certificate log's first (partial)
// entry bundle and parses it as a certificate.
func certLogEntry(t *testing.T, url string, i int) *x509.Certificate {
	t.Helper()
	size := certLogSize(t, url)
	path := "/api/v2/certlog/tile/entries/000"
	if size < 256 {
		path += fmt.Sprintf(".p/%d", size)
	}
	bundle := httpGet(t, url+path)
	for n := 0; len(bundle) >= 2; n++ {
		l := int(bundle[0])<<8 | int(bundle[1])
		if len(bundle) < 2+l {
			t.Fatalf("truncated entry bundle")
		}
		if n == i {
			c, err := x509.ParseCertificate(bundle[2 : 2+l])
			if err != nil {
				t.Fatalf("certificate log entry %d: %v", i, err)
			}
			return c
		}
		bundle = bundle[2+l:]
	}
	t.Fatalf("no entry %d", i)
	return nil
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b
}

// TestMakeDemo runs 'make demo' as a user would on a fresh checkout.
func TestMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole demo")
	}
	cmd := exec.Command("make", "demo", "BIN="+t.TempDir())
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for _, want := range []string{"OK: signed by demo@mosaic.example", "a tampered file is refused", "== demo OK"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("make demo:\n%s", out)
}

// keylessDeployment starts mosaicd with its keyless services on store
// ("posix" or "postgres") and returns a context bounding the test, the
// server's URL, its trusted root and signing config, and a development
// token for email.
func keylessDeployment(t *testing.T, bin, store, email string) (context.Context, string, *keyless.Config, string) {
	t.Helper()
	var spec string
	if store == "postgres" {
		spec = pgtest.NewDatabase(t)
	}
	url := startKeyless(t, bin, spec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cfg, err := keyless.FetchConfig(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	token, err := keyless.DevToken(ctx, url, email)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, url, cfg, token
}
