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
