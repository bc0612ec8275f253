package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// request is one logical call; do sends it as many times as allowed.
type request struct {
	method string
	// url is absolute, or a path starting with "/" relative to the base.
	url         string
	body        []byte // resent as is on every attempt
	contentType string
	accept      string
	bearer      string // Authorization: Bearer, never logged
	// idempotent requests are also retried after connection failures,
	// 502s and 504s; every request is retried after 429 and 503.
	idempotent bool
	// limit bounds the response body (default maxResponseBytes).
	limit int64
}

// response is a successful (2xx) answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends req until it succeeds, a refusal is final, the attempts run out
// or ctx ends. Non-2xx answers are returned as *Error.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	if !strings.HasPrefix(req.url, "http://") && !strings.HasPrefix(req.url, "https://") {
		req.url = c.base + req.url
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, req)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", req.method, req.url, errors.Join(ctx.Err(), err))
		}
		wait, ok := c.retryWait(req, err, attempt)
		if !ok {
			return nil, err
		}
		if attempt >= c.maxAttempts {
			if attempt > 1 {
				err = &attemptsError{err: err, attempts: attempt}
			}
			return nil, err
		}
		c.logger.InfoContext(ctx, "retrying request", "method", req.method, "url", req.url,
			"attempt", attempt, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: waiting to retry: %w", req.method, req.url, err)
		}
	}
}

// once sends req one time, within the per-attempt timeout.
func (c *Client) once(ctx context.Context, req request) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return nil, fmt.Errorf("building request %s %s: %w", req.method, req.url, err)
	}
	hr.Header.Set("User-Agent", c.userAgent)
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if req.accept != "" {
		hr.Header.Set("Accept", req.accept)
	}
	if req.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+req.bearer)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, &connError{method: req.method, url: req.url, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes+1))
		return nil, decodeError(req.method, req.url, resp.StatusCode, resp.Header, data)
	}
	limit := req.limit
	if limit <= 0 {
		limit = maxResponseBytes
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &connError{method: req.method, url: req.url, err: fmt.Errorf("reading the response: %w", err)}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: %w: the body exceeds %d bytes, the most this resource can hold", req.method, req.url, ErrBadResponse, limit)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// connError is a request that got no complete answer: the connection
// failed, or the attempt timed out.
type connError struct {
	method, url string
	err         error
}

func (e *connError) Error() string { return fmt.Sprintf("%s %s: %v", e.method, e.url, e.err) }
func (e *connError) Unwrap() error { return e.err }

// attemptsError is the last error of a request whose attempts ran out.
type attemptsError struct {
	err      error
	attempts int
}

func (e *attemptsError) Error() string {
	return fmt.Sprintf("%v (after %d attempts)", e.err, e.attempts)
}
func (e *attemptsError) Unwrap() error { return e.err }

// retryWait says whether err is worth another attempt and how long to wait
// before it.
func (c *Client) retryWait(req request, err error, attempt int) (time.Duration, bool) {
	var ce *connError
	if errors.As(err, &ce) {
		return c.backoff(attempt), req.idempotent
	}
	var he *Error
	if !errors.As(err, &he) {
		return 0, false
	}
	switch he.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		if !req.idempotent {
			return 0, false
		}
	default:
		return 0, false
	}
	if he.RetryAfter > 0 {
		return he.RetryAfter, he.RetryAfter <= c.maxWait
	}
	return c.backoff(attempt), true
}

// backoff is the delay before attempt+1: exponential from minBackoff,
// capped at maxBackoff, jittered down by up to half.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns 0 when the header is absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return t.Sub(now)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
