package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

// proxy is a real HTTP server in front of a real log. Its hook sees each
// request first and may answer it itself; otherwise the request is
// forwarded and the log's answer copied back.
type proxy struct {
	upstream string
	posts    atomic.Int32 // POSTs seen
	hook     func(w http.ResponseWriter, r *http.Request, body []byte, n int32) bool
}

func newProxy(t *testing.T, upstream string, hook func(http.ResponseWriter, *http.Request, []byte, int32) bool) (*proxy, string) {
	t.Helper()
	p := &proxy{upstream: upstream, hook: hook}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var n int32
	if r.Method == http.MethodPost {
		n = p.posts.Add(1)
	}
	if p.hook != nil && p.hook(w, r, body, n) {
		return
	}
	resp, err := p.forward(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	copyResponse(w, resp)
}

type upstreamResponse struct {
	status int
	header http.Header
	body   []byte
}

func (p *proxy) forward(r *http.Request, body []byte) (*upstreamResponse, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return &upstreamResponse{status: resp.StatusCode, header: resp.Header, body: data}, err
}

func copyResponse(w http.ResponseWriter, resp *upstreamResponse) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestRetryAfter503(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	p, url := newProxy(t, l.URL, func(w http.ResponseWriter, r *http.Request, _ []byte, n int32) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"code":14,"message":"the log is at capacity","details":[]}`)
			return true
		}
		return false
	})
	c := newClient(t, url)
	start := time.Now()
	added, err := c.AddEntry(context.Background(), mosaictest.NewSigner(t, mosaictest.ECDSAP256).RequestProto(t, []byte("a")))
	if err != nil {
		t.Fatal(err)
	}
	if p.posts.Load() != 2 || added.Duplicate {
		t.Errorf("%d POSTs, duplicate %v; want 2 and a fresh entry", p.posts.Load(), added.Duplicate)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before the server's Retry-After of 1s", waited)
	}
	checkEntry(t, l, added)
}

// A write whose answer is lost is retried; the log already holds the entry
// and answers with it.
func TestRetryLostAnswer(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	var firstIndex atomic.Int64
	var p *proxy
	p, url := newProxy(t, l.URL, func(w http.ResponseWriter, r *http.Request, body []byte, n int32) bool {
		if n != 1 {
			return false
		}
		resp, err := p.forward(r, body)
		if err != nil || resp.status != http.StatusCreated {
			t.Errorf("forwarding the first write: %v %v", resp, err)
		}
		firstIndex.Store(indexOf(t, resp.body))
		drop(w)
		return true
	})
	c := newClient(t, url)
	added, err := c.AddEntry(context.Background(), mosaictest.NewSigner(t, mosaictest.ECDSAP256).RequestProto(t, []byte("b")))
	if err != nil {
		t.Fatal(err)
	}
	if !added.Duplicate || added.Entry.GetLogIndex() != firstIndex.Load() || p.posts.Load() != 2 {
		t.Errorf("duplicate %v index %d after %d POSTs, want true %d 2", added.Duplicate, added.Entry.GetLogIndex(), p.posts.Load(), firstIndex.Load())
	}
	checkEntry(t, l, added)
}

func indexOf(t *testing.T, body []byte) int64 {
	t.Helper()
	var tle rekorpb.TransparencyLogEntry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &tle); err != nil {
		t.Fatal(err)
	}
	return tle.GetLogIndex()
}

func TestRetryLimits(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Keyless: true})
	refuse := func(retryAfter string) func(http.ResponseWriter, *http.Request, []byte, int32) bool {
		return func(w http.ResponseWriter, r *http.Request, _ []byte, _ int32) bool {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "<html>upstream unavailable</html>")
			return true
		}
	}
	ctx := context.Background()
	req := mosaictest.NewSigner(t, mosaictest.ECDSAP256).RequestProto(t, []byte("c"))

	t.Run("attempts", func(t *testing.T) {
		p, url := newProxy(t, l.URL, refuse(""))
		_, err := newClient(t, url, client.WithMaxAttempts(3)).AddEntry(ctx, req)
		var he *client.Error
		if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || he.Message != "<html>upstream unavailable</html>" {
			t.Errorf("err %v, want the 503", err)
		}
		if p.posts.Load() != 3 {
			t.Errorf("%d attempts, want 3", p.posts.Load())
		}
	})
	t.Run("long Retry-After", func(t *testing.T) {
		p, url := newProxy(t, l.URL, refuse("3600"))
		_, err := newClient(t, url).AddEntry(ctx, req)
		var he *client.Error
		if !errors.As(err, &he) || he.RetryAfter != time.Hour || p.posts.Load() != 1 {
			t.Errorf("err %v after %d attempts, want one attempt and RetryAfter 1h", err, p.posts.Load())
		}
	})
	t.Run("context", func(t *testing.T) {
		_, url := newProxy(t, l.URL, refuse("30"))
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := newClient(t, url).AddEntry(cctx, req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v, want the context's deadline", err)
		}
	})
	t.Run("certificate not repeated after a lost answer", func(t *testing.T) {
		p, url := newProxy(t, l.URL, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int32) bool {
			drop(w)
			return true
		})
		_, err := newClient(t, url).SigningCert(ctx, client.CertificateRequest{
			IDToken: "x", PublicKey: mosaictest.NewSigner(t, mosaictest.ECDSAP256).Key.Public(), ProofOfPossession: []byte{1}})
		if err == nil || p.posts.Load() != 1 {
			t.Errorf("err %v after %d attempts, want a failure after one", err, p.posts.Load())
		}
	})
}

// conflictProxy answers a resubmission as Rekor v2 does: 409 with the
// index in X-Log-Index (when header is set) and in the message; with lie
// >= 0 it names that index instead. A non-nil stale checkpoint is served
// once, to the first checkpoint read after a 409.
func conflictProxy(t *testing.T, upstream string, header bool, lie int64, stale []byte) (string, *atomic.Int32) {
	t.Helper()
	var p *proxy
	var conflicted atomic.Bool
	var staleServed atomic.Int32
	p, url := newProxy(t, upstream, func(w http.ResponseWriter, r *http.Request, body []byte, n int32) bool {
		if r.URL.Path == "/api/v2/checkpoint" && stale != nil && conflicted.CompareAndSwap(true, false) {
			staleServed.Add(1)
			_, _ = w.Write(stale)
			return true
		}
		if r.Method != http.MethodPost {
			return false
		}
		resp, err := p.forward(r, body)
		if err != nil {
			t.Error(err)
			return false
		}
		idx := resp.header.Get(client.DuplicateHeader)
		if idx == "" && resp.status == http.StatusConflict {
			idx = resp.header.Get(client.LogIndexHeader)
		}
		if idx == "" {
			copyResponse(w, resp)
			return true
		}
		if lie >= 0 {
			idx = strconv.FormatInt(lie, 10)
		}
		if header {
			w.Header().Set("X-Log-Index", idx)
		}
		conflicted.Store(true)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"code":6,"message":"an equivalent entry already exists in the transparency log with index %s","details":[]}`, idx)
		return true
	})
	return url, &staleServed
}

