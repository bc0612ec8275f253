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
	"time"

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

// ConsistencyProof is the answer of GET /api/v2/log/proof/consistency.
type ConsistencyProof struct {
	FirstSize      uint64   `json:"firstSize"`
	SecondSize     uint64   `json:"secondSize"`
	FirstRootHash  []byte   `json:"firstRootHash"`
	SecondRootHash []byte   `json:"secondRootHash"`
	Hashes         [][]byte `json:"hashes"`
	// Checkpoint is the latest signed checkpoint (note text).
	Checkpoint string `json:"checkpoint"`
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

// IndexStatus is the search index's progress, as log info and search
// answers report it (each sets the fields it knows).
type IndexStatus struct {
	IndexedSize uint64    `json:"indexedSize"`
	LogSize     uint64    `json:"logSize,omitempty"`
	Lag         uint64    `json:"lag"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
}

// LogInfo is the answer of GET /api/v2/log/info: what a client needs to
// verify the log, in one answer.
type LogInfo struct {
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"treeSize"`
	RootHash []byte `json:"rootHash"`
	// Checkpoint is the latest signed checkpoint (note text).
	Checkpoint string `json:"checkpoint"`
	// PublicKey is the checkpoint key, PKIX PEM.
	PublicKey string `json:"publicKey"`
	// LogID is the 32-byte log ID (TransparencyLogEntry.logId.keyId).
	LogID []byte `json:"logId"`
	// VerifierKey is the signed-note verifier key ("" for ECDSA keys).
	VerifierKey string `json:"verifierKey,omitempty"`
	// Index is nil when the server runs no search index.
	Index *IndexStatus `json:"index,omitempty"`
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

// SearchQuery selects entries; set criteria are ANDed, and SAN with
// OIDCIssuer names an identity. At least one criterion is needed.
type SearchQuery struct {
	// Digest is the artifact digest, "sha256:<hex>".
	Digest string `json:"digest,omitempty"`
	// PublicKeyFingerprint is "sha256:<hex>" of the signer's SPKI DER.
	PublicKeyFingerprint string `json:"publicKeyFingerprint,omitempty"`
	SAN                  string `json:"san,omitempty"`
	OIDCIssuer           string `json:"oidcIssuer,omitempty"`
	// PageSize defaults to 100 on the server, at most 1000.
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
}

// SearchResult is one matching entry.
type SearchResult struct {
	LogIndex          uint64 `json:"logIndex"`
	Kind              string `json:"kind"`
	APIVersion        string `json:"apiVersion"`
	CanonicalizedBody []byte `json:"canonicalizedBody"`
}

// SearchResponse is one page of results, ascending by log index.
type SearchResponse struct {
	Results []SearchResult `json:"results"`
	// NextPageToken is "" on the last page.
	NextPageToken string       `json:"nextPageToken,omitempty"`
	Index         *IndexStatus `json:"index,omitempty"`
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
