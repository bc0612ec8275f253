package client

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Entry returns the entry at index with an inclusion proof against the
// latest checkpoint (GET /api/v2/log/entries/{index}; Mosaic only, see
// EntryFromTiles for any tlog-tiles log). An index beyond the published
// tree is a 404 *Error.
func (c *Client) Entry(ctx context.Context, index uint64) (*rekorpb.TransparencyLogEntry, error) {
	u := entriesPath + "/" + strconv.FormatUint(index, 10)
	data, err := c.getJSON(ctx, u)
	if err != nil {
		return nil, err
	}
	tle, err := parseEntry(data)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.base+u, err)
	}
	return tle, nil
}

// InclusionProof returns the proof that entry index is in the tree of
// treeSize, or of the latest checkpoint's size when treeSize is 0
// (GET /api/v2/log/proof/inclusion). Its checkpoint is set only when the
// proof is for the latest checkpoint.
func (c *Client) InclusionProof(ctx context.Context, index, treeSize uint64) (*rekorpb.InclusionProof, error) {
	q := url.Values{"index": {strconv.FormatUint(index, 10)}}
	if treeSize != 0 {
		q.Set("treeSize", strconv.FormatUint(treeSize, 10))
	}
	u := "/api/v2/log/proof/inclusion?" + q.Encode()
	data, err := c.getJSON(ctx, u)
	if err != nil {
		return nil, err
	}
	var p rekorpb.InclusionProof
	if err := lenient.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("GET %s: %w: not an InclusionProof: %v", c.base+u, ErrBadResponse, err)
	}
	return &p, nil
}

// ConsistencyProof returns the proof that the tree of size first is a
// prefix of the tree of size second (0 < first <= second <= the latest
// published size).
func (c *Client) ConsistencyProof(ctx context.Context, first, second uint64) (*ConsistencyProof, error) {
	q := url.Values{"first": {strconv.FormatUint(first, 10)}, "second": {strconv.FormatUint(second, 10)}}
	var p ConsistencyProof
	if err := c.getInto(ctx, "/api/v2/log/proof/consistency?"+q.Encode(), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Info returns the log's identity and latest state (GET /api/v2/log/info).
// Nothing in it is verified.
func (c *Client) Info(ctx context.Context) (*LogInfo, error) {
	var info LogInfo
	if err := c.getInto(ctx, "/api/v2/log/info", &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// PublicKey returns the log's checkpoint key (GET /api/v2/log/publicKey).
func (c *Client) PublicKey(ctx context.Context) (crypto.PublicKey, error) {
	const path = "/api/v2/log/publicKey"
	resp, err := c.do(ctx, request{method: http.MethodGet, url: path, accept: "application/x-pem-file", idempotent: true})
	if err != nil {
		return nil, err
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(resp.body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w: not a PEM public key: %v", c.base+path, ErrBadResponse, err)
	}
	return pub, nil
}

// Search returns one page of the entries matching q (POST
// /api/v2/log/search). The index may lag the log; the answer says by how
// much. Without a search index the server answers 503.
func (c *Client) Search(ctx context.Context, q SearchQuery) (*SearchResponse, error) {
	if q == (SearchQuery{PageSize: q.PageSize, PageToken: q.PageToken}) {
		return nil, errors.New("search: set at least one of Digest, PublicKeyFingerprint, SAN and OIDCIssuer")
	}
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("encoding the search query: %w", err)
	}
	const path = "/api/v2/log/search"
	resp, err := c.do(ctx, request{method: http.MethodPost, url: path, body: body,
		contentType: contentJSON, accept: contentJSON, idempotent: true})
	if err != nil {
		return nil, err
	}
	var out SearchResponse
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("POST %s: %w: %v", c.base+path, ErrBadResponse, err)
	}
	return &out, nil
}

// getJSON reads an idempotent JSON resource.
func (c *Client) getJSON(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, url: path, accept: contentJSON, idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// getInto reads an idempotent JSON resource into v.
func (c *Client) getInto(ctx context.Context, path string, v any) error {
	data, err := c.getJSON(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("GET %s: %w: %v", c.base+path, ErrBadResponse, err)
	}
	return nil
}
