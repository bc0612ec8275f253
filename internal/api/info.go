package api

import (
	"net/http"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
)

// cacheKey is the cache lifetime of the log's public key, which never
// changes for a log (the store binds it at creation).
const cacheKey = "public, max-age=86400"

// infoResponse is the body of GET /api/v2/log/info.
type infoResponse struct {
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"treeSize"`
	RootHash []byte `json:"rootHash"`
	// Checkpoint is the latest signed checkpoint, note text.
	Checkpoint string `json:"checkpoint"`
	// PublicKey is the checkpoint key as PKIX PEM.
	PublicKey string `json:"publicKey"`
	// LogID is the 32-byte log ID (TransparencyLogEntry.logId.keyId).
	LogID []byte `json:"logId"`
	// VerifierKey is the signed-note verifier key; empty (omitted) for
	// key types signed notes define none for (ECDSA).
	VerifierKey string     `json:"verifierKey,omitempty"`
	Index       *IndexInfo `json:"index,omitempty"`
}

// IndexInfo is the search index's progress as /api/v2/log/info reports it.
type IndexInfo struct {
	// IndexedSize is how many entries, from the first, the index holds.
	IndexedSize uint64 `json:"indexedSize"`
	// Lag is the latest published tree size minus IndexedSize.
	Lag uint64 `json:"lag"`
	// UpdatedAt is when the index last advanced; omitted if it never did.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// info serves GET /api/v2/log/info: what a client needs to verify the log,
// in one answer.
func (s *server) info(w http.ResponseWriter, r *http.Request) {
	l := s.cfg.Log
	cp, raw, err := l.Checkpoint(r.Context())
	if err != nil {
		s.readError(w, r, "checkpoint", err)
		return
	}
	pemKey, err := note.MarshalPublicKey(l.PublicKey())
	if err != nil {
		s.cfg.Logger.Error("encoding the log's public key", "err", err)
		writeError(w, http.StatusInternalServerError, "encoding the log's public key failed")
		return
	}
	// An error means the key type has no verifier key string; omit it.
	vkey, _ := note.VerifierKey(l.Origin(), l.PublicKey())
	writeCachedJSON(w, cacheLatest, infoResponse{
		Origin: l.Origin(), TreeSize: cp.Size, RootHash: cp.Hash, Checkpoint: string(raw),
		PublicKey: string(pemKey), LogID: l.LogID(), VerifierKey: vkey,
		Index: s.indexInfo(cp.Size),
	})
}

// indexInfo reports the search index's progress against the tree of
// logSize, or nil when no search index runs.
func (s *server) indexInfo(logSize uint64) *IndexInfo {
	if s.cfg.Index == nil {
		return nil
	}
	st := s.cfg.Index.Status()
	info := &IndexInfo{IndexedSize: st.IndexedSize, UpdatedAt: st.UpdatedAt}
	if logSize > st.IndexedSize {
		info.Lag = logSize - st.IndexedSize
	}
	return info
}

// publicKey serves GET /api/v2/log/publicKey: the checkpoint key as PKIX
// PEM.
func (s *server) publicKey(w http.ResponseWriter, r *http.Request) {
	pemKey, err := note.MarshalPublicKey(s.cfg.Log.PublicKey())
	if err != nil {
		s.cfg.Logger.Error("encoding the log's public key", "err", err)
		writeError(w, http.StatusInternalServerError, "encoding the log's public key failed")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", cacheKey)
	_, _ = w.Write(pemKey)
}
