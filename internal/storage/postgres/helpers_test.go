package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"

	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// quietLogger logs warnings and errors to stderr: background goroutines may
// log after a test has finished, when t.Log is no longer allowed.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newStore opens a store on url (migrating it) and closes it in t.Cleanup.
func newStore(t testing.TB, url string, edit func(*postgres.Config)) *postgres.Store {
	t.Helper()
	cfg := postgres.Config{URL: url, AutoMigrate: true, Logger: quietLogger()}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.New(ctx, cfg)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newPool opens a pool on url and closes it in t.Cleanup.
func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// logKey is a checkpoint signer shared by all frontends of one test log.
type logKey struct {
	origin   string
	signer   note.Signer
	verifier note.Verifier
}

func newLogKey(t testing.TB) logKey {
	origin := "test.mosaic.example"
	s, v := storagetest.NewSigner(t, origin)
	return logKey{origin: origin, signer: s, verifier: v}
}

// frontend is one appender over a store, as one mosaicd process runs it.
type frontend struct {
	store    *postgres.Store
	appender *tessera.Appender
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
}

// startFrontend starts an appender on s with opts (completed with the key and
// a 100 ms checkpoint interval). It is shut down in t.Cleanup.
func startFrontend(t testing.TB, s *postgres.Store, key logKey, opts *tessera.AppendOptions) *frontend {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts = opts.WithCheckpointSigner(key.signer).WithCheckpointInterval(100 * time.Millisecond)
	app, shutdown, reader, err := tessera.NewAppender(ctx, s, opts)
	if err != nil {
		cancel()
		t.Fatalf("tessera.NewAppender: %v", err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := shutdown(sctx); err != nil {
			t.Errorf("appender shutdown: %v", err)
		}
		cancel()
	})
	return &frontend{store: s, appender: app, reader: reader,
		awaiter: tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 10*time.Millisecond)}
}

// waitCheckpoint waits up to a minute for a verified checkpoint of at least
// size.
func waitCheckpoint(t testing.TB, r tessera.LogReader, key logKey, size uint64) *log.Checkpoint {
	t.Helper()
	ctx := context.Background()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		raw, err := r.ReadCheckpoint(ctx)
		if errors.Is(err, os.ErrNotExist) {
			last = err
			continue
		}
		if err != nil {
			t.Fatalf("ReadCheckpoint: %v", err)
		}
		cp, _, _, err := log.ParseCheckpoint(raw, key.origin, key.verifier)
		if err != nil {
			t.Fatalf("checkpoint does not verify: %v", err)
		}
		if cp.Size >= size {
			return cp
		}
		last = nil
	}
	t.Fatalf("no checkpoint of size >= %d within a minute (last error %v)", size, last)
	return nil
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