func TestConflictRebuiltFromTiles(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	ctx := context.Background()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range 3 { // the entry of interest is not the first
		if _, err := newClient(t, l.URL).AddEntry(ctx, s.RequestProto(t, []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	stale, err := newClient(t, l.URL).Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header bool
		stale  []byte
		opts   []client.Option
	}{
		{"header, log key", true, nil, []client.Option{client.WithLogPublicKey(l.Key.Public())}},
		{"message only, log ID", false, nil, []client.Option{client.WithLogID(l.LogID)}},
		{"header, log ID from info", true, nil, nil},
		{"checkpoint not yet covering", true, stale, []client.Option{client.WithLogPublicKey(l.Key.Public())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, staleServed := conflictProxy(t, l.URL, tc.header, -1, tc.stale)
			c := newClient(t, url, tc.opts...)
			req := s.RequestProto(t, []byte(tc.name))
			first, err := c.AddEntry(ctx, req)
			if err != nil || first.Duplicate {
				t.Fatalf("first submission: %v (duplicate %v)", err, first != nil && first.Duplicate)
			}
			again, err := c.AddEntry(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Duplicate || again.Entry.GetLogIndex() != first.Entry.GetLogIndex() {
				t.Fatalf("duplicate %v index %d, want true %d", again.Duplicate, again.Entry.GetLogIndex(), first.Entry.GetLogIndex())
			}
			if tc.stale != nil && staleServed.Load() != 1 {
				t.Errorf("the stale checkpoint was served %d times, want 1", staleServed.Load())
			}
			verifyAgainstCheckpoint(t, l, again.Entry)
			checkEntry(t, l, again)
		})
	}
	t.Run("index of another entry", func(t *testing.T) {
		url, _ := conflictProxy(t, l.URL, true, 0, nil)
		c := newClient(t, url, client.WithLogID(l.LogID))
		req := s.RequestProto(t, []byte("lied about"))
		if _, err := c.AddEntry(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddEntry(ctx, req); !errors.Is(err, client.ErrEntryMismatch) {
			t.Errorf("err %v, want ErrEntryMismatch", err)
		}
	})
}

// verifyAgainstCheckpoint checks the entry's proof with the merkle package
// against its checkpoint, verified with the log's key.
func verifyAgainstCheckpoint(t *testing.T, l *mosaictest.Log, tle *rekorpb.TransparencyLogEntry) {
	t.Helper()
	ip := tle.GetInclusionProof()
	cp, err := verifyCheckpoint([]byte(ip.GetCheckpoint().GetEnvelope()), l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody())
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(tle.GetLogIndex()), cp.Size, leaf, ip.GetHashes(), cp.Hash); err != nil {
		t.Errorf("inclusion proof: %v", err)
	}
}
