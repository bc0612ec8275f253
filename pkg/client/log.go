package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// Paths of the log's routes, relative to the base URL.
const (
	entriesPath    = "/api/v2/log/entries"
	tilesPrefix    = "/api/v2/"
	checkpointPath = tilesPrefix + layout.CheckpointPath
)

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

// Checkpoint returns the log's latest checkpoint, a signed note
// (GET /api/v2/checkpoint). It is not verified.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, url: checkpointPath, accept: contentText, idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// Tile returns the hashes of the tile at level and index: width hashes for
// a partial tile (0 < width < 256), 256 for a full one (width 0).
func (c *Client) Tile(ctx context.Context, level, index uint64, width uint8) ([][]byte, error) {
	data, err := c.get(ctx, tilesPrefix+layout.TilePath(level, index, width))
	if err != nil {
		return nil, err
	}
	return parseTile(data, width)
}

// parseTile splits a tile into its hashes and checks there are as many as
// its width says.
func parseTile(data []byte, width uint8) ([][]byte, error) {
	want := int(width)
	if want == 0 {
		want = layout.TileWidth
	}
	var t api.HashTile
	if err := t.UnmarshalText(data); err != nil {
		return nil, fmt.Errorf("%w: tile: %v", ErrBadResponse, err)
	}
	if len(t.Nodes) != want {
		return nil, fmt.Errorf("%w: tile holds %d hashes, want %d", ErrBadResponse, len(t.Nodes), want)
	}
	return t.Nodes, nil
}

// EntryBundle returns the entries of the entry bundle at index: width
// entries for a partial bundle (0 < width < 256), 256 for a full one
// (width 0). An entry's index in the log is index*256 + its position.
func (c *Client) EntryBundle(ctx context.Context, index uint64, width uint8) ([][]byte, error) {
	data, err := c.get(ctx, tilesPrefix+layout.EntriesPath(index, width))
	if err != nil {
		return nil, err
	}
	return parseEntryBundle(data, width)
}

func parseEntryBundle(data []byte, width uint8) ([][]byte, error) {
	want := int(width)
	if want == 0 {
		want = layout.EntryBundleWidth
	}
	entries, err := splitEntryBundle(data)
	if err != nil {
		return nil, err
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%w: entry bundle holds %d entries, want %d", ErrBadResponse, len(entries), want)
	}
	return entries, nil
}

// splitEntryBundle parses an entry bundle of any width.
func splitEntryBundle(data []byte) ([][]byte, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(data); err != nil {
		return nil, fmt.Errorf("%w: entry bundle: %v", ErrBadResponse, err)
	}
	if len(b.Entries) == 0 || len(b.Entries) > layout.EntryBundleWidth {
		return nil, fmt.Errorf("%w: entry bundle holds %d entries, want 1 to %d", ErrBadResponse, len(b.Entries), layout.EntryBundleWidth)
	}
	return b.Entries, nil
}

// The client reads tiles as Tessera's client package expects.
var (
	_ tclient.CheckpointFetcherFunc  = (*Client)(nil).ReadCheckpoint
	_ tclient.TileFetcherFunc        = (*Client)(nil).ReadTile
	_ tclient.EntryBundleFetcherFunc = (*Client)(nil).ReadEntryBundle
)

// ReadCheckpoint is Checkpoint in the shape of Tessera's
// client.CheckpointFetcherFunc.
func (c *Client) ReadCheckpoint(ctx context.Context) ([]byte, error) { return c.Checkpoint(ctx) }

// ReadTile returns a tile's raw bytes in the shape of Tessera's
// client.TileFetcherFunc: a missing partial tile falls back to the full
// one, and a missing tile is an error matching os.ErrNotExist.
func (c *Client) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	data, err := c.get(ctx, tilesPrefix+layout.TilePath(level, index, p))
	if p != 0 && errors.Is(err, fs.ErrNotExist) {
		data, err = c.get(ctx, tilesPrefix+layout.TilePath(level, index, 0))
	}
	return data, err
}

// ReadEntryBundle returns an entry bundle's raw bytes in the shape of
// Tessera's client.EntryBundleFetcherFunc, with the same fallback as
// ReadTile.
func (c *Client) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	data, err := c.get(ctx, tilesPrefix+layout.EntriesPath(index, p))
	if p != 0 && errors.Is(err, fs.ErrNotExist) {
		data, err = c.get(ctx, tilesPrefix+layout.EntriesPath(index, 0))
	}
	return data, err
}

// get reads an idempotent resource's body.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, url: path, accept: contentAny, idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}
