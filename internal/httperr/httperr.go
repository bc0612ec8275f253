// Package httperr writes Mosaic's refusals: a JSON body
// {"code": <gRPC code>, "message": "...", "details": []}, the shape Rekor v2's
// gateway returns, for every HTTP service mosaicd hosts (log, CA, TSA).
package httperr

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Body is the JSON body of every refusal.
type Body struct {
	// Code is the gRPC status code matching the HTTP status, as Rekor v2
	// returns it.
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

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
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return 8 // ResourceExhausted
	case http.StatusServiceUnavailable:
		return 14 // Unavailable
	case http.StatusGatewayTimeout:
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
