package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/pgtest"
)

// The explorer in a real headless Chromium against mosaicd on both stores:
// the embedded store with an Ed25519 log key, PostgreSQL with an ECDSA P-256
// one, so verify.js checks both kinds of checkpoint signature. Each page
// loads; a search finds the identity's entries; an entry verifies in the
// browser; a proof or checkpoint changed in flight by a proxy is caught and
// named; a pasted bundle verifies, and a hostile one is shown as text.
//
// Screenshots go to a temporary directory, or with
// MOSAIC_EXPLORER_SCREENSHOTS=DIR (make explorer-screenshots: docs/explorer)
// into DIR, from the embedded-store run.
func TestExplorerInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; not in -short")
	}
	chrome := findChromium(t)
	for _, store := range []string{"posix", "postgres"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			var args []string
			if store == "posix" {
				args = []string{"--storage", "file:" + filepath.Join(dir, "data"), "--init"}
			} else {
				key := filepath.Join(dir, "key.pem")
				if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--algorithm", "ecdsa-p256", "--out", key).CombinedOutput(); err != nil {
					t.Fatalf("keygen: %v %s", err, out)
				}
				args = []string{"--storage", pgtest.NewDatabase(t), "--signing-key", key}
			}
			s := startServer(t, dir, args...)
			shots := t.TempDir()
			if d := os.Getenv("MOSAIC_EXPLORER_SCREENSHOTS"); d != "" && store == "posix" {
				shots = d
			}
			runExplorer(t, chrome, s.URL, shots)
		})
	}
}

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); the explorer's browser test needs it")
	return ""
}

// browser starts a headless Chromium that reaches nothing but the test's
// servers.
func browser(t *testing.T, chrome string, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	alloc := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profileDir(t)), chromedp.WindowSize(1100, 800), remote.WebSocket)
	alloc = append(alloc, opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), alloc...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// explorerEntries adds entries: three signed with a certificate for
// alice@example.com, two with plain keys. It returns the bundle of the
// last certificate entry, built from the log's own answer.
func explorerEntries(t *testing.T, base string) []byte {
	t.Helper()
	alice := mosaictest.NewCertSigner(t, "alice@example.com")
	var bundle []byte
	for i := range 5 {
		signer := alice
		if i%2 == 1 {
			signer = mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		}
		artifact := fmt.Appendf(nil, "explorer artifact %d", i)
		req := signer.Request(t, artifact)
		resp, err := http.Post(base+"/api/v2/log/entries", "application/json", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		tle, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("add: %d %s", resp.StatusCode, tle)
		}
		if signer == alice {
			var r struct {
				HR struct {
					Digest    string
					Signature struct{ Content string }
				} `json:"hashedRekordRequestV002"`
			}
			if err := json.Unmarshal(req, &r); err != nil {
				t.Fatal(err)
			}
			bundle = fmt.Appendf(nil, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",`+
				`"verificationMaterial":{"certificate":{"rawBytes":%q},"tlogEntries":[%s]},`+
				`"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":%q},"signature":%q}}`,
				base64.StdEncoding.EncodeToString(signer.CertDER), tle,
				r.HR.Digest, r.HR.Signature.Content)
		}
	}
	return bundle
}

func runExplorer(t *testing.T, chrome, base, shots string) {
	bundle := explorerEntries(t, base)
	waitFor(t, 30*time.Second, "the search index to catch up", func() bool {
		var info struct{ Index struct{ Lag uint64 } }
		return getJSON(base+"/api/v2/log/info", &info) == nil && info.Index.Lag == 0
	})
	ctx := browser(t, chrome)
	do(t, ctx, "log page", chromedp.Navigate(base+"/"), chromedp.WaitVisible("svg.chart"))
	if text := value(t, ctx, chromedp.Text("#tree-size")); !strings.Contains(text, "5 entries") {
		t.Errorf("log page tree size %q", text)
	}
	screenshot(t, ctx, shots, "log.png")

	do(t, ctx, "search", chromedp.Navigate(base+"/search"),
		chromedp.SendKeys("#q-san", "alice@example.com"), chromedp.Submit("#q-san"), chromedp.WaitVisible("table.hits"))
	if rows := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.hits tbody tr").length`)); rows != 3 {
		t.Errorf("the search for alice@example.com shows %d entries, want 3", rows)
	}
	screenshot(t, ctx, shots, "search.png")

	do(t, ctx, "entry", chromedp.Click(`table.hits tbody tr:nth-child(2) a`), chromedp.WaitVisible("#verify-status:not(.pending)"))
	if text := value(t, ctx, chromedp.Text("#verify-status")); !strings.Contains(text, "Verified in your browser: entry 2 ") {
		t.Errorf("entry 2: %q", text)
	}
	screenshot(t, ctx, shots, "entry.png")

	do(t, ctx, "watch", chromedp.Navigate(base+"/watch?san=alice%40example.com"), chromedp.WaitVisible("table.hits"))
	order := value(t, ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("table.hits tbody tr td:first-child")).map(td => td.textContent).join(",")`))
	if order != "4,2,0" {
		t.Errorf("watch page lists entries %q, want newest first 4,2,0", order)
	}
	screenshot(t, ctx, shots, "watch.png")

	do(t, ctx, "consistency", chromedp.Navigate(base+"/consistency?first=2&second=5"), chromedp.WaitVisible("#consistency-result"))
	if text := value(t, ctx, chromedp.Text("#consistency-result")); !strings.HasPrefix(text, "Consistent") {
		t.Errorf("consistency: %q", text)
	}
	screenshot(t, ctx, shots, "consistency.png")

	do(t, ctx, "bundle", chromedp.Navigate(base+"/bundle"), chromedp.SetValue("#bundle-text", string(bundle)),
		chromedp.Click("#bundle-check"), chromedp.WaitVisible("#verify-status:not(.pending)"))
	if text := value(t, ctx, chromedp.Text("#verify-status")); !strings.Contains(text, "Verified in your browser: the bundle's entry 4 ") {
		t.Errorf("bundle: %q", text)
	}
	screenshot(t, ctx, shots, "bundle.png")
	checkHostileBundle(t, ctx, bundle)
	checkTampered(t, ctx, base, shots)
	checkNoScript(t, chrome, base)
}

// checkHostileBundle pastes bundles whose fields carry markup: the page
// shows them as text and runs nothing; a changed signature is refused.
func checkHostileBundle(t *testing.T, ctx context.Context, bundle []byte) {
	hostile := strings.Replace(string(bundle), `"application/vnd.dev.sigstore.bundle.v0.3+json"`,
		`"<img src=x onerror=window.pwned=1>"`, 1)
	do(t, ctx, "hostile bundle", chromedp.SetValue("#bundle-text", hostile), chromedp.Click("#bundle-check"),
		chromedp.WaitVisible("#verify-status:not(.pending)"),
		chromedp.Sleep(200*time.Millisecond)) // time for an injected image to fail and fire its handler
	text := value(t, ctx, chromedp.Text("#verify-status"))
	pwned := value(t, ctx, chromedp.Evaluate[bool](`window.pwned !== undefined`))
	images := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("main img").length`))
	if !strings.Contains(text, `media type "<img src=x onerror=window.pwned=1>" is not a Sigstore bundle's`) || pwned || images != 0 {
		t.Errorf("hostile bundle: status %q, script ran %v, images %d", text, pwned, images)
	}
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	b["messageSignature"].(map[string]any)["signature"] = base64.StdEncoding.EncodeToString([]byte("another signature"))
	other, _ := json.Marshal(b)
	do(t, ctx, "changed bundle", chromedp.SetValue("#bundle-text", string(other)), chromedp.Click("#bundle-check"),
		chromedp.WaitVisible("#verify-status:not(.pending)"))
	if text := value(t, ctx, chromedp.Text("#verify-status")); !strings.Contains(text, "log entry: the logged signature is not the bundle's") {
		t.Errorf("changed bundle: %q", text)
	}
}

