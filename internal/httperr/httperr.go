// Package httperr writes Mosaic's refusals: a JSON body
// {"code": <gRPC code>, "message": "...", "details": []}, the shape Rekor v2's
// gateway returns, for every HTTP service mosaicd hosts (log, CA, TSA).
package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

// Body is the JSON body of every refusal.
type Body struct {
	// Code is the gRPC status code matching the HTTP status, as Rekor v2
	// returns it.
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// StatusClientClosed is the status recorded for a request whose client
// went away before its answer (nginx's 499): no client reads it, and it
// keeps such requests out of the 5xx counts.
const StatusClientClosed = 499

// GRPCCode maps an HTTP status to the gRPC code grpc-gateway would have
// produced it from, so clients written for Rekor v2 see the same codes.
func GRPCCode(status int) int {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return 3 // InvalidArgument
	case http.StatusUnauthorized:
		return 16 // Unauthenticated
	case http.StatusForbidden:
		return 7 // PermissionDenied
	case http.StatusNotFound:
		return 5 // NotFound
	case http.StatusMethodNotAllowed:
		return 12 // Unimplemented
	case http.StatusConflict:
		return 6 // AlreadyExists
	case http.StatusGone:
		return 9 // FailedPrecondition: the log is frozen
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusInsufficientStorage:
		return 8 // ResourceExhausted
	case http.StatusServiceUnavailable:
		return 14 // Unavailable
	case StatusClientClosed:
		return 1 // Canceled
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return 4 // DeadlineExceeded
	default:
		return 13 // Internal
	}
}

// Write sends status with a JSON body whose message is format applied to
// args. The message must say what was wrong; for a limit, which limit, its
// value and what was sent.
func Write(w http.ResponseWriter, status int, format string, args ...any) {
	body := Body{Code: GRPCCode(status), Message: fmt.Sprintf(format, args...), Details: []any{}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages quote paths like tile/<L>/<N>; keep them readable
	_ = enc.Encode(body)
}

// ErrSlowBody is returned by ReadBody when the body did not arrive before
// the connection's read deadline.
var ErrSlowBody = errors.New("request body did not arrive in time")

// ReadBody reads r's body, at most max bytes, and answers the refusal
// itself when it fails: 413 naming what was read, the limit as an operator
// sets it and what was sent; 408 when the body did not arrive before the
// read deadline (the error is then ErrSlowBody and the connection is
// closed); 400 when reading failed otherwise.
func ReadBody(w http.ResponseWriter, r *http.Request, what string, max int64, limit string) ([]byte, error) {
	if r.ContentLength > max {
		Write(w, http.StatusRequestEntityTooLarge, "%s of %d bytes exceeds the limit of %d bytes (%s)", what, r.ContentLength, max, limit)
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		Write(w, http.StatusRequestEntityTooLarge, "%s exceeds the limit of %d bytes (%s); more than %d bytes were sent", what, max, limit, max)
		return nil, errTooLarge
	case IsSlowBody(err):
		w.Header().Set("Connection", "close")
		Write(w, http.StatusRequestTimeout, "%s did not arrive in time: %d of %s bytes were received before the body deadline (body-timeout)",
			what, len(body), contentLength(r))
		return nil, ErrSlowBody
	case err != nil:
		Write(w, http.StatusBadRequest, "reading %s: %v", what, err)
		return nil, err
	}
	return body, nil
}

var errTooLarge = errors.New("request body too large")

// IsSlowBody reports whether err is a read that hit the connection's read
// deadline, for handlers that read bodies themselves.
func IsSlowBody(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrSlowBody)
}

func contentLength(r *http.Request) string {
	if r.ContentLength < 0 {
		return "an unknown number of"
	}
	return strconv.FormatInt(r.ContentLength, 10)
}
