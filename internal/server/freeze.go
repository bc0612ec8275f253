package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// FreezeConfig is what Freeze needs: the store and shard, and the shard's
// signing key, to publish the final checkpoint when no server does.
type FreezeConfig struct {
	Storage     string
	AutoMigrate bool
	// Shard is the shard to freeze (empty: "main").
	Shard string
	// Key is the shard's checkpoint signing key; the store must have
	// recorded it for the shard.
	Key crypto.Signer
	// Successor says where new entries go instead (a URL, a shard); it is
	// part of every refusal of a write to the frozen shard.
	Successor string
	// Log holds the publication settings used when this process publishes
	// the final checkpoint itself (CheckpointInterval and friends).
	Log    tlog.Config
	Logger *slog.Logger
}

// FreezeResult says what Freeze did.
type FreezeResult struct {
	Origin string
	Frozen storage.Frozen
	// Already: the shard was frozen before. ByServer: the server writing
	// the (file) shard froze it on request.
	Already, ByServer bool
}

// Freeze freezes a shard of a store, whether or not a server is serving
// it, and returns its freeze record. On PostgreSQL it stops every
// frontend's sequencing in the database and publishes the final checkpoint
// itself (beside any frontend). A file shard has one writer: if a server
// writes it, Freeze asks that server (which stops its adds, drains them and
// records the freeze) and waits, within ctx, for the record; otherwise it
// takes the writer lock and freezes the shard itself. Freezing a frozen
// shard returns its record.
func Freeze(ctx context.Context, cfg FreezeConfig) (*FreezeResult, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Shard == "" {
		cfg.Shard = storage.DefaultLogID
	}
	st, err := storage.Open(ctx, cfg.Storage, storage.Options{AutoMigrate: cfg.AutoMigrate, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	b, err := st.OpenLog(ctx, cfg.Shard, storage.LogOptions{})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ident, ok, err := b.Identity(ctx)
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("no shard %q in %s", cfg.Shard, storage.Redact(cfg.Storage))
	}
	res := &FreezeResult{Origin: ident.Origin}
	if rec, err := b.Frozen(ctx); err != nil || rec != nil {
		if rec != nil {
			res.Frozen, res.Already = *rec, true
		}
		return res, err
	}
	unlock, err := b.WriterLock()
	if errors.Is(err, storage.ErrWriterLocked) {
		rec, err := requestFreeze(ctx, b, cfg.Successor)
		if err != nil {
			return nil, err
		}
		res.Frozen, res.ByServer = rec, true
		return res, nil
	} else if err != nil {
		return nil, err
	}
	defer unlock()
	der, err := x509.MarshalPKIXPublicKey(cfg.Key.Public())
	if err != nil {
		return nil, err
	}
	if err := storage.BindIdentity(ctx, b, "shard "+cfg.Shard, storage.Identity{Origin: ident.Origin, PublicKey: der}); err != nil {
		return nil, err
	}
	lc := cfg.Log
	lc.Origin, lc.Key, lc.Logger, lc.CutOffErr = ident.Origin, cfg.Key, cfg.Logger, storage.ErrFrozen
	lc.Dedup, lc.Witnesses = nil, nil
	if lc.AntispamInMemory == 0 {
		lc.AntispamInMemory = 1 // Tessera needs one; this process adds nothing
	}
	l, err := tlog.New(ctx, b.Driver(), lc)
	if err != nil {
		return nil, err
	}
	rec, ferr := freezeLog(ctx, l, b, cfg.Successor)
	if err := l.Close(ctx); err != nil && ferr == nil {
		ferr = err
	}
	if ferr != nil {
		return nil, ferr
	}
	res.Frozen = rec
	return res, nil
}

// requestFreeze asks the server writing file shard b to freeze it, and
// waits for the record.
func requestFreeze(ctx context.Context, b storage.Backend, successor string) (storage.Frozen, error) {
	if err := b.RequestFreeze(ctx, storage.FreezeRequest{Successor: successor, At: time.Now().UTC()}); err != nil {
		return storage.Frozen{}, err
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		rec, err := b.Frozen(ctx)
		if err != nil {
			return storage.Frozen{}, err
		}
		if rec != nil {
			return *rec, nil
		}
		select {
		case <-ctx.Done():
			return storage.Frozen{}, fmt.Errorf("the server writing the shard did not freeze it in time "+
				"(the request stands: it freezes the shard when it sees it; check its log): %w", ctx.Err())
		case <-t.C:
		}
	}
}
