package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/httperr"
	"github.com/mosaiclog/mosaic/internal/tlog"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// responseJSON encodes responses as Rekor v2's gateway does: zero values
// are written out (logIndex "0", integratedTime "0", inclusionPromise null).
var responseJSON = protojson.MarshalOptions{EmitUnpopulated: true}

// retryAfterSeconds is what a pushed-back client is told to wait.
const retryAfterSeconds = 1

// diskFullRetryAfterSeconds is what a client refused for a full disk is
// told to wait: space comes back when an operator frees it, not in a second.
const diskFullRetryAfterSeconds = 30

// DuplicateHeader marks a 201 answered with an entry that was already in
// the log; its value is the entry's index.
const DuplicateHeader = "X-Mosaic-Duplicate"

// Duplicates says how a submission equal to a logged entry is answered.
type Duplicates string

const (
	// DuplicatesExisting answers 201 with the existing entry and its proof,
	// as for a first submission, plus DuplicateHeader: retries succeed.
	DuplicatesExisting Duplicates = "existing"
	// DuplicatesConflict answers 409 naming the existing index, as Rekor v2.
	DuplicatesConflict Duplicates = "conflict"
)

// ParseDuplicates reads a --duplicates value.
func ParseDuplicates(s string) (Duplicates, error) {
	switch d := Duplicates(s); d {
	case DuplicatesExisting, DuplicatesConflict:
		return d, nil
	}
	return "", fmt.Errorf("--duplicates %q: want existing or conflict", s)
}

// createEntry is Rekor v2's CreateEntry: a protobuf-JSON CreateEntryRequest
// in, 201 and a TransparencyLogEntry out once a published checkpoint covers
// the entry. An equal entry already in the log is answered as Duplicates
// says.
func (s *server) createEntry(w http.ResponseWriter, r *http.Request) {
	// A frozen log, or one past capacity: refuse before reading and
	// verifying the request.
	if e := s.cfg.Log.Refusal(); e != nil {
		s.frozen(w, e)
		return
	}
	if err := s.cfg.Log.CheckCapacity(); err != nil {
		s.addError(w, r, err)
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	e, err := s.cfg.Decoder.Decode(body)
	if err != nil {
		s.entryError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.AddTimeout)
	defer cancel()
	added, err := s.cfg.Log.Add(ctx, e.Body, e.Identity)
	if err != nil {
		s.addError(w, r, err)
		return
	}
	s.addSucceeded()
	if added.Duplicate {
		s.cfg.Metrics.duplicates.WithLabelValues(string(s.cfg.Duplicates)).Inc()
		w.Header().Set("X-Log-Index", strconv.FormatUint(added.Index, 10))
		if s.cfg.Duplicates == DuplicatesConflict {
			writeError(w, http.StatusConflict, "an equal entry already exists in the log at index %d", added.Index)
			return
		}
		// A retry gets what its first attempt would have got: the
		// existing entry, proven against a checkpoint that covers it.
		w.Header().Set(DuplicateHeader, strconv.FormatUint(added.Index, 10))
	}
	out, err := marshalLogEntry(s.logEntry(e, added))
	if err != nil {
		s.cfg.Logger.Error("encoding TransparencyLogEntry", "err", err)
		writeError(w, http.StatusInternalServerError, "encoding the response failed; the entry is at index %d", added.Index)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(out)
}

// readBody reads a write request's body within --max-request-bytes. On
// failure it has already written the response.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, ok := s.readLimited(w, r, "request body", s.cfg.MaxRequestBytes, "max-request-bytes")
	if ok && len(body) == 0 {
		writeError(w, http.StatusBadRequest, "request body is empty; want a JSON CreateEntryRequest")
		return nil, false
	}
	return body, ok
}

// readLimited reads r's body within max bytes and the body deadline; on
// failure it has already answered (see httperr.ReadBody).
func (s *server) readLimited(w http.ResponseWriter, r *http.Request, what string, max int64, limit string) ([]byte, bool) {
	body, err := httperr.ReadBody(w, r, what, max, limit)
	if err != nil {
		if errors.Is(err, httperr.ErrSlowBody) {
			s.cfg.Metrics.slowBodies.Inc()
		}
		return nil, false
	}
	return body, true
}

func (s *server) entryError(w http.ResponseWriter, err error) {
	var invalid *entry.InvalidError
	var limit *entry.LimitError
	switch {
	case errors.As(err, &limit):
		writeError(w, http.StatusRequestEntityTooLarge, "%s", limit.Error())
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, "%s", invalid.Msg)
	default:
		s.cfg.Logger.Error("validating entry", "err", err)
		writeError(w, http.StatusInternalServerError, "validating the entry failed")
	}
}

