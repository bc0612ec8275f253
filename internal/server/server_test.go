package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// issueCertificate gets a certificate from the server's CA, which appends
// it to the certificate log.
func issueCertificate(t *testing.T, base string) {
	t.Helper()
	_, body := get(t, base+"/dev-oidc/token?email="+url.QueryEscape("metrics@example.com"))
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("dev OIDC token %s: %v", body, err)
	}
	key := mosaictest.NewSigner(t, mosaictest.ECDSAP256).Key.(*ecdsa.PrivateKey)
	sum := sha256.Sum256([]byte("metrics@example.com"))
	proof, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{
		"credentials": map[string]any{"oidcIdentityToken": tok.IDToken},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pemKey)},
			"proofOfPossession": base64.StdEncoding.EncodeToString(proof),
		},
	})
	resp, err := http.Post(base+"/api/v2/signingCert", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("signingCert: %d %s", resp.StatusCode, b)
	}
}

// The certificate log's metrics are registered beside the main log's, told
// apart by their log label, and count what each log appends.
func TestCertLogMetrics(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Keyless: true})
			issueCertificate(t, l.URL)
			_, m := get(t, l.URL+"/metrics")
			for _, want := range []string{
				`mosaic_log_entries_appended_total{log="certlog"} 1`,
				`mosaic_log_entries_appended_total{log="main"} 0`,
				`mosaic_log_inflight_adds_limit{log="certlog"}`,
				`mosaic_log_integrity_failures_total{log="certlog"} 0`,
				`mosaic_log_tree_size_entries{log="certlog"}`,
				`mosaic_log_tree_size_entries{log="main"}`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			// Both logs publish, so the server is ready: readiness is the
			// one mosaicd has (storage.Ready of every log), not a ping.
			if code, body := get(t, l.URL+"/readyz"); code != http.StatusOK {
				t.Errorf("/readyz: %d %s", code, body)
			}
		})
	}
}

// New fails closed on a store created for another key, and a failed New
// leaves nothing behind: the store opens again at once.
func TestNewRefusesAnotherIdentity(t *testing.T) {
	mosaictest.QuietTessera()
	dir := t.TempDir()
	cfg := func(t *testing.T) server.Config {
		key, err := note.GenerateKey(note.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		return server.Config{
			Storage: "file:" + dir + "/log", PublicURL: "http://log.example", Origin: "log.example", Key: key, SearchIndex: true,
			Log: tlog.Config{BatchMaxSize: 16, BatchMaxAge: time.Millisecond, CheckpointInterval: 100 * time.Millisecond,
				CheckpointRepublishInterval: time.Minute, AwaitPoll: time.Millisecond},
		}
	}
	first := cfg(t)
	run := func(c server.Config) error {
		s, err := server.New(t.Context(), c)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.Shutdown(ctx)
	}
	var nse *storage.NoStoreError
	if err := run(first); !errors.As(err, &nse) {
		t.Fatalf("New without Init on a missing directory: %v, want a NoStoreError", err)
	}
	first.Init = true
	if err := run(first); err != nil {
		t.Fatal(err)
	}
	other := cfg(t)
	other.Storage = first.Storage
	if err := run(other); !errors.Is(err, storage.ErrIdentityMismatch) {
		t.Fatalf("New with another key: %v, want ErrIdentityMismatch", err)
	}
	first.Init = false
	if err := run(first); err != nil {
		t.Fatalf("New after a refused New: %v", err)
	}
}
