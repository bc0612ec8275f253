// Package logclient reads a C2SP tlog-tiles log over HTTP, as any client
// of the log can: the checkpoint, hash tiles and entry bundles under the
// log's URL prefix. It owns only transport concerns (timeouts, retries on
// pushback, size limits, partial-to-full fallback) and checkpoint signature
// verification; the Merkle math stays in transparency-dev/merkle and
// Tessera's client package, which take Client.ReadTile as their fetcher.
//
// The monitor and the auditor share it; it imports nothing of the server.
package logclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

// Resource size limits: a response larger than its resource can be is an
// error, not an allocation.
const (
	maxCheckpointBytes = 64 << 10
	maxTileBytes       = layout.TileWidth * 32
	maxBundleBytes     = layout.EntryBundleWidth * (2 + 65535)
)

// Options tune a Client; the zero value is usable.
type Options struct {
	// HTTPClient sends the requests (default: a client with no overall
	// timeout; Timeout bounds each attempt instead).
	HTTPClient *http.Client
	// Timeout bounds one attempt of one request (default 30s).
	Timeout time.Duration
	// MaxAttempts bounds how often a request is tried when the log pushes
	// back (429, 503), a gateway fails (502, 504) or the connection fails
	// (default 5).
	MaxAttempts int
	// Backoff is the first wait between attempts; it doubles each time up
	// to 10s (default 250ms). A Retry-After header, up to 30s, wins.
	Backoff time.Duration
	// UserAgent is sent with every request (default "mosaic-logclient").
	UserAgent string
}

// Client reads one log. It is safe for concurrent use.
type Client struct {
	prefix *url.URL
	opts   Options
}

// New returns a client for the log whose tlog-tiles prefix is prefix (for
// Mosaic, the server's base URL + "/api/v2"; see Prefix).
func New(prefix string, opts Options) (*Client, error) {
	u, err := url.Parse(prefix)
	if err != nil {
		return nil, fmt.Errorf("parsing log URL %q: %w", prefix, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("log URL %q: want an http:// or https:// URL with a host", prefix)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 250 * time.Millisecond
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "mosaic-logclient"
	}
	return &Client{prefix: u, opts: opts}, nil
}

// Prefix is the tlog-tiles prefix of the main log of the Mosaic server at
// baseURL.
func Prefix(baseURL string) string { return strings.TrimRight(baseURL, "/") + "/api/v2" }

// CertLogPrefix is the tlog-tiles prefix of the certificate log of the
// Mosaic server at baseURL.
func CertLogPrefix(baseURL string) string { return Prefix(baseURL) + "/certlog" }

// URL is the absolute URL of a resource path such as "checkpoint".
func (c *Client) URL(path string) string {
	return c.prefix.JoinPath(path).String()
}

// StatusError is a response other than 200 OK. errors.Is(err,
// fs.ErrNotExist) holds for 404, as Tessera's fetcher contract requires.
type StatusError struct {
	URL    string
	Status int
	// Body is the start of the response body, for the error message.
	Body string
}

// Error gives the URL, the status and the start of the body.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap maps 404 to fs.ErrNotExist.
func (e *StatusError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return fs.ErrNotExist
	}
	return nil
}

// Checkpoint returns the log's latest checkpoint note, unverified.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.get(ctx, layout.CheckpointPath, maxCheckpointBytes)
}

// VerifiedCheckpoint fetches the latest checkpoint and opens it with v under
// origin. A note that does not verify is a *CheckpointError.
func (c *Client) VerifiedCheckpoint(ctx context.Context, origin string, v note.Verifier) (*log.Checkpoint, []byte, error) {
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	cp, err := OpenCheckpoint(raw, origin, v)
	if err != nil {
		return nil, raw, err
	}
	return cp, raw, nil
}

// FetchTile returns hash tile level/index of width p (0: full). When the
// partial tile is gone (404) it falls back to the full tile, as tlog-tiles
// allows; served is the width actually returned (0: full).
func (c *Client) FetchTile(ctx context.Context, level, index uint64, p uint8) (data []byte, served uint8, err error) {
	data, err = c.get(ctx, layout.TilePath(level, index, p), maxTileBytes)
	if p != 0 && errors.Is(err, fs.ErrNotExist) {
		data, err = c.get(ctx, layout.TilePath(level, index, 0), maxTileBytes)
		return data, 0, err
	}
	return data, p, err
}

// FetchEntryBundle is FetchTile for entry bundles.
func (c *Client) FetchEntryBundle(ctx context.Context, index uint64, p uint8) (data []byte, served uint8, err error) {
	data, err = c.get(ctx, layout.EntriesPath(index, p), maxBundleBytes)
	if p != 0 && errors.Is(err, fs.ErrNotExist) {
		data, err = c.get(ctx, layout.EntriesPath(index, 0), maxBundleBytes)
		return data, 0, err
	}
	return data, p, err
}

// ReadTile is FetchTile in the shape of Tessera's client.TileFetcherFunc.
func (c *Client) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	data, _, err := c.FetchTile(ctx, level, index, p)
	return data, err
}

// ReadEntryBundle is FetchEntryBundle in the shape of Tessera's
// client.EntryBundleFetcherFunc.
func (c *Client) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	data, _, err := c.FetchEntryBundle(ctx, index, p)
	return data, err
}

// get fetches path, retrying transient failures.
func (c *Client) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	u := c.URL(path)
	wait := c.opts.Backoff
	for attempt := 1; ; attempt++ {
		data, retryAfter, err := c.getOnce(ctx, u, limit)
		if err == nil || retryAfter < 0 || attempt >= c.opts.MaxAttempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return data, err
		}
		d := wait + rand.N(wait/2+1)
		if retryAfter > 0 {
			d = retryAfter
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("GET %s: %w (last error: %v)", u, ctx.Err(), err)
		case <-time.After(d):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// getOnce makes one attempt. retryAfter is negative when the error is not
// worth retrying, positive when the server said how long to wait.
func (c *Client) getOnce(ctx context.Context, u string, limit int64) (data []byte, retryAfter time.Duration, err error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, err // the caller gave up; only an attempt's own timeout is retried
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		serr := &StatusError{URL: u, Status: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			return nil, parseRetryAfter(resp.Header.Get("Retry-After")), serr
		}
		return nil, -1, serr
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, -1, fmt.Errorf("GET %s: response exceeds %d bytes, the most this resource can hold", u, limit)
	}
	return data, 0, nil
}

// parseRetryAfter reads a delay in seconds, capped at 30s; 0 if absent.
func parseRetryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, 30*time.Second)
}
