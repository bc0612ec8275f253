package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/client"
)

// logRoutes are one log's routes: the Rekor v2 write, tlog-tiles reads,
// proofs, info and search, under /api/v2.
func (s *server) logRoutes(r chi.Router) {
	r.Post("/api/v2/log/entries", s.createEntry)
	r.Get("/api/v2/checkpoint", s.checkpoint)
	r.Get("/api/v2/tile/*", s.tile)
	r.Get("/api/v2/log/entries/{index}", s.getEntry)
	r.Get("/api/v2/log/proof/inclusion", s.inclusionProof)
	r.Get("/api/v2/log/proof/consistency", s.consistencyProof)
	r.Get("/api/v2/log/info", s.info)
	r.Get("/api/v2/log/publicKey", s.publicKey)
	r.Post("/api/v2/log/search", s.search) // 503 when no index runs
}

// shardRoutes serves each shard's log routes under /shards/<name>/, and
// the list of shards at /api/v2/shards.
func (s *server) shardRoutes(r chi.Router) {
	if len(s.cfg.Shards) == 0 {
		return
	}
	for _, sh := range s.cfg.Shards {
		cfg := s.cfg
		cfg.Log, cfg.Index, cfg.Shard = sh.Log, sh.Index, sh.Name
		if !sh.Active {
			// The bucket (--tiles-public-url) holds the active shard's
			// tiles only: the others are read from their stores.
			cfg.TilesPublicURL = ""
		}
		sub := &server{cfg: cfg, searches: s.searches, health: s.health}
		r.Route("/shards/"+sh.Name, sub.logRoutes)
	}
	r.Get("/api/v2/shards", s.shards)
}

// shards serves GET /api/v2/shards: every shard, the active one first.
func (s *server) shards(w http.ResponseWriter, r *http.Request) {
	out := client.Shards{Shards: []client.Shard{}}
	for _, sh := range s.cfg.Shards {
		var frozen *client.ShardFrozen
		if sh.Frozen != nil {
			frozen = sh.Frozen()
		}
		out.Shards = append(out.Shards, client.Shard{
			Name: sh.Name, Origin: sh.Log.Origin(), LogID: sh.Log.LogID(), Path: "/shards/" + sh.Name,
			Active: sh.Active && frozen == nil, Start: sh.Start.UTC(), Frozen: frozen,
		})
	}
	writeCachedJSON(w, cacheLatest, out)
}

// frozen answers a write to a log that takes no entries: 410, naming the
// log, its final size and where entries go instead.
func (s *server) frozen(w http.ResponseWriter, e *tlog.FrozenError) {
	msg := e.Error()
	if s.cfg.Shard != "" {
		msg = "shard " + s.cfg.Shard + ": " + msg
	}
	if e.Frozen {
		msg += "; reads, proofs and search go on"
		if s.cfg.Shard != "" {
			msg += " at /shards/" + s.cfg.Shard + "/api/v2/"
		}
	}
	writeError(w, http.StatusGone, "%s", msg)
}
