package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// entriesPath is the write route, relative to the base URL.
const entriesPath = "/api/v2/log/entries"

// DuplicateHeader is the header Mosaic adds to a 201 that answers a
// submission equal to an entry already in the log; its value is the index.
const DuplicateHeader = "X-Mosaic-Duplicate"

// LogIndexHeader is the header Rekor v2 and Mosaic add to a 409 (and Mosaic
// to a 504) naming the entry's index.
const LogIndexHeader = "X-Log-Index"

// Content types of the log's answers.
const (
	contentJSON = "application/json"
	contentText = "text/plain"
	contentAny  = "application/octet-stream"
)

// lenient parses responses: fields added by newer servers are ignored.
var lenient = protojson.UnmarshalOptions{DiscardUnknown: true}

// AddedEntry is the log's answer to a submission.
type AddedEntry struct {
	// Entry is the logged entry with its inclusion proof and checkpoint.
	Entry *rekorpb.TransparencyLogEntry
	// Duplicate says the log already held an equal entry: Entry is that
	// one (its index is the original's).
	Duplicate bool
}

// AddEntry submits a Rekor v2 CreateEntryRequest (POST /api/v2/log/entries)
// and returns the logged entry. A submission equal to a logged entry
// succeeds with Duplicate set, whether the log answers 201 with the
// existing entry (Mosaic's default) or 409 naming its index (Rekor v2,
// Mosaic in conflict mode): in the second case the entry and its proof are
// rebuilt from the log's tiles (see EntryFromTiles) after checking that the
// logged leaf holds the submitted digest, signature and verifier.
func (c *Client) AddEntry(ctx context.Context, req *pb.CreateEntryRequest) (*AddedEntry, error) {
	if req == nil || req.GetSpec() == nil {
		return nil, errors.New("AddEntry: the request has no entry")
	}
	body, err := protojson.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the CreateEntryRequest: %w", err)
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, url: entriesPath, body: body,
		contentType: contentJSON, accept: contentJSON, idempotent: true})
	var he *Error
	if errors.As(err, &he) && he.StatusCode == http.StatusConflict {
		return c.duplicate(ctx, req, he)
	}
	if err != nil {
		return nil, err
	}
	tle, err := parseEntry(resp.body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", c.base+entriesPath, err)
	}
	return &AddedEntry{Entry: tle, Duplicate: resp.header.Get(DuplicateHeader) != ""}, nil
}

// parseEntry decodes a protojson TransparencyLogEntry and checks that it
// has what a Rekor v2 entry must have.
func parseEntry(data []byte) (*rekorpb.TransparencyLogEntry, error) {
	var tle rekorpb.TransparencyLogEntry
	if err := lenient.Unmarshal(data, &tle); err != nil {
		return nil, fmt.Errorf("%w: not a TransparencyLogEntry: %v", ErrBadResponse, err)
	}
	switch {
	case tle.GetLogIndex() < 0:
		return nil, fmt.Errorf("%w: negative logIndex %d", ErrBadResponse, tle.GetLogIndex())
	case len(tle.GetCanonicalizedBody()) == 0:
		return nil, fmt.Errorf("%w: the entry has no canonicalizedBody", ErrBadResponse)
	case tle.GetInclusionProof() == nil:
		return nil, fmt.Errorf("%w: the entry has no inclusionProof", ErrBadResponse)
	}
	return &tle, nil
}
