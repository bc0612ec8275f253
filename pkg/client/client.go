// Package client is a typed Go client for every HTTP route a Mosaic server
// offers: the Rekor v2 write API and the C2SP tlog-tiles read API of the log,
// Mosaic's read routes (entries, proofs, log info, search), the
// Fulcio-compatible CA, the RFC 3161 timestamp authority, and the client
// configuration (trusted_root.json, signing_config.json).
//
// # Retries
//
// A request is retried, with exponential backoff and jitter, when the server
// pushes back (429, 503) or, for requests that are safe to repeat, when the
// connection fails or a gateway fails or times out (502, 504). A Retry-After header, in
// seconds or as an HTTP date, is honoured; a wait longer than the client's
// limit ends the retries instead. Writes to the log are safe to repeat: the
// log deduplicates equal entries, and a repeated entry is answered with the
// original (AddEntry reports it as a duplicate). Retries stop when the
// attempts run out or the context ends.
//
// # Errors
//
// A refusal (a non-2xx status) is returned as *Error, carrying the status,
// the gRPC code and the message of the server's JSON body. A 404 matches
// os.ErrNotExist with errors.Is, as Tessera's fetchers require. Responses
// that do not parse wrap ErrBadResponse.
//
// # Reading a log
//
// Checkpoint, Tile, EntryBundle and their raw forms (FetchTile,
// FetchEntryBundle, and ReadTile and friends in the shape of Tessera's
// fetchers) read any C2SP tlog-tiles log under the client's tiles URL (by
// default the server's /api/v2; WithTilesURL for another log, such as
// Mosaic's certificate log). Each resource has a size limit; a missing
// partial tile or bundle falls back to the full one. Ordered and Progress
// serve readers that walk a whole log, as a monitor or auditor does.
//
// The client does not verify what it reads: checkpoint signatures
// (note.VerifyCheckpoint), proofs and certificates are verified by the
// caller (see pkg/verify), except where a method says it checks something.
package client

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for a Client's options.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultMaxAttempts = 4
	DefaultUserAgent   = "mosaic-go-client"
	DefaultMinBackoff  = 250 * time.Millisecond
	DefaultMaxBackoff  = 10 * time.Second
	DefaultMaxWait     = time.Minute
)

// maxResponseBytes bounds a successful response body: entry bundles of
// 256 large entries fit comfortably.
const maxResponseBytes = 32 << 20

// ErrBadResponse is wrapped by the errors of responses that do not parse as
// the route's documented shape.
var ErrBadResponse = errors.New("malformed response")

// Client talks to one Mosaic (or Rekor v2, Fulcio, TSA) server. It is safe
// for concurrent use; its configuration does not change after New.
type Client struct {
	base        string // scheme://host[/path], no trailing slash
	http        *http.Client
	timeout     time.Duration // per attempt
	maxAttempts int
	userAgent   string
	logger      *slog.Logger
	minBackoff  time.Duration
	maxBackoff  time.Duration
	maxWait     time.Duration // the longest Retry-After honoured

	tiles        string           // the tlog-tiles prefix, no trailing slash
	logID        []byte           // for entries rebuilt from tiles
	logKey       crypto.PublicKey // verifies checkpoints read for duplicates
	timestampURL string           // the RFC 3161 endpoint
}

// Option configures a Client.
type Option func(*Client) error

// WithHTTPClient sets the HTTP client (default: a new http.Client with no
// overall timeout; each attempt is bounded by WithTimeout).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("WithHTTPClient: nil http.Client")
		}
		c.http = hc
		return nil
	}
}

// WithTimeout bounds each attempt of a request (default DefaultTimeout).
// A log write waits for a checkpoint, so keep it above the log's add timeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("WithTimeout(%s): want a positive duration", d)
		}
		c.timeout = d
		return nil
	}
}

