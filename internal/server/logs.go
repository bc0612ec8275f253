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
	// identities summarises a full entry bundle as an identity tile
	// (with --tiles), or is nil.
	identities func(leaves [][]byte) ([]byte, error)
	// antispam sizes Tessera's in-memory dedup cache.
	antispam uint
	// witnesses cosign the log's checkpoints, or nil.
	witnesses *tlog.Witnesses
	// record is the log's checkpoint record file, or "".
	record string
}

// mainLogSpec is the main log: deduplicated on entry.LeafIdentity (an ECDSA
// entry and its low/high-S twin are one entry), persistently.
func (s *Server) mainLogSpec() logSpec {
	antispam := s.cfg.Log.AntispamInMemory
	if antispam == 0 {
		antispam = tessera.DefaultAntispamInMemorySize
	}
	return logSpec{
		id: storage.DefaultLogID, origin: s.cfg.Origin, key: s.cfg.Key, where: storage.Redact(s.cfg.Storage),
		identity: entry.LeafIdentity, dedup: true, antispam: antispam, witnesses: s.witnesses,
		record: s.cfg.CheckpointRecord, identities: identityTile,
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
	der, err := x509.MarshalPKIXPublicKey(sp.key.Public())
	if err != nil {
		return nil, err
	}
	if err := storage.BindIdentity(ctx, b, sp.where, storage.Identity{Origin: sp.origin, PublicKey: der}); err != nil {
		return nil, err
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
	lc.Metrics = tlog.NewMetrics(sp.id)
	lc.Witnesses = sp.witnesses
	if sp.record != "" {
		if lc.Record, err = tlog.OpenRecord(sp.record); err != nil {
			return nil, err
		}
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

// startIndex opens the search index beside the main log (PostgreSQL
// tables in the same database, or a Badger store in the data directory)
// and follows the log into it until Shutdown.
func (s *Server) startIndex(main *servedLog) error {
	if !s.cfg.SearchIndex {
		return nil
	}
	ist, err := index.OpenStore(s.logCtx, s.store, storage.DefaultLogID, main.backend.Space(), s.logger)
	if err != nil {
		return fmt.Errorf("opening the search index (or start with --search-index=false): %w", err)
	}
	m := index.NewMetrics()
	s.reg.MustRegister(m.Collectors()...)
	s.index = index.New(main.log, ist, index.Config{Logger: s.logger.With("component", "index"), Metrics: m, Poll: s.cfg.IndexPoll})
	stop := s.index.Start(s.logCtx)
	s.stopIndex = func() {
		stop()
		if err := ist.Close(); err != nil {
			s.logger.Warn("closing the search index", "err", err)
		}
	}
	return nil
}
