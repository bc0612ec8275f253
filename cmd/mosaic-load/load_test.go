package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRunAgainstLog drives a real log and checks the figures against what
// the log itself says it holds.
func TestRunAgainstLog(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	var progress bytes.Buffer
	res, err := Run(context.Background(), Config{
		URL: mustURL(t, l.URL), Concurrency: 8, Entries: 200, Warmup: 16,
		KeyType: ECDSAP256, Verify: true, LogKey: l.Key.Public(), Origin: l.Origin,
		Timeout: 20 * time.Second, MaxRetries: 3, Pregenerate: 1000, ProgressInterval: 200 * time.Millisecond,
	}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 200 || res.Status[201] != 200 || len(res.Status) != 1 || res.Errors() != 0 {
		t.Errorf("entries %d, status %v, errors %d; want 200 × 201 and nothing else (samples: %q)",
			res.Entries, res.Status, res.Errors(), res.ErrorSamples)
	}
	if res.Verified != 200 || res.ProofFailures != 0 {
		t.Errorf("verified %d, proof failures %d; want 200 and 0 (samples: %q)", res.Verified, res.ProofFailures, res.ErrorSamples)
	}
	lat := res.Latency
	if lat.Count != 200 || lat.P50 <= 0 || lat.P50 > lat.P90 || lat.P90 > lat.P99 || lat.P99 > lat.Max {
		t.Errorf("latency percentiles are not ordered or not counted: %+v", lat)
	}
	// The log publishes a checkpoint every 100ms, so no add can be proved
	// faster than a batch, nor take anywhere near the timeout.
	if time.Duration(lat.Max) > 10*time.Second || time.Duration(lat.P50) < time.Millisecond {
		t.Errorf("implausible latencies: %+v", lat)
	}
	elapsed := time.Duration(res.Elapsed)
	if elapsed < time.Duration(lat.Max) || elapsed > time.Minute {
		t.Errorf("elapsed %s is shorter than the slowest request %s, or absurd", elapsed, time.Duration(lat.Max))
	}
	if want := 200 / elapsed.Seconds(); res.EntriesPerSecond < want*0.99 || res.EntriesPerSecond > want*1.01 {
		t.Errorf("entries/s %.2f, want 200/%s = %.2f", res.EntriesPerSecond, elapsed, want)
	}
	if res.Retries != 0 || res.SignedDuringRun != 0 || res.Interrupted {
		t.Errorf("retries %d, signed during run %d, interrupted %v; want none", res.Retries, res.SignedDuringRun, res.Interrupted)
	}
	// The log must hold the warm-up and the measured entries.
	cp, _, err := l.Log.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 216 {
		t.Errorf("log size %d after the run, want 216 (16 warm-up + 200)", cp.Size)
	}
	if !strings.Contains(progress.String(), "signing 216 ecdsa-p256 requests") {
		t.Errorf("progress does not announce the signing:\n%s", progress.String())
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"201: 200", "200 verified, 0 failures", "entries/s"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// TestRetryAfter puts a proxy in front of the log that pushes back the
// first writes, and checks they are retried and counted apart.
func TestRetryAfter(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	proxy := httputil.NewSingleHostReverseProxy(mustURL(t, l.URL))
	var pushbacks atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && pushbacks.Add(1) <= 5 {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"code":14,"message":"at capacity"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	res, err := Run(context.Background(), Config{
		URL: mustURL(t, front.URL), Concurrency: 2, Entries: 20, KeyType: Ed25519ph, Verify: true,
		Timeout: 20 * time.Second, MaxRetries: 10, Pregenerate: 20,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Retries != 5 || res.Status[201] != 20 || len(res.Status) != 1 || res.ProofFailures != 0 {
		t.Errorf("retries %d, status %v, proof failures %d; want 5 retries and 20 × 201 (samples %q)",
			res.Retries, res.Status, res.ProofFailures, res.ErrorSamples)
	}
	if res.Refused.Count != 5 {
		t.Errorf("refused latency counts %d answers, want the 5 503s", res.Refused.Count)
	}
	if res.LatencyWithRetries.Max < res.Latency.Max {
		t.Errorf("latency with retries %+v is below the succeeding attempts' %+v", res.LatencyWithRetries, res.Latency)
	}
}

// TestDurationStops checks that a --duration run ends by itself soon after
// its time is up.
func TestDurationStops(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	start := time.Now()
	res, err := Run(context.Background(), Config{
		URL: mustURL(t, l.URL), Concurrency: 4, Duration: 700 * time.Millisecond, KeyType: ECDSAP256,
		Timeout: 20 * time.Second, Pregenerate: 50,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 700ms run took %s", took)
	}
	if res.Entries == 0 || res.Errors() != 0 || time.Duration(res.Elapsed) < 700*time.Millisecond {
		t.Errorf("entries %d, errors %d, elapsed %s; want some entries, no errors, at least 700ms",
			res.Entries, res.Errors(), time.Duration(res.Elapsed))
	}
}

// TestOpenLoop checks that --rate paces entries: about rate × duration of
// them, not as many as the clients could send.
func TestOpenLoop(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	res, err := Run(context.Background(), Config{
		URL: mustURL(t, l.URL), Concurrency: 32, Duration: 2 * time.Second, Rate: 50, KeyType: ECDSAP256,
		Timeout: 20 * time.Second, Pregenerate: 300,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 100 expected; a Poisson count stays within 40..160 with
	// overwhelming probability. A closed loop of 32 clients would send
	// several hundred.
	if res.Entries < 40 || res.Entries > 160 || res.Errors() != 0 || res.Rate != 50 {
		t.Errorf("entries %d, errors %d, rate %v; want about 100 entries at 50/s with no errors",
			res.Entries, res.Errors(), res.Rate)
	}
	// 32 clients are far more than 50/s needs; only a starved machine
	// (timer wake-ups late by 10ms) makes starts late, never most of them.
	if res.LateStarts > res.Entries/2 {
		t.Errorf("%d of %d starts late with 32 clients for 50 entries/s", res.LateStarts, res.Entries)
	}
}

// TestVerifierRejects checks that --verify catches a response that was
// tampered with in each way that matters.
func TestVerifierRejects(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	s, err := newEntrySigner(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	req, body := addEntries(t, l, s, 3) // a tree of 3 gives the last entry a non-empty proof
	v, err := newResponseVerifier(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.check(body, req); err != nil {
		t.Fatalf("an untouched response does not verify: %v", err)
	}
	unsigned, _ := newResponseVerifier("", nil)
	if err := unsigned.check(body, req); err != nil {
		t.Fatalf("an untouched response does not verify without the log key: %v", err)
	}
	other, _ := s.newRequest()
	otherKey, _ := note.GenerateKey(note.Ed25519)
	wrongKey, _ := newResponseVerifier(l.Origin, otherKey.Public())

	tamper := func(f func(*rekorpb.TransparencyLogEntry)) []byte {
		var tle rekorpb.TransparencyLogEntry
		if err := protojson.Unmarshal(body, &tle); err != nil {
			t.Fatal(err)
		}
		f(&tle)
		b, err := protojson.Marshal(&tle)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		v    *responseVerifier
		body []byte
		req  *request
	}{
		{"proof hash", unsigned, tamper(func(e *rekorpb.TransparencyLogEntry) { e.InclusionProof.Hashes[0][0] ^= 1 }), req},
		{"index", unsigned, tamper(func(e *rekorpb.TransparencyLogEntry) { e.LogIndex--; e.InclusionProof.LogIndex-- }), req},
		{"root", unsigned, tamper(func(e *rekorpb.TransparencyLogEntry) { e.InclusionProof.RootHash[0] ^= 1 }), req},
		{"body", unsigned, tamper(func(e *rekorpb.TransparencyLogEntry) { e.CanonicalizedBody = append(e.CanonicalizedBody, ' ') }), req},
		{"no proof", unsigned, tamper(func(e *rekorpb.TransparencyLogEntry) { e.InclusionProof = nil }), req},
		{"other entry", unsigned, body, other},
		{"wrong log key", wrongKey, body, req},
		// v has verified the untouched checkpoint: a changed one must be checked again, not taken from its memory.
		{"checkpoint signature", v, tamper(func(e *rekorpb.TransparencyLogEntry) {
			env := e.InclusionProof.Checkpoint.Envelope
			i := len(env) - 5 // inside the signature's base64
			c := "A"
			if env[i] == 'A' {
				c = "B"
			}
			e.InclusionProof.Checkpoint.Envelope = env[:i] + c + env[i+1:]
		}), req},
		{"checkpoint size", v, tamper(func(e *rekorpb.TransparencyLogEntry) {
			env := e.InclusionProof.Checkpoint.Envelope
			e.InclusionProof.Checkpoint.Envelope = strings.Replace(env, "\n3\n", "\n4\n", 1)
			e.InclusionProof.TreeSize = 4
		}), req},
		{"not JSON", unsigned, []byte("<html>"), req},
	} {
		if err := tc.v.check(tc.body, tc.req); err == nil {
			t.Errorf("%s: a tampered response verified", tc.name)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"http://127.0.0.1:3000", false, true},
		{"http://127.1.2.3:3000/", false, true},
		{"http://localhost:3000", false, true},
		{"http://[::1]:3000", false, true},
		{"https://rekor.example.com", false, false},
		{"http://10.0.0.1:3000", false, false},
		{"http://0.0.0.0:3000", false, false},
		{"https://rekor.example.com", true, true},
		{"ftp://127.0.0.1", false, false},
		{"127.0.0.1:3000", false, false},
		{"http://127.0.0.1:3000/?x=1", false, false},
	} {
		_, err := checkTarget(tc.url, tc.remote)
		if (err == nil) != tc.ok {
			t.Errorf("checkTarget(%q, allowRemote=%v) = %v, want ok=%v", tc.url, tc.remote, err, tc.ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", -1}, {"x", -1}, {"-3", -1},
		{"0", 0}, {"2", 2 * time.Second}, {"3600", maxRetryWait},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p := summarize(d)
	want := Percentiles{Count: 100, P50: Seconds(50 * time.Millisecond), P90: Seconds(90 * time.Millisecond),
		P99: Seconds(99 * time.Millisecond), Max: Seconds(100 * time.Millisecond), Mean: Seconds(50500 * time.Microsecond)}
	if p != want {
		t.Errorf("summarize(1..100ms) = %+v, want %+v", p, want)
	}
	if (summarize(nil) != Percentiles{}) {
		t.Error("summarize(nil) is not zero")
	}
	var h liveHistogram
	for _, v := range d {
		h.observe(v)
	}
	if q := h.quantile(0.5); q < 50*time.Millisecond || q > 53*time.Millisecond {
		t.Errorf("live p50 of 1..100ms = %s, want within 5%% above 50ms", q)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--entries", "10"}, true},
		{[]string{"--duration", "5s", "--output", "json"}, true},
		{[]string{}, false}, // unbounded
		{[]string{"--entries", "10", "--url", "http://192.0.2.1"}, false},
		{[]string{"--entries", "10", "--url", "http://192.0.2.1", "--allow-remote"}, true},
		{[]string{"--entries", "10", "--key-type", "rsa"}, false},
		{[]string{"--entries", "10", "--output", "xml"}, false},
		{[]string{"--entries", "10", "--concurrency", "0"}, false},
		{[]string{"--duration", "5s", "--rate", "-1"}, false},
		{[]string{"--duration", "5s", "--rate", "250"}, true},
		{[]string{"--entries", "10", "--log-key", "x.pem"}, false}, // needs --verify
	} {
		_, _, err := parseFlags(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q) = %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
}

// BenchmarkCheck measures the load tool's check of one 201 response (the
// checkpoint's signature remembered, as during a run).
func BenchmarkCheck(b *testing.B) {
	l := mosaictest.NewLog(b, mosaictest.Options{})
	s, err := newEntrySigner(ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	req, body := addEntries(b, l, s, 1000)
	v, err := newResponseVerifier(l.Origin, l.Key.Public())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.check(body, req); err != nil {
			b.Fatal(err)
		}
	}
}

// addEntries adds n fresh entries to l one by one and returns the last
// one's request and 201 response.
func addEntries(t testing.TB, l *mosaictest.Log, s *entrySigner, n int) (*request, []byte) {
	t.Helper()
	var req *request
	var body []byte
	for range n {
		var err error
		if req, err = s.newRequest(); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
		}
	}
	return req, body
}
