package api

import (
	"net/http"

	"github.com/mosaiclog/mosaic/internal/httperr"
)

// ErrorBody is the JSON body of every refusal.
type ErrorBody = httperr.Body

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	httperr.Write(w, status, format, args...)
}

// clientGone answers a request whose client went away (its context ended)
// before the answer was ready. Nobody reads it: the status is for the
// metrics, where it must not count as a server failure.
func clientGone(w http.ResponseWriter) {
	writeError(w, httperr.StatusClientClosed, "request cancelled by the client")
}
