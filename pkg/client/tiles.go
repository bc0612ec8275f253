package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/mosaiclog/mosaic/pkg/idtile"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
)

// Resource size limits of the tlog-tiles read API: a response larger than
// its resource can be is an error, not an allocation.
const (
	maxCheckpointBytes = 64 << 10
	maxTileBytes       = layout.TileWidth * 32
	maxBundleBytes     = layout.EntryBundleWidth * (2 + 65535)
)

// TilesURL is the tlog-tiles prefix of the log of the Mosaic (or Rekor v2)
// server at baseURL, the default of WithTilesURL.
func TilesURL(baseURL string) string { return strings.TrimRight(baseURL, "/") + "/api/v2" }

// CertLogTilesURL is the tlog-tiles prefix of the certificate log of the
// Mosaic server at baseURL.
func CertLogTilesURL(baseURL string) string { return TilesURL(baseURL) + "/certlog" }

// TilesURL returns the tlog-tiles prefix the client reads the checkpoint,
// tiles and entry bundles from, without a trailing slash.
func (c *Client) TilesURL() string { return c.tiles }

// Checkpoint returns the log's latest checkpoint, a signed note
// (GET <tiles>/checkpoint). It is not verified: see note.VerifyCheckpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.getTiles(ctx, layout.CheckpointPath, contentText, maxCheckpointBytes)
}

// Tile returns the hashes of the tile at level and index: width hashes for
// a partial tile (0 < width < 256), 256 for a full one (width 0).
func (c *Client) Tile(ctx context.Context, level, index uint64, width uint8) ([][]byte, error) {
	data, err := c.getTiles(ctx, layout.TilePath(level, index, width), contentAny, maxTileBytes)
	if err != nil {
		return nil, err
	}
	return parseTile(data, width)
}

// EntryBundle returns the entries of the entry bundle at index: width
// entries for a partial bundle (0 < width < 256), 256 for a full one
// (width 0). An entry's index in the log is index*256 + its position.
func (c *Client) EntryBundle(ctx context.Context, index uint64, width uint8) ([][]byte, error) {
	data, err := c.getTiles(ctx, layout.EntriesPath(index, width), contentAny, maxBundleBytes)
	if err != nil {
		return nil, err
	}
	return parseEntryBundle(data, width)
}

// FetchTile returns the raw hash tile level/index of width p (0: full).
// When the partial tile is gone (404) it reads the full tile instead, as
// tlog-tiles allows; served is the width actually returned (0: full). A
// missing tile is an error matching os.ErrNotExist.
func (c *Client) FetchTile(ctx context.Context, level, index uint64, p uint8) (data []byte, served uint8, err error) {
	return c.fetchPartial(ctx, p, maxTileBytes, func(w uint8) string { return layout.TilePath(level, index, w) })
}

// FetchEntryBundle is FetchTile for entry bundles.
func (c *Client) FetchEntryBundle(ctx context.Context, index uint64, p uint8) (data []byte, served uint8, err error) {
	return c.fetchPartial(ctx, p, maxBundleBytes, func(w uint8) string { return layout.EntriesPath(index, w) })
}

func (c *Client) fetchPartial(ctx context.Context, p uint8, limit int64, path func(width uint8) string) ([]byte, uint8, error) {
	data, err := c.getTiles(ctx, path(p), contentAny, limit)
	if p != 0 && errors.Is(err, fs.ErrNotExist) {
		data, err = c.getTiles(ctx, path(0), contentAny, limit)
		return data, 0, err
	}
	return data, p, err
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

// ReadTile is FetchTile in the shape of Tessera's client.TileFetcherFunc.
func (c *Client) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	data, _, err := c.FetchTile(ctx, level, index, p)
	return data, err
}

// ReadEntryBundle is FetchEntryBundle in the shape of Tessera's
// client.EntryBundleFetcherFunc.
func (c *Client) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	data, _, err := c.FetchEntryBundle(ctx, index, p)
	return data, err
}

// getTiles reads a resource under the tlog-tiles prefix, of at most limit
// bytes.
func (c *Client) getTiles(ctx context.Context, path, accept string, limit int64) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, url: c.tiles + "/" + path, accept: accept,
		idempotent: true, limit: limit})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
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

// maxIdentityTileBytes bounds an identity tile as served: gzip of at most
// idtile.MaxSize bytes, with room for incompressible text.
const maxIdentityTileBytes = idtile.MaxSize + 64<<10

// IdentityTile returns the identity tile of full entry bundle index
// (GET <tiles>/tile/identities/<N>, see docs/identity-tiles.md), not yet
// parsed: see idtile.Parse. A bundle without one (partial, not covered by
// the checkpoint yet, or a server that serves none) is an error matching
// os.ErrNotExist. An identity tile is not covered by the Merkle tree.
func (c *Client) IdentityTile(ctx context.Context, index uint64) ([]byte, error) {
	return c.getTiles(ctx, idtile.Path(index), "application/gzip", maxIdentityTileBytes)
}
