package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/jsonobject"
	"github.com/mosaiclog/mosaic/pkg/client"
)

// maxSearchBytes bounds a search request's body: criteria of a few KiB
// (a SAN or issuer is at most 4 KiB) and a page token.
const maxSearchBytes = 16 << 10

// searchTimeout bounds a search: the index lookup and reading the page's
// entries back from the log.
const searchTimeout = 10 * time.Second

// Default search bounds (see Config.SearchPageBytes and
// Config.SearchConcurrency).
const (
	DefaultSearchPageBytes   = 1 << 20
	DefaultSearchConcurrency = 32
)

// searchRetryAfter is the Retry-After, in seconds, of a search refused
// because SearchConcurrency searches are running.
const searchRetryAfter = 1

// searchFields are the request's fields, spelled exactly.
var searchFields = []string{"digest", "publicKeyFingerprint", "san", "oidcIssuer", "pageSize", "pageToken"}

// search serves POST /api/v2/log/search: entries by artifact digest,
// public-key fingerprint and certificate identity, from the search index.
//
// Its memory is bounded whatever the client asks or however slowly it
// reads: a page holds at most Config.SearchPageBytes of results (the
// index reads no entry beyond them), the reply is encoded into the
// connection as it is written rather than built whole, and at most
// Config.SearchConcurrency searches run at once; beyond that the answer
// is 503 at once.
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Index == nil {
		writeError(w, http.StatusServiceUnavailable, "this server runs no search index (mosaicd serve --search-index=false)")
		return
	}
	body, ok := s.readLimited(w, r, "search request body", maxSearchBytes, "a fixed limit")
	if !ok {
		return
	}
	q, err := parseSearchRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	// The token is held until the reply is written: a client that reads
	// slowly keeps its page in memory that long.
	select {
	case s.searches <- struct{}{}:
		defer func() { <-s.searches }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(searchRetryAfter))
		writeError(w, http.StatusServiceUnavailable, "the server is answering its limit of %d searches at once "+
			"(search-concurrency); retry after %d s", s.cfg.SearchConcurrency, searchRetryAfter)
		return
	}
	// Bodies go out base64-encoded: 3 bytes of body are 4 of reply.
	q.MaxBytes = max(s.cfg.SearchPageBytes/4*3, 1)
	ctx, cancel := context.WithTimeout(r.Context(), searchTimeout)
	defer cancel()
	res, err := s.cfg.Index.Search(ctx, q)
	if err != nil {
		s.searchError(w, r, err)
		return
	}
	if err := writeSearchPage(w, res); err != nil {
		s.cfg.Logger.Debug("writing a search reply", "err", err)
	}
}

// searchWriteBuffer is the buffer between the encoder and the connection.
const searchWriteBuffer = 32 << 10

// writeSearchPage writes res as the body of a successful search (the
// SearchResponse of openapi.yaml, client.SearchResponse):
//
//	{"results": [client.SearchResult...], "nextPageToken": "...", "index": client.SearchIndexStatus}
//
// results are ascending by logIndex, never null, and may be fewer than
// pageSize even when nextPageToken is set (a page also stops at
// Config.SearchPageBytes); nextPageToken is absent on the last page. Each
// result is encoded into the connection in turn: nothing beyond res and one
// encoded result is held, and each result's body is let go once written.
func writeSearchPage(w http.ResponseWriter, res *index.Result) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	jw := newJSONWriter(w)
	jw.raw(`{"results":[`)
	for i := range res.Hits {
		if i > 0 {
			jw.raw(",")
		}
		h := &res.Hits[i]
		jw.value(client.SearchResult{LogIndex: h.Index, Kind: h.Kind, APIVersion: h.APIVersion, CanonicalizedBody: h.Body})
		h.Body = nil
	}
	jw.raw("]")
	if res.NextPageToken != "" {
		jw.raw(`,"nextPageToken":`)
		jw.value(res.NextPageToken)
	}
	jw.raw(`,"index":`)
	jw.value(client.SearchIndexStatus{IndexedSize: res.Status.IndexedSize, LogSize: res.Status.LogSize, Lag: res.Status.Lag})
	jw.raw("}\n")
	return jw.flush()
}

// jsonWriter streams a JSON document made of literal punctuation and
// encoded values; it remembers the first error and then writes nothing.
type jsonWriter struct {
	bw  *bufio.Writer
	buf bytes.Buffer // one encoded value, reused
	enc *json.Encoder
	err error
}

func newJSONWriter(w io.Writer) *jsonWriter {
	jw := &jsonWriter{bw: bufio.NewWriterSize(w, searchWriteBuffer)}
	jw.enc = json.NewEncoder(&jw.buf)
	jw.enc.SetEscapeHTML(false)
	return jw
}

func (jw *jsonWriter) raw(s string) {
	if jw.err == nil {
		_, jw.err = jw.bw.WriteString(s)
	}
}

func (jw *jsonWriter) value(v any) {
	if jw.err != nil {
		return
	}
	jw.buf.Reset()
	if jw.err = jw.enc.Encode(v); jw.err == nil {
		_, jw.err = jw.bw.Write(bytes.TrimSuffix(jw.buf.Bytes(), []byte("\n")))
	}
}

func (jw *jsonWriter) flush() error {
	if jw.err == nil {
		jw.err = jw.bw.Flush()
	}
	return jw.err
}

func (s *server) searchError(w http.ResponseWriter, r *http.Request, err error) {
	var qe *index.QueryError
	switch {
	case errors.As(err, &qe):
		writeError(w, http.StatusBadRequest, "%s", qe.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads this.
		clientGone(w)
	case errors.Is(err, diskspace.ErrFull):
		// The index could not open (mosaicd started on a full disk).
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "the search index is not available while the disk is full; retry later")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "the search took longer than %s; narrow it or use a smaller pageSize", searchTimeout)
	default:
		s.cfg.Logger.Error("searching the index", "err", err)
		writeError(w, http.StatusInternalServerError, "searching the index failed")
	}
}

// parseSearchRequest decodes a search request: one JSON object with only
// the fields of searchFields, spelled exactly, each at most once, each a
// string (pageSize an integer) or null for absent. It checks types only;
// index.Search checks values.
func parseSearchRequest(body []byte) (index.Query, error) {
	var q index.Query
	if len(bytes.TrimSpace(body)) == 0 {
		return q, errors.New("request body is empty; want a JSON object with at least one of digest, " +
			"publicKeyFingerprint, san, oidcIssuer")
	}
	fields, err := jsonobject.Members(body, "request body", nil)
	if err != nil {
		return q, errors.New(clipMsg(err.Error()))
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
