package api

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// ErrorBody is the JSON body of every refusal.
type ErrorBody struct {
	// Code is the gRPC status code matching the HTTP status, as Rekor v2
	// returns it.
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// grpcCode maps an HTTP status to the gRPC code grpc-gateway would have
// produced it from, so clients written for Rekor v2 see the same codes.
func grpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return 3 // InvalidArgument
	case http.StatusUnauthorized:
		return 16 // Unauthenticated
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

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	body := ErrorBody{Code: grpcCode(status), Message: fmt.Sprintf(format, args...), Details: []any{}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages quote paths like tile/<L>/<N>; keep them readable
	_ = enc.Encode(body)
}
