package tlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// outcome is what one add-checkpoint request to a witness came to, as
// mosaic_witness_requests_total labels it.
type outcome string

const (
	// outcomeCosigned: 200, the witness cosigned the checkpoint.
	outcomeCosigned outcome = "cosigned"
	// outcomeBehind: 409 with the witness's own, smaller size (it missed
	// checkpoints, e.g. while it was down): Tessera asks again with a
	// consistency proof from that size, as C2SP tlog-witness says.
	outcomeBehind outcome = "behind"
	// outcomeAhead: 409 with a size larger than the checkpoint's: the
	// witness cosigned a larger tree under this origin.
	outcomeAhead outcome = "ahead"
	// outcomeInconsistent: 422 (the consistency proof from the witness's
	// size does not verify against what it cosigned) or 409 without a size
	// (same size, another root).
	outcomeInconsistent outcome = "inconsistent"
	// outcomeRefused: another 4xx: the witness does not know this log
	// (404, or 403 with litewitness) or its key, or the request is bad.
	outcomeRefused outcome = "refused"
	// outcomeError: any other answer (5xx, 3xx).
	outcomeError outcome = "error"
	// outcomeUnreachable: no answer (connection refused, reset, DNS).
	outcomeUnreachable outcome = "unreachable"
	// outcomeTimeout: no answer within the witness timeout.
	outcomeTimeout outcome = "timeout"
	// outcomeAbandoned: the request was cancelled because the quorum was
	// reached without it (or the log is shutting down).
	outcomeAbandoned outcome = "abandoned"
)

// failure says whether the outcome counts against the witness's health.
func (o outcome) failure() bool {
	switch o {
	case outcomeCosigned, outcomeBehind, outcomeAbandoned:
		return false
	}
	return true
}

// maxWitnessReply bounds the part of a 409 reply read to learn the
// witness's size (a decimal number and a newline).
const maxWitnessReply = 1 << 10

// witnessTransport measures the requests Tessera's witness gateway makes
// through the log's HTTP client and passes them on unchanged.
type witnessTransport struct {
	w    *Witnesses
	base http.RoundTripper
}

func (t *witnessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := t.w.byURL[req.URL.String()]
	if st == nil {
		return t.base.RoundTrip(req) // not a witness of the policy (a redirect)
	}
	size := requestSize(req)
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	elapsed := time.Since(start)
	if err != nil {
		t.w.record(st, transportOutcome(req.Context(), err), elapsed, size, err.Error())
		return nil, err
	}
	o, detail := responseOutcome(resp, size)
	t.w.record(st, o, elapsed, size, detail)
	return resp, nil
}

// transportOutcome classifies a request that got no answer.
func transportOutcome(ctx context.Context, err error) outcome {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return outcomeAbandoned
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	}
	return outcomeUnreachable
}

// responseOutcome classifies an answer; a 409's body is read (and put
// back) to tell a witness that is behind from one that is ahead.
func responseOutcome(resp *http.Response, size uint64) (outcome, string) {
	code := resp.StatusCode
	detail := resp.Status
	switch {
	case code == http.StatusOK:
		return outcomeCosigned, detail
	case code == http.StatusConflict:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxWitnessReply))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		if resp.Header.Get("Content-Type") != "text/x.tlog.size" {
			return outcomeInconsistent, detail + ": same size, another root"
		}
		theirs, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
		switch {
		case err != nil:
			return outcomeError, detail + ": unreadable size " + strconv.Quote(string(body))
		case theirs > size:
			return outcomeAhead, detail + ": the witness cosigned size " + strconv.FormatUint(theirs, 10)
		}
		return outcomeBehind, detail + ": the witness is at size " + strconv.FormatUint(theirs, 10)
	case code == http.StatusUnprocessableEntity:
		return outcomeInconsistent, detail + ": the consistency proof does not verify against what the witness cosigned"
	case code >= 400 && code < 500:
		return outcomeRefused, detail
	}
	return outcomeError, detail
}

// requestSize is the size of the checkpoint an add-checkpoint request
// carries (after "old N", the proof and a blank line), or 0.
func requestSize(req *http.Request) uint64 {
	if req.GetBody == nil {
		return 0
	}
	body, err := req.GetBody()
	if err != nil {
		return 0
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	if err != nil {
		return 0
	}
	_, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return 0
	}
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 3 {
		return 0
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
