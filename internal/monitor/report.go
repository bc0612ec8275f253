package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MatchEvent is the "match" JSON line (and webhook body) for one rule an
// entry matched.
type MatchEvent struct {
	Type     string `json:"type"` // "match"
	Log      string `json:"log"`  // "log" or "certlog"
	LogIndex uint64 `json:"logIndex"`
	Rule     string `json:"rule"`
	SAN      string `json:"san,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// Digest is the artifact digest (main log only).
	Digest string `json:"digest,omitempty"`
	// Fingerprint is sha256 of the signing key's SPKI DER;
	// CertFingerprint of the certificate (or precertificate) DER.
	Fingerprint     string `json:"fingerprint,omitempty"`
	CertFingerprint string `json:"certFingerprint,omitempty"`
}

// AlarmEvent is the "alarm" JSON line (and webhook body).
type AlarmEvent struct {
	Type    string `json:"type"` // "alarm"
	Log     string `json:"log"`
	Origin  string `json:"origin"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// OldSize is the last verified checkpoint's size, NewSize the
	// offending one's (both the offending one's for an entries or witnesses
	// alarm; for a split view, the smaller and the larger checkpoint's).
	OldSize  uint64 `json:"oldSize"`
	NewSize  uint64 `json:"newSize"`
	Evidence string `json:"evidence,omitempty"`
}

// WebhookError is a match the webhook did not accept after every attempt.
// The state stops before the entry, so the next run reports it again.
type WebhookError struct {
	Log      string
	LogIndex uint64
	Err      error
}

// Error names the undelivered match.
func (e *WebhookError) Error() string {
	return fmt.Sprintf("webhook did not accept the match at %s index %d (it will be reported again): %v", e.Log, e.LogIndex, e.Err)
}

// Unwrap returns the last delivery error.
func (e *WebhookError) Unwrap() error { return e.Err }

// reporter writes events to the output and the webhook.
type reporter struct {
	out      io.Writer
	progress io.Writer
	webhook  string
	attempts int
	backoff  time.Duration
	client   *http.Client
}

// line writes one JSON line to the output.
func (r *reporter) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := r.out.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// post delivers v to the webhook (if any), retrying with backoff. Any 2xx
// status is success.
func (r *reporter) post(ctx context.Context, v any) error {
	if r.webhook == "" {
		return nil
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wait := r.backoff
	for attempt := 1; ; attempt++ {
		err = r.postOnce(ctx, body)
		if err == nil || attempt >= r.attempts || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(r.progress, "webhook attempt %d of %d failed: %v\n", attempt, r.attempts, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (r *reporter) postOnce(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d", r.webhook, resp.StatusCode)
	}
	return nil
}