// WithMaxAttempts bounds how many times a request is sent, the first time
// included (default DefaultMaxAttempts; 1 disables retries).
func WithMaxAttempts(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("WithMaxAttempts(%d): want at least 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if ua == "" || strings.ContainsAny(ua, "\r\n") {
			return fmt.Errorf("WithUserAgent(%q): want a non-empty single line", ua)
		}
		c.userAgent = ua
		return nil
	}
}

// WithLogger sets the logger for retries and refusals (default: discard).
// Tokens, keys and request bodies are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithBackoff sets the first retry delay and the largest one (defaults
// DefaultMinBackoff and DefaultMaxBackoff). Each delay doubles and is
// jittered down by up to half.
func WithBackoff(min, max time.Duration) Option {
	return func(c *Client) error {
		if min <= 0 || max < min {
			return fmt.Errorf("WithBackoff(%s, %s): want 0 < min <= max", min, max)
		}
		c.minBackoff, c.maxBackoff = min, max
		return nil
	}
}

// WithMaxWait sets the longest Retry-After the client waits out (default
// DefaultMaxWait); a longer one ends the retries with the server's *Error.
func WithMaxWait(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("WithMaxWait(%s): want a duration >= 0", d)
		}
		c.maxWait = d
		return nil
	}
}

// WithLogID sets the log ID (logId.keyId) put into entries the client
// rebuilds from tiles for a duplicate submission.
func WithLogID(id []byte) Option {
	return func(c *Client) error {
		if len(id) != 32 {
			return fmt.Errorf("WithLogID: %d bytes, want 32", len(id))
		}
		c.logID = append([]byte(nil), id...)
		return nil
	}
}

// WithLogPublicKey sets the log's checkpoint key. Checkpoints read to
// rebuild an entry for a duplicate submission are then verified with it,
// and the log ID is derived from it and the checkpoint's origin (unless
// WithLogID is given).
func WithLogPublicKey(pub crypto.PublicKey) Option {
	return func(c *Client) error {
		if pub == nil {
			return errors.New("WithLogPublicKey: nil key")
		}
		c.logKey = pub
		return nil
	}
}

// WithTimestampURL sets the full URL of the RFC 3161 endpoint, as
// signing_config.json names it (default: base URL + "/api/v1/timestamp").
// The certificate chain is read from this URL + "/certchain".
func WithTimestampURL(u string) Option {
	return urlOption("WithTimestampURL", u, func(c *Client) *string { return &c.timestampURL })
}

// WithTilesURL sets the tlog-tiles prefix the checkpoint, tiles and entry
// bundles are read from (default TilesURL(baseURL)); CertLogTilesURL names
// a Mosaic server's certificate log.
func WithTilesURL(u string) Option {
	return urlOption("WithTilesURL", u, func(c *Client) *string { return &c.tiles })
}

// urlOption is the option name setting the URL field of a client to u,
// checked and without trailing slashes.
func urlOption(name, u string, field func(*Client) *string) Option {
	return func(c *Client) error {
		clean, err := cleanURL(u)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*field(c) = clean
		return nil
	}
}

// New returns a client for the server at baseURL (e.g.
// "https://mosaic.example.com"; the tlog-tiles prefix is baseURL+"/api/v2"
// unless WithTilesURL says otherwise).
func New(baseURL string, opts ...Option) (*Client, error) {
	base, err := cleanURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base: base, http: &http.Client{}, timeout: DefaultTimeout, maxAttempts: DefaultMaxAttempts,
		userAgent: DefaultUserAgent, logger: slog.New(slog.DiscardHandler),
		minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff, maxWait: DefaultMaxWait,
		timestampURL: base + "/api/v1/timestamp", tiles: TilesURL(base),
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BaseURL returns the server's base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// cleanURL checks that raw is an absolute http(s) URL without query or
// fragment and drops its trailing slashes.
func cleanURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("base URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q: want an http or https URL", raw)
	case u.Host == "":
		return "", fmt.Errorf("base URL %q has no host", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("base URL %q: want no query, fragment or credentials", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
