package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/index"
)

// maxSearchBytes bounds a search request's body: criteria of a few KiB
// (a SAN or issuer is at most 4 KiB) and a page token.
const maxSearchBytes = 16 << 10

// searchTimeout bounds a search: the index lookup and reading the page's
// entries back from the log.
const searchTimeout = 10 * time.Second

// searchFields are the request's fields, spelled exactly.
var searchFields = []string{"digest", "publicKeyFingerprint", "san", "oidcIssuer", "pageSize", "pageToken"}

// searchResponse is the body of a successful POST /api/v2/log/search.
type searchResponse struct {
	// Results are ascending by logIndex; never null.
	Results []searchResult `json:"results"`
	// NextPageToken continues the search; absent on the last page.
	NextPageToken string `json:"nextPageToken,omitempty"`
	// Index says how much of the log the search covered.
	Index searchIndexStatus `json:"index"`
}

type searchResult struct {
	LogIndex          uint64 `json:"logIndex"`
	Kind              string `json:"kind"`
	APIVersion        string `json:"apiVersion"`
	CanonicalizedBody []byte `json:"canonicalizedBody"`
}

type searchIndexStatus struct {
	IndexedSize uint64 `json:"indexedSize"`
	LogSize     uint64 `json:"logSize"`
	Lag         uint64 `json:"lag"`
}

// search serves POST /api/v2/log/search: entries by artifact digest,
// public-key fingerprint and certificate identity, from the search index.
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Index == nil {
		writeError(w, http.StatusServiceUnavailable, "this server runs no search index (mosaicd serve --search-index=false)")
		return
	}
	body, ok := readLimited(w, r, "search request body", maxSearchBytes, "a fixed limit")
	if !ok {
		return
	}
	q, err := parseSearchRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), searchTimeout)
	defer cancel()
	res, err := s.cfg.Index.Search(ctx, q)
	if err != nil {
		s.searchError(w, r, err)
		return
	}
	out := searchResponse{
		Results:       make([]searchResult, len(res.Hits)),
		NextPageToken: res.NextPageToken,
		Index:         searchIndexStatus{IndexedSize: res.Status.IndexedSize, LogSize: res.Status.LogSize, Lag: res.Status.Lag},
	}
	for i, h := range res.Hits {
		out.Results[i] = searchResult{LogIndex: h.Index, Kind: h.Kind, APIVersion: h.APIVersion, CanonicalizedBody: h.Body}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) searchError(w http.ResponseWriter, r *http.Request, err error) {
	var qe *index.QueryError
	switch {
	case errors.As(err, &qe):
		writeError(w, http.StatusBadRequest, "%s", qe.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads this.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "the search took longer than %s; narrow it or use a smaller pageSize", searchTimeout)
	default:
		s.cfg.Logger.Error("searching the index", "err", err)
		writeError(w, http.StatusInternalServerError, "searching the index failed")
	}
}

// parseSearchRequest decodes a search request: a JSON object with only the
// fields of searchFields, spelled exactly, each a string (pageSize an
// integer) or null for absent. It checks types only; index.Search checks
// values.
func parseSearchRequest(body []byte) (index.Query, error) {
	var q index.Query
	if len(strings.TrimSpace(string(body))) == 0 {
		return q, errors.New("request body is empty; want a JSON object with at least one of digest, " +
			"publicKeyFingerprint, san, oidcIssuer")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return q, fmt.Errorf("request body is not a JSON object: %s", clipMsg(err.Error()))
	}
	strs := map[string]*string{"digest": &q.Digest, "publicKeyFingerprint": &q.PublicKeyFingerprint,
		"san": &q.SAN, "oidcIssuer": &q.OIDCIssuer, "pageToken": &q.PageToken}
	for name, raw := range fields {
		if name == "pageSize" {
			if err := json.Unmarshal(raw, &q.PageSize); err != nil {
				return q, fmt.Errorf("pageSize must be an integer from 1 to %d", index.MaxPageSize)
			}
			continue
		}
		dst, ok := strs[name]
		if !ok {
			return q, fmt.Errorf("unknown field %s; the fields are %s", clipMsg(fmt.Sprintf("%q", name)), strings.Join(searchFields, ", "))
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return q, fmt.Errorf("%s must be a string", name)
		}
	}
	return q, nil
}

// clipMsg shortens a message that may quote the request.
func clipMsg(s string) string {
	const n = 120
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
