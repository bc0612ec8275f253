package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/idtile"
	"github.com/transparency-dev/tessera"
)

// logSpec is what differs between the logs of a server.
type logSpec struct {
	// id names the log in the store and in its metrics' log label.
	id     string
	origin string
	key    crypto.Signer
	// where names the log in an identity mismatch error.
	where string
	// identity is what the log deduplicates on (nil: SHA-256 of the leaf);
	// dedup installs the store's persistent duplicate map, if it has one.
	identity func(leaf []byte) []byte
	dedup    bool
	// identities summarises a full entry bundle as an identity tile, or
	// is nil: the log has none. With --tiles they are stored beside the
	// bundles; on every store the server serves them (derived from the
	// bundles when not stored).
	identities func(leaves [][]byte) ([]byte, error)
	// antispam sizes Tessera's in-memory dedup cache.
	antispam uint
	// witnesses cosign the log's checkpoints, or nil.
	witnesses *tlog.Witnesses
	// record is the log's checkpoint record file, or "".
	record string
	// metrics is the log's label in metrics ("main" for the active shard,
	// whatever its name, so that dashboards follow rotations).
	metrics string
	// shard: the log is the active shard, which a file store lets one
	// process write (its writer lock), and which may be frozen already.
	shard bool
}

// mainLogSpec is the main log: deduplicated on entry.LeafIdentity (an ECDSA
// entry and its low/high-S twin are one entry), persistently.
func (s *Server) mainLogSpec() logSpec {
	antispam := s.cfg.Log.AntispamInMemory
	if antispam == 0 {
		antispam = tessera.DefaultAntispamInMemorySize
	}
	return logSpec{
		id: s.cfg.activeShard(), origin: s.cfg.Origin, key: s.cfg.Key, where: storage.Redact(s.cfg.Storage),
		identity: entry.LeafIdentity, dedup: true, antispam: antispam, witnesses: s.witnesses,
		record: s.cfg.CheckpointRecord, identities: identityTile,
		metrics: storage.DefaultLogID, shard: true,
	}
}

// identityTile is the identity tile (pkg/idtile) of a full bundle of the
// main log: each leaf's digest and signer, as entry.Describe reads them. A
// leaf it cannot read gets an empty record.
func identityTile(leaves [][]byte) ([]byte, error) {
	recs := make([]idtile.Record, len(leaves))
	for i, leaf := range leaves {
		f, err := entry.Describe(leaf)
		if err != nil {
			continue
		}
		recs[i] = idtile.Record{Digest: f.Digest, Key: f.KeyFingerprint, SANs: f.SANs, Issuer: f.Issuer}
	}
	return idtile.Marshal(recs)
}

// openLog opens log sp in the store, binds its identity (refusing a store
// that recorded another) and starts it on the server's logCtx, with its
// metrics registered and its checkpoint watched. It is added to s.logs as
// soon as its store log is open, so that a failure closes it again.
func (s *Server) openLog(ctx context.Context, sp logSpec) (*servedLog, error) {
	lo := storage.LogOptions{Identity: sp.identity, Identities: sp.identities}
	if sp.witnesses != nil {
		lo.HTTPClient = sp.witnesses.HTTPClient()
	}
	b, err := s.store.OpenLog(ctx, sp.id, lo)
	if err != nil {
		return nil, err
	}
	sl := &servedLog{backend: b}
	s.logs = append(s.logs, sl)
	if sp.shard {
		if err := s.checkNewShard(ctx, b, sp.id); err != nil {
			return nil, err
		}
	}
	der, err := x509.MarshalPKIXPublicKey(sp.key.Public())
	if err != nil {
		return nil, err
	}
	if err := storage.BindIdentity(ctx, b, sp.where, storage.Identity{Origin: sp.origin, PublicKey: der}); err != nil {
		return nil, err
	}
	if sp.shard {
		if started, err := s.startActiveShard(ctx, sp, sl); started || err != nil {
			return sl, err
		}
	}
	lc := s.cfg.Log
	lc.Origin, lc.Key, lc.Identity, lc.AntispamInMemory = sp.origin, sp.key, sp.identity, sp.antispam
	lc.Dedup = nil
	if d := b.Dedup(); sp.dedup && d != nil {
		lc.Dedup = d
	}
	lc.Space = b.Space()
	lc.Logger = s.logger
	if sp.id != storage.DefaultLogID {
		lc.Logger = s.logger.With("log", sp.id)
	}
	if sp.metrics == "" {
		sp.metrics = sp.id
	}
	lc.Metrics = tlog.NewMetrics(sp.metrics)
	lc.Witnesses = sp.witnesses
	if sp.record != "" {
		if lc.Record, err = tlog.OpenRecord(sp.record); err != nil {
			return nil, err
		}
	}
	lc.CutOffErr = storage.ErrFrozen
	if sp.identities != nil {
		lc.IdentityTiles = &tlog.IdentityTiles{Make: sp.identities, Stored: storage.StoredIdentityTiles(b)}
	}
	s.reg.MustRegister(lc.Metrics.Collectors()...)
	if sl.log, err = tlog.New(s.logCtx, b.Driver(), lc); err != nil {
		return nil, err
	}
	go sl.log.WatchCheckpoint(s.logCtx, time.Second, b.CheckpointPublishedAt)
	if sp.witnesses != nil {
		s.watchWitnesses(sl, sp.witnesses)
	}
	return sl, nil
}

