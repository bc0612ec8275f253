package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/client"
)

// Shards. A store holds one or more logs, its shards, each with its own
// key (and so its own log ID) and the same origin: sigstore-go and cosign
// take a Rekor v2 log's origin from the hostname of its URL, which all of
// a deployment's shards share. One shard is active: it takes entries and is
// served at the root paths (/api/v2/...). Every shard, the active one
// included, is also served at /shards/<name>/api/v2/..., for good: a frozen
// shard is read (tiles, proofs, search) there, from its own store log,
// without an appender or its private key. The client configuration
// (trusted_root.json, signing_config.json) lists every shard with its
// validity window: from its creation until its freeze.
//
// The main log of a store, from before there were shards, is the shard
// "main" (storage.DefaultLogID): a file store's top directory, with every
// other shard in a subdirectory of its name.

// shardName is what a shard may be called: short, lower case, usable in a
// URL path, a directory name and a PostgreSQL log_id.
var shardName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// CheckShardName refuses a name a shard cannot have.
func CheckShardName(name string) error {
	if !shardName.MatchString(name) || name == CertLogID {
		return fmt.Errorf("shard name %q: want 1 to 32 lower-case letters, digits and dashes, starting with a letter or digit, other than %q",
			name, CertLogID)
	}
	return nil
}

// shard is a log of the store this server serves.
type shard struct {
	name string
	sl   *servedLog
	// created is when the shard was first served (its validity start).
	created time.Time
	// frozen is the shard's freeze record once seen (set by openShards or
	// the freeze watcher, never cleared).
	frozen atomic.Pointer[storage.Frozen]
	// freezing is set once this server started freezing the shard.
	freezing atomic.Bool
	index    *index.Index // nil without a search index
}

// frozenError is what adds to a frozen shard fail with.
func frozenError(f *storage.Frozen) *tlog.FrozenError {
	return &tlog.FrozenError{Frozen: true, Size: f.Size, At: f.At, Successor: f.Successor}
}

// openShards opens every shard of the store but the active one (already
// open, s.shards[0]), read-only, and refuses a store where two shards share
// a log ID.
func (s *Server) openShards(ctx context.Context) error {
	ids, err := s.store.LogIDs(ctx)
	if err != nil {
		return err
	}
	seen := map[string]string{string(s.Log().LogID()): s.shards[0].name}
	for _, id := range ids {
		if id == CertLogID || id == s.shards[0].name {
			continue
		}
		sh, err := s.openReadOnlyShard(ctx, id)
		if err != nil {
			return fmt.Errorf("shard %q: %w", id, err)
		}
		if other, dup := seen[string(sh.sl.log.LogID())]; dup {
			return fmt.Errorf("shards %q and %q have the same origin and key, so the same log ID: "+
				"a new shard needs a new key (mosaicd keygen)", other, id)
		}
		seen[string(sh.sl.log.LogID())] = id
		s.shards = append(s.shards, sh)
	}
	return nil
}

// openReadOnlyShard opens shard id from the store for reading.
func (s *Server) openReadOnlyShard(ctx context.Context, id string) (*shard, error) {
	b, err := s.store.OpenLog(ctx, id, storage.LogOptions{})
	if err != nil {
		return nil, err
	}
	sl := &servedLog{backend: b, readOnly: true}
	s.logs = append(s.logs, sl)
	ident, ok, err := b.Identity(ctx)
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, errors.New("the shard has no recorded identity")
	}
	pub, err := x509.ParsePKIXPublicKey(ident.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("the shard's recorded public key: %w", err)
	}
	return s.startReadOnly(ctx, id, sl, ident.Origin, pub)
}