// checkTampered serves the explorer through a proxy that changes the
// entry's proof or checkpoint on its way to the browser.
func checkTampered(t *testing.T, ctx context.Context, base, shots string) {
	for _, c := range []struct {
		name, want string
		tamper     func(tle map[string]any)
	}{
		{"proof hash", "Verification failed: inclusion proof: the leaf and the", func(tle map[string]any) {
			hashes := tle["inclusionProof"].(map[string]any)["hashes"].([]any)
			h, _ := base64.StdEncoding.DecodeString(hashes[0].(string))
			h[0] ^= 1
			hashes[0] = base64.StdEncoding.EncodeToString(h)
		}},
		{"checkpoint signature", "Verification failed: checkpoint signature: no signature on the checkpoint verifies", func(tle map[string]any) {
			cp := tle["inclusionProof"].(map[string]any)["checkpoint"].(map[string]any)
			// Another tree size under the same signature.
			lines := strings.SplitN(cp["envelope"].(string), "\n", 3)
			n, _ := strconv.Atoi(lines[1])
			cp["envelope"] = lines[0] + "\n" + strconv.Itoa(n+1) + "\n" + lines[2]
			tle["inclusionProof"].(map[string]any)["treeSize"] = strconv.Itoa(n + 1)
		}},
	} {
		proxy := tamperingProxy(t, base, c.tamper)
		do(t, ctx, "tampered "+c.name, chromedp.Navigate(proxy+"/entry/1"), chromedp.WaitVisible("#verify-status:not(.pending)"))
		if text := value(t, ctx, chromedp.Text("#verify-status")); !strings.HasPrefix(text, c.want) {
			t.Errorf("tampered %s: %q, want %q…", c.name, text, c.want)
		}
		if c.name == "proof hash" {
			screenshot(t, ctx, shots, "entry-tampered.png")
		}
	}
}

// tamperingProxy forwards to base and rewrites the JSON of
// /api/v2/log/entries/N with tamper.
func tamperingProxy(t *testing.T, base string, tamper func(map[string]any)) string {
	u, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/api/v2/log/entries/") || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var tle map[string]any
		if err := json.Unmarshal(b, &tle); err != nil {
			return err
		}
		tamper(tle)
		out, _ := json.Marshal(tle)
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// checkNoScript reads an entry with JavaScript off: everything but the
// verification is there.
func checkNoScript(t *testing.T, chrome, base string) {
	ctx := browser(t, chrome)
	do(t, ctx, "blank page", chromedp.Navigate("about:blank"))
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "entry without JavaScript", chromedp.Navigate(base+"/entry/0"), chromedp.WaitVisible("#leaf"))
	text := value(t, ctx, chromedp.Text("main"))
	for _, want := range []string{"alice@example.com", "Canonical body", "Inclusion proof", "needs JavaScript"} {
		if !strings.Contains(text, want) {
			t.Errorf("entry page without JavaScript lacks %q", want)
		}
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := value(t, ctx, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// profileDir is a directory for chromium's profile, removed when t ends.
// Not t.TempDir: chromium's helpers may still write into it for a moment
// after the browser is cancelled, and t.TempDir fails the test then.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "mosaic-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium profile %s not removed", dir)
	})
	return dir
}
