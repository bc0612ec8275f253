package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/e2e/interop/keyless"
)

// TestRotation rotates a keyless deployment's log to a new shard with the
// real binaries, and has sigstore-go sign before and after: the bundle
// from before (old shard, frozen) and the one from after (new shard,
// chosen by sigstore-go from the signing config's validity windows) both
// verify with the trusted root the rotated server emits.
func TestRotation(t *testing.T) {
	bin := buildMosaicd(t)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "ca", "init", "--dir", filepath.Join(dir, "keyless")).CombinedOutput(); err != nil {
		t.Fatalf("mosaicd ca init: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "http://" + addr
	store := "file:" + filepath.Join(dir, "log")
	serve := func(extra ...string) *exec.Cmd {
		args := append([]string{"serve", "--listen", addr, "--storage", store, "--init",
			"--keyless-dir", filepath.Join(dir, "keyless"), "--dev-oidc"}, extra...)
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("mosaicd %s log:\n%s", strings.Join(extra, " "), stderr.String())
			}
		})
		for i := 0; ; i++ {
			if resp, err := http.Get(url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cmd
				}
			}
			if i == 600 {
				t.Fatalf("mosaicd never became ready:\n%s", stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ctx := context.Background()
	const email = "rotation@example.com"
	sign := func(data []byte) []byte {
		t.Helper()
		cfg, err := keyless.FetchConfig(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		token, err := keyless.DevToken(ctx, url, email)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keyless.Sign(ctx, cfg, token, data)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	old := serve()
	oldData := []byte("signed into the old shard")
	oldBundle := sign(oldData)
	if err := old.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = old.Wait()

	serve("--shard", "2026b")
	out, err := exec.Command(bin, "freeze", "--storage", store, "--shard", "main", "--successor", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "froze shard main") {
		t.Fatalf("mosaicd freeze: %v\n%s", err, out)
	}
	// The server sees the freeze within a second; its signing config then
	// gives the old shard an end.
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/api/v2/shards")
		if err != nil {
			t.Fatal(err)
		}
		var shards struct {
			Shards []struct {
				Name   string          `json:"name"`
				Frozen json.RawMessage `json:"frozen"`
			} `json:"shards"`
		}
		err = json.NewDecoder(resp.Body).Decode(&shards)
		resp.Body.Close()
		if err == nil && len(shards.Shards) == 2 && shards.Shards[1].Name == "main" && shards.Shards[1].Frozen != nil {
			break
		}
		if i == 100 {
			t.Fatalf("the server did not notice the freeze: %+v %v", shards, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	newData := []byte("signed into the new shard")
	newBundle := sign(newData)
	if logID(t, oldBundle) == logID(t, newBundle) {
		t.Fatalf("both bundles name log %s: the new one was not logged in the new shard", logID(t, newBundle))
	}
	cfg, err := keyless.FetchConfig(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	issuer := url + "/dev-oidc"
	for _, c := range []struct {
		name         string
		bundle, data []byte
	}{{"old shard", oldBundle, oldData}, {"new shard", newBundle, newData}} {
		if _, err := keyless.Verify(cfg.TrustedRoot, c.bundle, c.data, email, issuer); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := keyless.Verify(cfg.TrustedRoot, c.bundle, []byte("other"), email, issuer); err == nil {
			t.Errorf("%s: a bundle verified over other data", c.name)
		}
	}
	// A write to the frozen shard is refused.
	resp, err := http.Post(url+"/shards/main/api/v2/log/entries", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("write to the frozen shard: %d, want 410", resp.StatusCode)
	}
}

// logID is the log ID a bundle's first tlog entry names.
func logID(t *testing.T, bundle []byte) string {
	t.Helper()
	var b struct {
		VerificationMaterial struct {
			TlogEntries []struct {
				LogID struct {
					KeyID string `json:"keyId"`
				} `json:"logId"`
			} `json:"tlogEntries"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil || len(b.VerificationMaterial.TlogEntries) == 0 {
		t.Fatalf("bundle has no tlog entry: %v", err)
	}
	return b.VerificationMaterial.TlogEntries[0].LogID.KeyID
}
