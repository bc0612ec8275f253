package monitor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// logEntry submits a hashedrekord for artifact signed by s and returns
// its log index.
func logEntry(t *testing.T, l *mosaictest.Log, s *mosaictest.Signer, artifact []byte) uint64 {
	t.Helper()
	resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(s.Request(t, artifact)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("logging an entry: %d %s", resp.StatusCode, body)
	}
	var tle struct {
		LogIndex string `json:"logIndex"`
	}
	if err := json.Unmarshal(body, &tle); err != nil {
		t.Fatal(err)
	}
	i, err := strconv.ParseUint(tle.LogIndex, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// keylessSigner gets a certificate for email from the log's CA with a
// development OIDC token, as a keyless client does.
func keylessSigner(t *testing.T, l *mosaictest.Log, email string) *mosaictest.Signer {
	t.Helper()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	getJSON(t, l.URL+"/dev-oidc/token?email="+url.QueryEscape(email), &tok)
	sv, err := signature.LoadDefaultSigner(s.Key)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := sv.SignMessage(strings.NewReader(email))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(s.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{
		"credentials": map[string]any{"oidcIdentityToken": tok.IDToken},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pubPEM)},
			"proofOfPossession": base64.StdEncoding.EncodeToString(proof),
		},
	})
	resp, err := http.Post(l.URL+"/api/v2/signingCert", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sc struct {
		SignedCertificateEmbeddedSct struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signingCert: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &sc); err != nil || len(sc.SignedCertificateEmbeddedSct.Chain.Certificates) == 0 {
		t.Fatalf("signingCert response %s: %v", body, err)
	}
	block, _ := pem.Decode([]byte(sc.SignedCertificateEmbeddedSct.Chain.Certificates[0]))
	if block == nil {
		t.Fatal("no PEM certificate in the signingCert response")
	}
	s.CertDER = block.Bytes
	return s
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func logHarness(t *testing.T, l *mosaictest.Log) *harness {
	t.Helper()
	v, err := note.NewVerifier(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, LogConfig{URL: client.TilesURL(l.URL), Verifier: v})
}

func certLogConfig(t *testing.T, l *mosaictest.Log) *LogConfig {
	t.Helper()
	key, err := pki.LoadSigner(l.Files.CTLogKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := note.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	v, origin, err := note.LogVerifier("", l.Origin+"/certlog", pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return &LogConfig{URL: client.CertLogTilesURL(l.URL), Origin: origin, Verifier: v}
}

func digestOf(artifact []byte) string {
	d := sha256.Sum256(artifact)
	return "sha256:" + hex.EncodeToString(d[:])
}

func mustWatch(t *testing.T, y string) *WatchList {
	t.Helper()
	wl, err := ParseWatchList([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

func TestMonitorDigestMatchReportedOnce(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range 3 {
		logEntry(t, l, s, fmt.Appendf(nil, "other %d", i))
	}
	watched := []byte("the watched artifact")
	idx := logEntry(t, l, s, watched)
	h := logHarness(t, l)
	h.cfg.Watch = mustWatch(t, "digests: ["+digestOf(watched)+"]\n")

	lines := h.mustRun()
	if len(lines) != 1 || lines[0]["type"] != "match" || lines[0]["logIndex"] != float64(idx) ||
		lines[0]["rule"] != "digests[0]" || lines[0]["digest"] != digestOf(watched) || lines[0]["log"] != "log" {
		t.Fatalf("first run: %v, want one digest match at %d", lines, idx)
	}
	fp := entry.Fingerprint(s.PublicKeyDER)
	if lines[0]["fingerprint"] != fp {
		t.Errorf("fingerprint %v, want %s", lines[0]["fingerprint"], fp)
	}
	if lines := h.mustRun(); len(lines) != 0 {
		t.Fatalf("second run reported again: %v", lines)
	}
	logEntry(t, l, s, []byte("unwatched"))
	idx2 := logEntry(t, l, s, watched) // same digest, new signature
	if lines := h.mustRun(); len(lines) != 1 || lines[0]["logIndex"] != float64(idx2) {
		t.Fatalf("third run: %v, want one match at %d", lines, idx2)
	}
}

func TestMonitorKeylessIdentity(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Keyless: true})
	issuer := l.URL + "/dev-oidc"
	alice := keylessSigner(t, l, "alice@example.com")
	bob := keylessSigner(t, l, "bob@example.org")
	logEntry(t, l, bob, []byte("bob's artifact"))
	aliceIdx := logEntry(t, l, alice, []byte("alice's artifact"))

	h := logHarness(t, l)
	h.cfg.CertLog = certLogConfig(t, l)
	h.cfg.Watch = mustWatch(t, fmt.Sprintf("identities:\n  - sanRegexp: '.*@example\\.com'\n    issuer: %s\n", issuer))
	lines := h.mustRun()
	byLog := map[string][]map[string]any{}
	for _, m := range lines {
		byLog[m["log"].(string)] = append(byLog[m["log"].(string)], m)
	}
	if len(lines) != 2 || len(byLog["log"]) != 1 || len(byLog["certlog"]) != 1 {
		t.Fatalf("output %v, want alice's entry in each log once", lines)
	}
	for _, m := range lines {
		if m["san"] != "alice@example.com" || m["issuer"] != issuer || m["rule"] != "identities[0]" {
			t.Errorf("match %v: want san alice@example.com, issuer %s", m, issuer)
		}
		if m["fingerprint"] != entry.Fingerprint(alice.PublicKeyDER) {
			t.Errorf("match %v: fingerprint, want alice's key %s", m, entry.Fingerprint(alice.PublicKeyDER))
		}
	}
	if got := byLog["log"][0]["logIndex"]; got != float64(aliceIdx) {
		t.Errorf("main log match at %v, want %d", got, aliceIdx)
	}
	if lines := h.mustRun(); len(lines) != 0 {
		t.Fatalf("second run reported again: %v", lines)
	}
}

func TestMonitorWebhook(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	logEntry(t, l, s, []byte("first"))
	watched := []byte("watched")
	idx := logEntry(t, l, s, watched)
	logEntry(t, l, s, []byte("last"))

	var mu sync.Mutex
	var delivered []MatchEvent
	var failing atomic.Bool
	failing.Store(true)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var ev MatchEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		delivered = append(delivered, ev)
		mu.Unlock()
	}))
	defer hook.Close()

	h := logHarness(t, l)
	h.cfg.Watch = mustWatch(t, "digests: ["+digestOf(watched)+"]\n")
	h.cfg.Webhook, h.cfg.WebhookAttempts, h.cfg.WebhookBackoff = hook.URL, 2, time.Millisecond
	_, err := h.run()
	var we *WebhookError
	if !errors.As(err, &we) || we.LogIndex != idx {
		t.Fatalf("run with a failing webhook: %v, want a WebhookError at %d", err, idx)
	}
	if ls := h.state(); ls.Next != idx {
		t.Fatalf("state next %d after the webhook failed, want %d (the match)", ls.Next, idx)
	}
	failing.Store(false)
	if lines := h.mustRun(); len(lines) != 1 || lines[0]["logIndex"] != float64(idx) {
		t.Fatalf("retry: output %v, want the match at %d again", lines, idx)
	}
	if lines := h.mustRun(); len(lines) != 0 {
		t.Fatalf("third run: %v", lines)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 || delivered[0].LogIndex != idx || delivered[0].Digest != digestOf(watched) {
		t.Errorf("webhook got %+v, want the match at %d once", delivered, idx)
	}
	if ls := h.state(); ls.Next != idx+2 {
		t.Errorf("state next %d, want %d", ls.Next, idx+2)
	}
}

// TestMonitorContinuous polls a growing log and stops when the context
// ends.
func TestMonitorContinuous(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	watched := []byte("watched")
	h := logHarness(t, l)
	h.cfg.Watch = mustWatch(t, "digests: ["+digestOf(watched)+"]\n")
	h.cfg.Interval = 20 * time.Millisecond
	out := &syncBuffer{}
	h.cfg.Output = out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, h.cfg) }()

	first := logEntry(t, l, s, watched)
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") >= 1 })
	second := logEntry(t, l, s, watched)
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	want := fmt.Sprintf(`"logIndex":%d,`, first)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[1], fmt.Sprintf(`"logIndex":%d,`, second)) {
		t.Errorf("output %q, want matches at %d then %d", lines, first, second)
	}
}

// waitFor polls cond until it holds, for at most a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
