package client

import "time"

// The JSON shapes of Mosaic's read routes beyond Rekor v2 (openapi.yaml's
// LogInfo, ConsistencyProof, SearchRequest and SearchResponse). The server
// (internal/api) writes these very types, so client and server agree by
// construction; byte fields are standard base64, sizes JSON numbers.

// LogInfo is the answer of GET /api/v2/log/info: what a client needs to
// verify the log, in one answer. Nothing in it is verified.
type LogInfo struct {
	// Origin is the checkpoint origin (the log's name in signed notes).
	Origin string `json:"origin"`
	// TreeSize and RootHash are the latest published checkpoint's.
	TreeSize uint64 `json:"treeSize"`
	RootHash []byte `json:"rootHash"`
	// Checkpoint is the latest signed checkpoint (note text).
	Checkpoint string `json:"checkpoint"`
	// PublicKey is the checkpoint key, PKIX PEM.
	PublicKey string `json:"publicKey"`
	// LogID is the 32-byte log ID (TransparencyLogEntry.logId.keyId).
	LogID []byte `json:"logId"`
	// VerifierKey is the signed-note verifier key; empty (omitted) for key
	// types signed notes define none for (ECDSA).
	VerifierKey string `json:"verifierKey,omitempty"`
	// Index is nil (omitted) when the server runs no search index.
	Index *IndexStatus `json:"index,omitempty"`
	// Shard names the shard this log is, when the server has shards.
	Shard string `json:"shard,omitempty"`
	// Frozen is set once the log is frozen: it takes no more entries.
	Frozen *ShardFrozen `json:"frozen,omitempty"`
}

// Shards is GET /api/v2/shards: the logs (shards) of a deployment, the one
// taking entries first.
type Shards struct {
	Shards []Shard `json:"shards"`
}

// Shard is one log of a deployment.
type Shard struct {
	Name   string `json:"name"`
	Origin string `json:"origin"`
	LogID  []byte `json:"logId"`
	// Path is where the shard is served, below the deployment's URL:
	// Path + "/api/v2/checkpoint" and so on.
	Path string `json:"path"`
	// Active is set for the shard taking entries (also served at the
	// deployment's root paths).
	Active bool      `json:"active"`
	Start  time.Time `json:"start"`
	// Frozen is set once the shard is frozen.
	Frozen *ShardFrozen `json:"frozen,omitempty"`
}

// ShardFrozen is a frozen log's final state.
type ShardFrozen struct {
	// Size is the final tree size; Checkpoint the final checkpoint.
	Size       uint64    `json:"size"`
	Checkpoint string    `json:"checkpoint"`
	At         time.Time `json:"frozenAt"`
	Successor  string    `json:"successor,omitempty"`
}

// IndexStatus is the search index's progress as log info reports it,
// against the answer's TreeSize.
type IndexStatus struct {
	// IndexedSize is how many entries, from the first, the index holds.
	IndexedSize uint64 `json:"indexedSize"`
	// Lag is TreeSize minus IndexedSize (0 if the index is ahead).
	Lag uint64 `json:"lag"`
	// UpdatedAt is when the index last advanced; zero (omitted) if it
	// never did.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// ConsistencyProof is the answer of GET /api/v2/log/proof/consistency:
// the proof that the tree of FirstSize entries is a prefix of the tree of
// SecondSize entries (RFC 6962 / RFC 9162).
type ConsistencyProof struct {
	FirstSize      uint64   `json:"firstSize"`
	SecondSize     uint64   `json:"secondSize"`
	FirstRootHash  []byte   `json:"firstRootHash"`
	SecondRootHash []byte   `json:"secondRootHash"`
	Hashes         [][]byte `json:"hashes"`
	// Checkpoint is the latest signed checkpoint (note text).
	Checkpoint string `json:"checkpoint"`
}

// SearchQuery selects entries (POST /api/v2/log/search); set criteria are
// ANDed, and SAN with OIDCIssuer names an identity. At least one criterion
// is needed.
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
	LogIndex   uint64 `json:"logIndex"`
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	// CanonicalizedBody is the logged leaf, as in TransparencyLogEntry.
	CanonicalizedBody []byte `json:"canonicalizedBody"`
}

// SearchResponse is one page of results, ascending by log index. A page
// may hold fewer than PageSize results even when NextPageToken is set (the
// server also bounds a page in bytes).
type SearchResponse struct {
	Results []SearchResult `json:"results"`
	// NextPageToken is "" (omitted) on the last page.
	NextPageToken string             `json:"nextPageToken,omitempty"`
	Index         *SearchIndexStatus `json:"index,omitempty"`
}

// SearchIndexStatus is the search index's progress as a search answer
// reports it: entries the index has not read yet (Lag) are not searched.
type SearchIndexStatus struct {
	IndexedSize uint64 `json:"indexedSize"`
	LogSize     uint64 `json:"logSize"`
	Lag         uint64 `json:"lag"`
}