func (s *server) addError(w http.ResponseWriter, r *http.Request, err error) {
	var unpublished *tlog.UnpublishedError
	var inflight *tlog.InflightLimitError
	var full *diskspace.FullError
	var frozen *tlog.FrozenError
	switch {
	case errors.As(err, &frozen):
		s.frozen(w, frozen)
	case errors.As(err, &unpublished) && r.Context().Err() == nil:
		// Stored, but no checkpoint covered it within the add timeout.
		w.Header().Set("X-Log-Index", strconv.FormatUint(unpublished.Index, 10))
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusGatewayTimeout, "the entry is stored at index %d but no checkpoint covering it was "+
			"published within %s; retrying with the same entry is safe", unpublished.Index, s.cfg.AddTimeout)
	case errors.As(err, &inflight):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusServiceUnavailable, "the log is at capacity: %d adds are in progress, the limit "+
			"(--max-inflight-adds); retry after %d s", inflight.Limit, retryAfterSeconds)
	case errors.As(err, &full):
		w.Header().Set("Retry-After", strconv.Itoa(diskFullRetryAfterSeconds))
		writeError(w, http.StatusInsufficientStorage, "the log's disk is full: %s has %s left for writes, below the "+
			"reserve of %s; writing resumes by itself once space is freed, and reads are served meanwhile; "+
			"retrying with the same entry later is safe", full.Path, diskspace.FormatBytes(full.Available), diskspace.FormatBytes(full.Reserve))
	case errors.Is(err, tlog.ErrPushback):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusServiceUnavailable, "the log is at capacity (%v); retry after %d s", err, retryAfterSeconds)
	case errors.Is(err, tlog.ErrShuttingDown):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down; retry against another instance")
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		writeError(w, http.StatusGatewayTimeout, "no checkpoint covering the entry was published within %s; "+
			"retrying with the same entry is safe", s.cfg.AddTimeout)
	case r.Context().Err() != nil:
		// The client went away; nobody reads this.
		clientGone(w)
	default:
		s.addStoreFailed(err) // logged when such failures start and stop, not each time
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(w, http.StatusServiceUnavailable, "the log could not store the entry right now; retrying with the same entry is safe")
	}
}

// logEntry builds the TransparencyLogEntry Rekor v2 returns: no integrated
// time and no inclusion promise; trust comes from the proof and checkpoint.
func (s *server) logEntry(e *entry.Entry, a *tlog.Added) *rekorpb.TransparencyLogEntry {
	return &rekorpb.TransparencyLogEntry{
		LogIndex:    int64(a.Index),
		LogId:       &v1.LogId{KeyId: s.cfg.Log.LogID()},
		KindVersion: &rekorpb.KindVersion{Kind: e.Kind, Version: e.Version},
		InclusionProof: &rekorpb.InclusionProof{
			LogIndex:   int64(a.Index),
			RootHash:   a.Root,
			TreeSize:   int64(a.Size),
			Hashes:     a.Proof,
			Checkpoint: &rekorpb.Checkpoint{Envelope: string(a.Checkpoint)},
		},
		// The logged leaf: for a duplicate, the entry first logged, which
		// may differ from this request in its ECDSA signature's encoding.
		CanonicalizedBody: a.Leaf,
	}
}
