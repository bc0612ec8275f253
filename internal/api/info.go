package api

import (
	"net/http"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// cacheKey is the cache lifetime of the log's public key, which never
// changes for a log (the store binds it at creation).
const cacheKey = "public, max-age=86400"

// info serves GET /api/v2/log/info (client.LogInfo): what a client needs
// to verify the log, in one answer.
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
	writeCachedJSON(w, cacheLatest, client.LogInfo{
		Origin: l.Origin(), TreeSize: cp.Size, RootHash: cp.Hash, Checkpoint: string(raw),
		PublicKey: string(pemKey), LogID: l.LogID(), VerifierKey: vkey,
		Index: s.indexInfo(cp.Size), Shard: s.cfg.Shard, Frozen: s.shardFrozen(),
	})
}

// indexInfo reports the search index's progress against the tree of
// logSize, or nil when no search index runs.
func (s *server) indexInfo(logSize uint64) *client.IndexStatus {
	if s.cfg.Index == nil {
		return nil
	}
	st := s.cfg.Index.Status()
	info := &client.IndexStatus{IndexedSize: st.IndexedSize, UpdatedAt: st.UpdatedAt}
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

// shardFrozen is the freeze of the shard served, or nil.
func (s *server) shardFrozen() *client.ShardFrozen {
	for _, sh := range s.cfg.Shards {
		if sh.Name == s.cfg.Shard && sh.Frozen != nil {
			return sh.Frozen()
		}
	}
	return nil
}
