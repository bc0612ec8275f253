package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxRetryWait caps the wait a Retry-After header can impose.
const maxRetryWait = 30 * time.Second

// newHTTPClient keeps one idle connection per client, so a steady load
// reuses connections instead of measuring TCP set-up.
func newHTTPClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency
	tr.MaxIdleConnsPerHost = concurrency
	return &http.Client{
		Transport: tr,
		// A redirect could lead off loopback; Mosaic never redirects writes.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// preflight fails fast, with a hint, when nothing answers at one of the
// URLs.
func (r *runner) preflight(ctx context.Context) error {
	for _, u := range r.cfg.targets() {
		if err := r.healthy(ctx, u.JoinPath("/healthz").String()); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) healthy(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("the log does not answer at %s (is `mosaicd serve` running there?): %w", u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d; is this a Mosaic log?", u, resp.StatusCode)
	}
	return nil
}

// post sends one attempt to endpoint. retryAfter is the wait a 503 asked
// for, or -1.
func (r *runner) post(ctx context.Context, endpoint string, body []byte) (status int, resp []byte, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return 0, nil, -1, err
	}
	defer res.Body.Close()
	resp, err = io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return 0, nil, -1, fmt.Errorf("reading response: %w", err)
	}
	retryAfter = -1
	if res.StatusCode == http.StatusServiceUnavailable {
		retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	return res.StatusCode, resp, retryAfter, nil
}

// parseRetryAfter reads a Retry-After value (seconds or an HTTP date),
// capped at maxRetryWait; -1 when absent or malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return -1
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return -1
		}
		return min(time.Duration(s)*time.Second, maxRetryWait)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryWait)
	}
	return -1
}

// errorMessage extracts the message of a Mosaic error body, or a prefix of
// whatever else the body is.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(bytes.TrimSpace(body))
}