// startIndexes opens the search index beside each shard (PostgreSQL
// tables in the same database, or a Badger store in the shard's directory)
// and follows the shard into it until Shutdown. The active shard's index
// must open; another's that does not (another process holds it) leaves
// that shard without search.
func (s *Server) startIndexes() error {
	if !s.cfg.SearchIndex {
		return nil
	}
	for i, sh := range s.shards {
		ist, err := index.OpenStore(s.logCtx, s.store, sh.name, sh.sl.backend.Space(), s.logger)
		if err != nil && i == 0 {
			return fmt.Errorf("opening the search index (or start with --search-index=false): %w", err)
		} else if err != nil {
			s.logger.Warn("shard served without search: its index does not open", "shard", sh.name, "err", err)
			continue
		}
		cfg := index.Config{Logger: s.logger.With("component", "index"), Poll: s.cfg.IndexPoll}
		if i == 0 {
			// The active shard's index reports its metrics.
			cfg.Metrics = index.NewMetrics()
			s.reg.MustRegister(cfg.Metrics.Collectors()...)
		} else {
			cfg.Logger = cfg.Logger.With("shard", sh.name)
		}
		sh.index = index.New(sh.sl.log, ist, cfg)
		stop := sh.index.Start(s.logCtx)
		s.stopIndexes = append(s.stopIndexes, func() {
			stop()
			if err := ist.Close(); err != nil {
				s.logger.Warn("closing the search index", "shard", sh.name, "err", err)
			}
		})
	}
	s.index = s.shards[0].index
	return nil
}

// checkNewShard refuses to create a shard, other than the store's first
// log, without Config.Init: a mistyped --shard must not become a new log
// with a new key.
func (s *Server) checkNewShard(ctx context.Context, b storage.Backend, id string) error {
	if id == storage.DefaultLogID || s.cfg.Init {
		return nil
	}
	if _, ok, err := b.Identity(ctx); err != nil || ok {
		return err
	}
	return fmt.Errorf("no shard %q in %s; pass --init to create it (a new shard needs a new key: mosaicd keygen)",
		id, storage.Redact(s.cfg.Storage))
}

// startActiveShard serves the active shard read-only if it is frozen
// (started), and otherwise takes its writer lock for the caller to start
// it.
func (s *Server) startActiveShard(ctx context.Context, sp logSpec, sl *servedLog) (started bool, err error) {
	b := sl.backend
	rec, err := b.Frozen(ctx)
	if err != nil {
		return false, err
	}
	if rec != nil {
		sl.readOnly = true
		sh, err := s.startReadOnly(ctx, sp.id, sl, sp.origin, sp.key.Public())
		if err != nil {
			return true, err
		}
		s.logger.Warn("the active shard is frozen: this server takes no entries; start a new shard to take them "+
			"(mosaicd serve --shard NAME --init with a new key)", "shard", sp.id, "size", rec.Size)
		s.shards = append(s.shards, sh)
		return true, nil
	}
	unlock, err := b.WriterLock()
	if err != nil {
		return false, err
	}
	s.unlocks = append(s.unlocks, unlock)
	created, err := b.CreatedAt(ctx)
	if err != nil {
		return false, err
	}
	s.shards = append(s.shards, &shard{name: sp.id, sl: sl, created: created})
	return false, nil
}
