package client_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
)

// tilesClient returns a client of a server answering with h, trying each
// request three times.
func tilesClient(t *testing.T, h http.HandlerFunc, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]client.Option{client.WithMaxAttempts(3), client.WithBackoff(time.Millisecond, time.Millisecond)}, opts...)
	c, err := client.New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTileRetries(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int32
	c := tilesClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			fmt.Fprint(w, "ok")
		}
	})
	b, err := c.Checkpoint(ctx)
	if err != nil || string(b) != "ok" || calls.Load() != 3 {
		t.Fatalf("after 429 and 502: %q, %v, %d calls", b, err, calls.Load())
	}

	calls.Store(0)
	c = tilesClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err = c.Checkpoint(ctx)
	var he *client.Error
	if !errors.As(err, &he) || he.StatusCode != 503 || calls.Load() != 3 || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("always 503: %v after %d calls", err, calls.Load())
	}

	calls.Store(0)
	c = tilesClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"message":"bad"}`, http.StatusBadRequest)
	})
	if _, err := c.Checkpoint(ctx); !errors.As(err, &he) || he.StatusCode != 400 || calls.Load() != 1 ||
		he.Message != "bad" {
		t.Fatalf("400: %v after %d calls, want no retry", err, calls.Load())
	}
}

func TestPartialFallback(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/api/v2/certlog/tile/0/001", "/api/v2/certlog/tile/entries/001":
			fmt.Fprint(w, "full")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithTilesURL(client.CertLogTilesURL(srv.URL+"/")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data, served, err := c.FetchTile(ctx, 0, 1, 7)
	if err != nil || string(data) != "full" || served != 0 {
		t.Errorf("partial tile gone: %q, served %d, %v", data, served, err)
	}
	data, served, err = c.FetchEntryBundle(ctx, 1, 7)
	if err != nil || string(data) != "full" || served != 0 {
		t.Errorf("partial bundle gone: %q, served %d, %v", data, served, err)
	}
	if _, err := c.ReadTile(ctx, 0, 2, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing full tile: %v, want fs.ErrNotExist", err)
	}
	want := "/api/v2/certlog/tile/0/001.p/7 /api/v2/certlog/tile/0/001 /api/v2/certlog/tile/entries/001.p/7 " +
		"/api/v2/certlog/tile/entries/001 /api/v2/certlog/tile/0/002"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}

func TestTileSizeLimit(t *testing.T) {
	c := tilesClient(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 8193))
	})
	_, err := c.ReadTile(context.Background(), 0, 0, 0)
	if !errors.Is(err, client.ErrBadResponse) || !strings.Contains(err.Error(), "exceeds 8192 bytes") {
		t.Errorf("oversized tile: %v", err)
	}
}

func TestTilesURL(t *testing.T) {
	for _, tc := range []struct{ base, opt, want string }{
		{"https://log.example", "", "https://log.example/api/v2"},
		{"https://log.example/", "", "https://log.example/api/v2"},
		{"https://log.example", "https://log.example/api/v2/certlog/", "https://log.example/api/v2/certlog"},
	} {
		var opts []client.Option
		if tc.opt != "" {
			opts = append(opts, client.WithTilesURL(tc.opt))
		}
		c, err := client.New(tc.base, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.TilesURL(); got != tc.want {
			t.Errorf("New(%q, WithTilesURL(%q)).TilesURL() = %q, want %q", tc.base, tc.opt, got, tc.want)
		}
	}
	if got := client.CertLogTilesURL("https://log.example/"); got != "https://log.example/api/v2/certlog" {
		t.Errorf("CertLogTilesURL: %q", got)
	}
	for _, u := range []string{"", "ftp://x/y", "http://", "log.example.com/api/v2"} {
		if _, err := client.New("https://log.example", client.WithTilesURL(u)); err == nil {
			t.Errorf("WithTilesURL(%q) accepted", u)
		}
	}
}
