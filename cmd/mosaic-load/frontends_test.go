package main

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// --url takes several frontends, repeated or comma-separated; each must
// be a valid target, and none may be given twice.
func TestURLList(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the targets, comma-separated; "" for an error
		err  string
	}{
		{[]string{}, "http://127.0.0.1:3000", ""},
		{[]string{"--url", "http://127.0.0.1:3001"}, "http://127.0.0.1:3001", ""},
		{[]string{"--url", "http://127.0.0.1:3001,http://127.0.0.1:3002/"}, "http://127.0.0.1:3001,http://127.0.0.1:3002", ""},
		{[]string{"--url", "http://127.0.0.1:3001", "--url", "http://localhost:3002, http://[::1]:3003"},
			"http://127.0.0.1:3001,http://localhost:3002,http://[::1]:3003", ""},
		{[]string{"--url", "http://127.0.0.1:3001,"}, "", "holds an empty URL"},
		{[]string{"--url", "http://127.0.0.1:3001", "--url", "http://127.0.0.1:3001/"}, "", "--url http://127.0.0.1:3001 is given twice"},
		{[]string{"--url", "http://127.0.0.1:3001,http://192.0.2.1"}, "", `host "192.0.2.1" is not a loopback address`},
		{[]string{"--url", "http://127.0.0.1:3001,ftp://127.0.0.1"}, "", "want an http or https URL"},
		{[]string{"--url", "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3", "--concurrency", "2"}, "", "below the 3 URLs given"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, _, err := parseFlags(append([]string{"--entries", "10"}, tc.args...), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("error %v", err)
			} else if got := targetString(cfg.targets()); got != tc.want {
				t.Errorf("targets %s, want %s", got, tc.want)
			}
			// mosaic-load read takes the same flag.
			rc, _, err := parseReadFlags(append([]string{"--requests", "10"}, tc.args...), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("read: error %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("read: error %v", err)
			} else if got := targetString(append([]*url.URL{rc.URL}, rc.MoreURLs...)); got != tc.want {
				t.Errorf("read: targets %s, want %s", got, tc.want)
			}
		})
	}
}

// countingFront is a proxy in front of a log counting the requests it
// passes on: one "frontend" of a log with several.
func countingFront(t *testing.T, l *mosaictest.Log, method string) (string, *atomic.Int64) {
	t.Helper()
	proxy := httputil.NewSingleHostReverseProxy(mustURL(t, l.URL))
	var n atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method {
			n.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL, &n
}

// With three URLs, the writes and the reads are spread round-robin over
// them by client: every one gets its share, and everything verifies.
func TestSpreadOverFrontends(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	var urls []string
	var posts []*atomic.Int64
	for range 3 {
		u, n := countingFront(t, l, http.MethodPost)
		urls = append(urls, u)
		posts = append(posts, n)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"--url", strings.Join(urls[:2], ","), "--url", urls[2], "--concurrency", "6", "--entries", "120",
		"--verify", "--log-key", writeKey(t, l), "--origin", l.Origin, "--output", "json", "--progress", "0"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status[201] != 120 || res.Verified != 120 || res.URL != strings.Join(urls, ",") {
		t.Errorf("status %v, verified %d, url %s; want 120 × 201, all verified, the three URLs", res.Status, res.Verified, res.URL)
	}
	var total int64
	for i, n := range posts {
		// Two clients per frontend, each with one entry in flight: no
		// frontend can be left out, and none can take nearly all.
		if n.Load() < 10 || n.Load() > 100 {
			t.Errorf("frontend %d got %d of the 120 writes", i, n.Load())
		}
		total += n.Load()
	}
	if total != 120 {
		t.Errorf("the frontends got %d writes, want 120", total)
	}

	var gets []*atomic.Int64
	urls = urls[:0]
	for range 2 {
		u, n := countingFront(t, l, http.MethodGet)
		urls = append(urls, u)
		gets = append(gets, n)
	}
	rc := readConfig{URL: mustURL(t, urls[0]), MoreURLs: []*url.URL{mustURL(t, urls[1])}, Mix: []mixEntry{{kind: kindPartialBundle, weight: 1}, {kind: kindInclusion, weight: 1}},
		Concurrency: 4, Requests: 200, VerifyEvery: 1, Timeout: 10 * time.Second}
	rr, err := RunRead(context.Background(), rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Requests != 200 || rr.Errors != 0 || rr.Verified != 200 || rr.URL != strings.Join(urls, ",") {
		t.Errorf("read: %d requests, %d errors, %d verified, url %s", rr.Requests, rr.Errors, rr.Verified, rr.URL)
	}
	for i, n := range gets {
		if n.Load() < 50 {
			t.Errorf("read: frontend %d got %d of the 200 reads", i, n.Load())
		}
	}
}
