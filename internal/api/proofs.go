package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/client"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/proto"
)

// Cache lifetimes of the read routes. Anything that names the latest
// checkpoint changes as the log grows, so it is cached as briefly as the
// checkpoint itself; an entry or a proof of a fixed, older tree size only
// gets a newer checkpoint in a later answer, so a short cache is harmless.
const (
	cacheLatest = "public, max-age=1"
	cacheBrief  = "public, max-age=10"
)

// getEntry serves GET /api/v2/log/entries/{index}: the entry as a
// TransparencyLogEntry, proven against the latest checkpoint.
func (s *server) getEntry(w http.ResponseWriter, r *http.Request) {
	raw := chi.URLParam(r, "index")
	index, err := parseUint("index", raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	leaf, p, err := s.cfg.Log.Entry(r.Context(), index)
	if err != nil {
		s.proofError(w, r, "entry "+raw, http.StatusNotFound, err)
		return
	}
	tle := &rekorpb.TransparencyLogEntry{
		LogIndex:          int64(index),
		LogId:             &v1.LogId{KeyId: s.cfg.Log.LogID()},
		KindVersion:       s.kindVersion(index, leaf),
		InclusionProof:    inclusionProofPB(p),
		CanonicalizedBody: leaf,
	}
	s.writeProto(w, tle, cacheBrief)
}

// kindVersion reads an entry's kind and version from its leaf. A leaf this
// server did not write leaves them unset (logged): the entry and its proof
// are still served.
func (s *server) kindVersion(index uint64, leaf []byte) *rekorpb.KindVersion {
	f, err := entry.Describe(leaf)
	if err != nil {
		s.cfg.Logger.Warn("logged entry has no known kind", "index", index, "err", err)
		return nil
	}
	return &rekorpb.KindVersion{Kind: f.Kind, Version: f.Version}
}

// inclusionProof serves GET /api/v2/log/proof/inclusion?index=I[&treeSize=S].
func (s *server) inclusionProof(w http.ResponseWriter, r *http.Request) {
	q, err := parseInclusionQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	p, err := s.cfg.Log.InclusionProof(r.Context(), q.index, q.size) // size 0: the latest
	if err != nil {
		s.proofError(w, r, "inclusion proof", http.StatusBadRequest, err)
		return
	}
	cache := cacheLatest
	if p.Checkpoint == nil {
		cache = cacheBrief
	}
	s.writeProto(w, inclusionProofPB(p), cache)
}

func inclusionProofPB(p *tlog.InclusionProof) *rekorpb.InclusionProof {
	pb := &rekorpb.InclusionProof{
		LogIndex: int64(p.Index),
		RootHash: p.Root,
		TreeSize: int64(p.Size),
		Hashes:   p.Hashes,
	}
	if p.Checkpoint != nil {
		pb.Checkpoint = &rekorpb.Checkpoint{Envelope: string(p.Checkpoint)}
	}
	return pb
}

// consistencyProof serves GET /api/v2/log/proof/consistency?first=F&second=S
// (client.ConsistencyProof).
func (s *server) consistencyProof(w http.ResponseWriter, r *http.Request) {
	q, err := parseConsistencyQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	p, err := s.cfg.Log.ConsistencyProof(r.Context(), q.first, q.second)
	if err != nil {
		s.proofError(w, r, "consistency proof", http.StatusBadRequest, err)
		return
	}
	cache := cacheBrief
	if p.Second == p.LatestSize {
		cache = cacheLatest
	}
	writeCachedJSON(w, cache, client.ConsistencyProof{
		FirstSize: p.First, SecondSize: p.Second,
		FirstRootHash: p.FirstRoot, SecondRootHash: p.SecondRoot,
		Hashes: p.Hashes, Checkpoint: string(p.Checkpoint),
	})
}

// proofError maps an error of the log's read methods to a response: a
// request outside the published tree is the client's mistake (rangeStatus:
// 404 for an entry, 400 for a proof), an integrity failure is the server's
// (500).
func (s *server) proofError(w http.ResponseWriter, r *http.Request, what string, rangeStatus int, err error) {
	var rng *tlog.RangeError
	switch {
	case errors.As(err, &rng):
		writeError(w, rangeStatus, "%v", rng)
	case errors.Is(err, tlog.ErrIntegrity):
		s.cfg.Logger.Error("serving "+what, "err", err)
		writeError(w, http.StatusInternalServerError, "%s: the log's stored data does not verify; this is reported", what)
	case r.Context().Err() != nil:
		clientGone(w)
	default:
		s.readError(w, r, what, err)
	}
}

// writeProto writes m as protobuf-JSON, as the write route does.
func (s *server) writeProto(w http.ResponseWriter, m proto.Message, cache string) {
	var out []byte
	var err error
	if tle, ok := m.(*rekorpb.TransparencyLogEntry); ok {
		out, err = marshalLogEntry(tle)
	} else {
		out, err = responseJSON.Marshal(m)
	}
	if err != nil {
		s.cfg.Logger.Error("encoding response", "err", err)
		writeError(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cache)
	_, _ = w.Write(out)
}

// inclusionQuery is a parsed ?index=I[&treeSize=S]; size 0 means the
// parameter was absent (an explicit treeSize must be at least 1).
type inclusionQuery struct {
	index, size uint64
}

// consistencyQuery is a parsed ?first=F&second=S with 0 < F <= S.
type consistencyQuery struct {
	first, second uint64
}

func parseInclusionQuery(raw string) (inclusionQuery, error) {
	v, err := parseQuery(raw, []string{"index"}, []string{"treeSize"})
	if err != nil {
		return inclusionQuery{}, err
	}
	q := inclusionQuery{index: v["index"], size: v["treeSize"]}
	if _, ok := v["treeSize"]; ok && q.index >= q.size {
		return inclusionQuery{}, fmt.Errorf("index %d is not below treeSize %d", q.index, q.size)
	}
	return q, nil
}

func parseConsistencyQuery(raw string) (consistencyQuery, error) {
	v, err := parseQuery(raw, []string{"first", "second"}, nil)
	if err != nil {
		return consistencyQuery{}, err
	}
	q := consistencyQuery{first: v["first"], second: v["second"]}
	switch {
	case q.first == 0:
		return consistencyQuery{}, errors.New("first is 0; consistency is proven from a non-empty tree (first must be at least 1)")
	case q.first > q.second:
		return consistencyQuery{}, fmt.Errorf("first %d and second %d are reversed: first must not be larger than second", q.first, q.second)
	}
	return q, nil
}

// parseQuery parses a raw query holding each of required exactly once, each
// of optional at most once, and nothing else, every value a canonical
// decimal (parseUint).
func parseQuery(raw string, required, optional []string) (map[string]uint64, error) {
	want := slices.Concat(required, optional)
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("malformed query %s: %v", quote(raw), err)
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !slices.Contains(want, k) {
			return nil, fmt.Errorf("unknown query parameter %s; the parameters are %s", quote(k), strings.Join(want, ", "))
		}
	}
	out := map[string]uint64{}
	for _, k := range want {
		vs, ok := vals[k]
		switch {
		case !ok && slices.Contains(required, k):
			return nil, fmt.Errorf("query parameter %s is missing", k)
		case !ok:
			continue
		case len(vs) > 1:
			return nil, fmt.Errorf("query parameter %s is given %d times (%s); give it once", k, len(vs), quoteAll(vs))
		}
		n, err := parseUint(k, vs[0])
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

// parseUint parses the value of parameter name: a decimal integer from 0 to
// 2^63-1 (the range of an int64 log index) without sign or leading zeros,
// so that each value has one spelling and caches stay coherent.
func parseUint(name, s string) (uint64, error) {
	switch {
	case s == "":
		return 0, fmt.Errorf("%s is empty; want a decimal integer", name)
	case s[0] == '-' && len(s) > 1 && strings.Trim(s[1:], "0123456789") == "":
		return 0, fmt.Errorf("%s %s is negative; want a decimal integer from 0", name, quote(s))
	case strings.Trim(s, "0123456789") != "":
		return 0, fmt.Errorf("%s %s is not a decimal integer", name, quote(s))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("%s %s is out of range (at most %d)", name, quote(s), int64(math.MaxInt64))
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%s %s has a leading zero; write it as %d", name, quote(s), n)
	}
	return n, nil
}

// quoteAll quotes the first few of vs, comma-separated.
func quoteAll(vs []string) string {
	const maxListed = 3
	out := make([]string, 0, maxListed+1)
	for _, v := range vs[:min(len(vs), maxListed)] {
		out = append(out, quote(v))
	}
	if len(vs) > maxListed {
		out = append(out, "...")
	}
	return strings.Join(out, ", ")
}

// quote quotes a client-sent string for an error message, cut short so that
// a huge query does not make a huge answer.
func quote(s string) string {
	const maxQuoted = 64
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

// writeCachedJSON writes v as JSON with the given Cache-Control.
func writeCachedJSON(w http.ResponseWriter, cache string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cache)
	_, _ = w.Write(buf.Bytes())
}