// startReadOnly serves the shard id on sl.backend read-only: frozen, or
// written by another process.
func (s *Server) startReadOnly(ctx context.Context, id string, sl *servedLog, origin string, pub crypto.PublicKey) (*shard, error) {
	b := sl.backend
	sh := &shard{name: id, sl: sl}
	var err error
	if sh.created, err = b.CreatedAt(ctx); err != nil {
		return nil, err
	}
	refusal := &tlog.FrozenError{ReadOnly: true}
	rec, err := b.Frozen(ctx)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		sh.frozen.Store(rec)
		refusal = frozenError(rec)
	}
	logger := s.logger.With("shard", id)
	sl.log, err = tlog.OpenReadOnly(s.logCtx, b.Reader(), tlog.ReadOnlyConfig{
		Origin: origin, PublicKey: pub, Refusal: refusal, AwaitPoll: s.cfg.Log.AwaitPoll, ReadCacheBytes: s.cfg.Log.ReadCacheBytes, Logger: logger,
		// Every shard is a main log (Rekor v2 entries).
		IdentityTiles: &tlog.IdentityTiles{Make: identityTile, Stored: storage.StoredIdentityTiles(b)},
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		logger.Warn("serving a shard that is not frozen read-only: another process writes it (or freeze it: mosaicd freeze --shard " + id + ")")
	}
	return sh, nil
}

// watchShards follows the shards' freezes until ctx ends: a freeze
// recorded by another process (mosaicd freeze, another frontend) takes
// effect here within a second, and a freeze requested of the active file
// shard is carried out here, by its one writer.
func (s *Server) watchShards(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed := false
		for i, sh := range s.shards {
			if sh.frozen.Load() != nil {
				continue
			}
			b := sh.sl.backend
			rec, err := b.Frozen(ctx)
			if err != nil {
				continue // the store is unreachable: readiness says so
			}
			if rec != nil {
				s.noteFrozen(sh, rec)
				changed = true
				continue
			}
			if i == 0 && !sh.sl.readOnly && !sh.freezing.Load() {
				if req, err := b.FreezeRequested(ctx); err == nil && req != nil {
					sh.freezing.Store(true)
					go s.freezeActive(ctx, sh, req.Successor)
				}
			}
		}
		if changed {
			s.refreshClientConfig(ctx)
		}
	}
}

// noteFrozen makes rec the shard's freeze.
func (s *Server) noteFrozen(sh *shard, rec *storage.Frozen) {
	if sh.frozen.CompareAndSwap(nil, rec) {
		sh.sl.log.MarkFrozen(frozenError(rec))
		s.logger.Info("shard frozen: it takes no more entries, and is read at /shards/"+sh.name+"/api/v2/",
			"shard", sh.name, "size", rec.Size, "successor", rec.Successor)
	}
}

// freezeActive freezes the active shard, which this server writes.
func (s *Server) freezeActive(ctx context.Context, sh *shard, successor string) {
	rec, err := freezeLog(ctx, sh.sl.log, sh.sl.backend, successor)
	if err != nil {
		s.logger.Error("freezing the active shard failed; it takes no entries until restarted", "shard", sh.name, "err", err)
		return
	}
	s.noteFrozen(sh, &rec)
	s.refreshClientConfig(ctx)
}

// freezeLog freezes l, written by this process on b: stops its adds and
// b's other writers, waits for the final checkpoint and records it.
func freezeLog(ctx context.Context, l *tlog.Log, b storage.Backend, successor string) (storage.Frozen, error) {
	final, err := l.Freeze(ctx, b.CutOff, successor)
	if err != nil {
		return storage.Frozen{}, err
	}
	return b.RecordFrozen(ctx, storage.Frozen{
		Size: final.Size, Checkpoint: final.Checkpoint, Successor: successor, At: time.Now().UTC(),
	})
}

// apiShards describes the shards to the HTTP layer.
func (s *Server) apiShards() []api.Shard {
	out := make([]api.Shard, len(s.shards))
	for i, sh := range s.shards {
		start := sh.created
		out[i] = api.Shard{
			Name: sh.name, Log: sh.sl.log, Index: sh.index, Active: i == 0, Start: start,
			Frozen: func() *client.ShardFrozen {
				f := sh.frozen.Load()
				if f == nil {
					return nil
				}
				return &client.ShardFrozen{Size: f.Size, Checkpoint: string(f.Checkpoint), At: f.At, Successor: f.Successor}
			},
		}
	}
	return out
}
