package logclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

	mnote "github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

func testClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/api/v2", Options{MaxAttempts: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetries(t *testing.T) {
	var calls atomic.Int32
	c := testClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, "ok")
		}
	})
	b, err := c.Checkpoint(context.Background())
	if err != nil || string(b) != "ok" || calls.Load() != 3 {
		t.Fatalf("after 429 and 503: %q, %v, %d calls", b, err, calls.Load())
	}

	calls.Store(0)
	c = testClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err = c.Checkpoint(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 503 || calls.Load() != 3 || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("always 503: %v after %d calls", err, calls.Load())
	}

	calls.Store(0)
	c = testClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"message":"bad"}`, http.StatusBadRequest)
	})
	if _, err := c.Checkpoint(context.Background()); !errors.As(err, &se) || se.Status != 400 || calls.Load() != 1 ||
		!strings.Contains(err.Error(), "bad") {
		t.Fatalf("400: %v after %d calls, want no retry", err, calls.Load())
	}
}

func TestPartialFallback(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	c := testClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/api/v2/tile/0/001", "/api/v2/tile/entries/001":
			fmt.Fprint(w, "full")
		default:
			http.NotFound(w, r)
		}
	})
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
	want := "/api/v2/tile/0/001.p/7 /api/v2/tile/0/001 /api/v2/tile/entries/001.p/7 /api/v2/tile/entries/001 /api/v2/tile/0/002"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}

func TestSizeLimit(t *testing.T) {
	c := testClient(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 8193))
	})
	if _, err := c.ReadTile(context.Background(), 0, 0, 0); err == nil || !strings.Contains(err.Error(), "exceeds 8192 bytes") {
		t.Errorf("oversized tile: %v", err)
	}
}

func TestNewBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "http://", "://x", "log.example.com/api/v2"} {
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestVerifier(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := mnote.VerifierKey("log.example", pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := mnote.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := mnote.NewSigner(context.Background(), "log.example", priv)
	if err != nil {
		t.Fatal(err)
	}
	body := log.Checkpoint{Origin: "log.example", Size: 3, Hash: make([]byte, 32)}.Marshal()
	cp, err := note.Sign(&note.Note{Text: string(body)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, vkey, origin string
		pem                []byte
		err                string
	}{
		{name: "vkey", vkey: vkey},
		{name: "public key", origin: "log.example", pem: pemKey},
		{name: "both", vkey: vkey, pem: pemKey, err: "not both"},
		{name: "neither", err: "no log verifier"},
		{name: "bad vkey", vkey: "log.example+00+AAAA", err: "parsing verifier key"},
		{name: "key without origin", pem: pemKey, err: "needs the log's origin"},
		{name: "bad PEM", origin: "log.example", pem: []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), err: "PUBLIC KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, origin, err := Verifier(tc.vkey, tc.origin, tc.pem)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if origin != "log.example" {
				t.Errorf("origin %q", origin)
			}
			if c, err := OpenCheckpoint(cp, origin, v); err != nil || c.Size != 3 {
				t.Errorf("checkpoint does not open: %v", err)
			}
		})
	}

	v, _, _ := Verifier(vkey, "", nil)
	var ce *CheckpointError
	for name, raw := range map[string][]byte{
		"changed body":   []byte(strings.Replace(string(cp), "\n3\n", "\n4\n", 1)),
		"other origin":   cp,
		"short root":     mustSign(t, signer, log.Checkpoint{Origin: "log.example", Size: 1, Hash: []byte{1}}),
		"not a note":     []byte("hello"),
		"unsigned":       body,
		"empty":          nil,
		"signature only": []byte("\n— log.example AAAA\n"),
	} {
		origin := "log.example"
		if name == "other origin" {
			origin = "other.example"
		}
		if _, err := OpenCheckpoint(raw, origin, v); !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a CheckpointError", name, err)
		}
	}
}

func mustSign(t *testing.T, s note.Signer, cp log.Checkpoint) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOrdered(t *testing.T) {
	var inFlight, peak atomic.Int32
	fetch := func(ctx context.Context, i uint64) (uint64, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(7-i%7) * 100 * time.Microsecond) // later items finish first
		if i == 40 {
			return 0, errors.New("fetch 40 failed")
		}
		return i * i, nil
	}
	var got []uint64
	err := Ordered(context.Background(), 3, 30, 4, fetch, func(i, v uint64) error {
		if v != i*i {
			return fmt.Errorf("item %d got %d", i, v)
		}
		got = append(got, i)
		return nil
	})
	if err != nil || len(got) != 27 || got[0] != 3 || got[26] != 29 {
		t.Fatalf("Ordered: %v, consumed %v", err, got)
	}
	for k := 1; k < len(got); k++ {
		if got[k] != got[k-1]+1 {
			t.Fatalf("out of order: %v", got)
		}
	}
	if p := peak.Load(); p > 4 {
		t.Errorf("%d fetches in flight, limit 4", p)
	}

	got = nil
	err = Ordered(context.Background(), 30, 100, 8, fetch, func(i, v uint64) error {
		got = append(got, i)
		return nil
	})
	if err == nil || err.Error() != "fetch 40 failed" || len(got) != 10 {
		t.Errorf("fetch error: %v after consuming %v, want the error after 30..39", err, got)
	}
	err = Ordered(context.Background(), 0, 100, 8, fetch, func(i, v uint64) error {
		if i == 5 {
			return errors.New("consume 5 failed")
		}
		return nil
	})
	if err == nil || err.Error() != "consume 5 failed" {
		t.Errorf("consume error: %v", err)
	}
	if err := Ordered(context.Background(), 5, 5, 8, fetch, nil); err != nil {
		t.Errorf("empty range: %v", err)
	}
}
