package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "all", want: "checkpoint=1,tile=1,partial-tile=1,bundle=1,partial-bundle=1,inclusion=1,consistency=1"},
		{in: "tile", want: "tile=1"},
		{in: "tile=3, inclusion", want: "tile=3,inclusion=1"},
		{in: "", err: "--mix is empty"},
		{in: "tiles", err: `unknown kind "tiles"`},
		{in: "tile=0", err: `weight "0" of tile`},
		{in: "tile=-2", err: `weight "-2" of tile`},
		{in: "tile=x", err: `weight "x" of tile`},
		{in: "tile,tile=2", err: "tile given twice"},
		{in: "tile,", err: `unknown kind ""`},
	} {
		mix, err := parseMix(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseMix(%q): error %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("parseMix(%q): %v", tc.in, err)
		case tc.err == "" && mixString(mix) != tc.want:
			t.Errorf("parseMix(%q) = %s, want %s", tc.in, mixString(mix), tc.want)
		}
	}
}

// A mistaken read flag is one short error, exit 2.
func TestReadFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mixx", "tile"}, "unknown flag --mixx; did you mean --mix?"},
		{[]string{"--mix", "proofs"}, `--mix: unknown kind "proofs"`},
		{[]string{"--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{[]string{"--duration", "0s"}, "give --duration or --requests"},
		{[]string{"--verify-every", "-1"}, "must not be negative"},
		{[]string{"--url", "http://log.example.com"}, `host "log.example.com" is not a loopback address`},
		{[]string{"--url", "ftp://127.0.0.1"}, "want an http or https URL"},
		{[]string{"--output", "xml"}, `--output "xml"`},
		{[]string{"--log-key", "/nonexistent"}, "--log-key"},
		{[]string{"extra"}, `unexpected arguments ["extra"]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"read"}, tc.args...), &stdout, &stderr)
			if code != 2 || !strings.HasPrefix(stderr.String(), "mosaic-load read: ") || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// fillLog adds n entries to l with the write load.
func fillLog(t *testing.T, l *mosaictest.Log, n int) {
	t.Helper()
	res, err := Run(context.Background(), Config{URL: mustURL(t, l.URL), Concurrency: 32, Entries: n, KeyType: ECDSAP256,
		Timeout: 20 * time.Second, MaxRetries: 3, Pregenerate: n}, nil)
	if err != nil || res.Status[201] != int64(n) {
		t.Fatalf("filling the log: %v %+v", err, res)
	}
}

// writeKey writes l's public key as PEM for --log-key.
func writeKey(t *testing.T, l *mosaictest.Log) string {
	t.Helper()
	pem, err := note.MarshalPublicKey(l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "log.pub")
	if err := os.WriteFile(p, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadAgainstLog reads every kind from a real log, checking every
// answer, through the command as a user runs it.
func TestReadAgainstLog(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	fillLog(t, l, 600) // two full tiles and bundles, partial ones at levels 0 and 1
	var stdout, stderr bytes.Buffer
	code := run([]string{"read", "--url", l.URL, "--requests", "700", "--duration", "0", "--warmup", "0", "--concurrency", "8",
		"--verify-every", "1", "--log-key", writeKey(t, l), "--output", "json", "--progress", "100ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var res ReadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.TreeSize != 600 || res.Requests != 700 || res.Errors != 0 || res.Verified != 700 || res.VerifyFailures != 0 {
		t.Errorf("tree %d, requests %d, errors %d, verified %d, failures %d; want 600, 700, 0, 700, 0 (samples %q)",
			res.TreeSize, res.Requests, res.Errors, res.Verified, res.VerifyFailures, res.ErrorSamples)
	}
	if len(res.Kinds) != len(readKinds) {
		t.Fatalf("%d kinds reported, want %d", len(res.Kinds), len(readKinds))
	}
	for _, k := range res.Kinds {
		if k.Requests == 0 || k.Status[200] != k.Requests || k.Verified != k.Requests || k.Latency.Count != int(k.Requests) {
			t.Errorf("%s: %d requests, status %v, %d verified, %d latencies", k.Kind, k.Requests, k.Status, k.Verified, k.Latency.Count)
		}
	}
	if !strings.Contains(stderr.String(), "mosaic-load read: tree of size 600") {
		t.Errorf("progress does not name the tree:\n%s", stderr.String())
	}
}

// corrupt changes an answer the way a wrong server would, keeping its
// shape: one byte of a tile or bundle, the first hash of a proof.
func corrupt(path string, body []byte) []byte {
	if strings.Contains(path, "/proof/") {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return body
		}
		if h, ok := m["hashes"].([]any); ok && len(h) > 0 {
			h[0] = base64.StdEncoding.EncodeToString(make([]byte, 32))
		}
		out, _ := json.Marshal(m)
		return out
	}
	if strings.Contains(path, "/tile/") && len(body) > 0 {
		b := bytes.Clone(body)
		b[len(b)/2] ^= 1
		return b
	}
	return body
}

// A fast wrong answer does not pass: every corrupted answer of each kind
// fails verification.
func TestReadCatchesWrongAnswers(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	fillLog(t, l, 600)
	proxy := httputil.NewSingleHostReverseProxy(mustURL(t, l.URL))
	var corrupting atomic.Bool
	proxy.ModifyResponse = func(res *http.Response) error {
		body, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		res.Body.Close()
		if corrupting.Load() {
			body = corrupt(res.Request.URL.Path, body)
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	srv := front.URL
	for _, kind := range []readKind{kindTile, kindPartialTile, kindBundle, kindPartialBundle, kindInclusion, kindConsistency} {
		t.Run(string(kind), func(t *testing.T) {
			r := &reader{cfg: readConfig{URL: mustURL(t, srv), Concurrency: 1, Requests: 10, Timeout: 10 * time.Second,
				VerifyEvery: 1, Mix: []mixEntry{{kind, 1}}}}
			r.client = newHTTPClient(1)
			r.base = r.cfg.URL.JoinPath("/api/v2").String() + "/"
			cp, err := r.startingCheckpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			r.plan, _ = newReadPlan(cp.Size, r.cfg.Mix)
			// The verifier's own tile reads go to the log itself, so only
			// the answers under test are wrong.
			direct := &reader{cfg: r.cfg, client: r.client, base: mustURL(t, l.URL).JoinPath("/api/v2").String() + "/"}
			r.verifier = newTreeVerifier(cp.Size, cp.Hash, direct.fetch)
			corrupting.Store(true)
			defer corrupting.Store(false)
			p := r.runPhase(context.Background(), "read", 10, 0)
			res := r.result(p, cp)
			if res.Errors != 0 || res.VerifyFailures != 10 || res.Verified != 0 {
				t.Errorf("errors %d, verify failures %d, verified %d; want 0, 10, 0 (samples %q)", res.Errors, res.VerifyFailures, res.Verified, res.ErrorSamples)
			}
		})
	}
}
