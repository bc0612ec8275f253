package index_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/index/indextest"
	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
)

func TestBadgerStore(t *testing.T) {
	indextest.Run(t, func(t *testing.T) indextest.Opener {
		dir := t.TempDir()
		return func(t *testing.T) index.Store {
			s, err := index.OpenBadger(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func TestPostgresStore(t *testing.T) {
	indextest.Run(t, func(t *testing.T) indextest.Opener {
		pool := migratedPool(t)
		return func(t *testing.T) index.Store { return newPostgresStore(t, pool, "main") }
	})
}

// migratedPool is a pool on a fresh, migrated database, closed when t ends.
func migratedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func newPostgresStore(t testing.TB, pool *pgxpool.Pool, logID string) *index.PostgresStore {
	t.Helper()
	s, err := index.NewPostgresStore(context.Background(), pool, logID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPostgresStoreLogs checks that two logs in one database have separate
// indexes.
func TestPostgresStoreLogs(t *testing.T) {
	pool := migratedPool(t)
	a, b := newPostgresStore(t, pool, "main"), newPostgresStore(t, pool, "other")
	key := index.Key{Kind: index.KindSAN, Value: "alice@example.com"}
	ctx := context.Background()
	if err := a.Commit(ctx, &index.Batch{From: 0, To: 3, Postings: []index.Posting{{Key: key, Index: 2}}}); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Position(ctx); err != nil || p.Size != 0 {
		t.Errorf("other log's position %+v, %v; want 0", p, err)
	}
	if got, err := b.Lookup(ctx, []index.Key{key}, 0, 10); err != nil || len(got) != 0 {
		t.Errorf("other log's lookup %v, %v; want nothing", got, err)
	}
	// Reopening a log's store keeps its position.
	if p, err := newPostgresStore(t, pool, "main").Position(ctx); err != nil || p.Size != 3 {
		t.Errorf("reopened position %+v, %v; want 3", p, err)
	}
}

// TestPostgresStoreConcurrentCommits races several frontends committing
// the same batches: each batch is committed exactly once, the others get
// ErrPositionMoved, and the position ends at the last batch.
func TestPostgresStoreConcurrentCommits(t *testing.T) {
	pool := migratedPool(t)
	const frontends, batches = 4, 20
	stores := make([]*index.PostgresStore, frontends)
	for i := range stores {
		stores[i] = newPostgresStore(t, pool, "main")
	}
	key := index.Key{Kind: index.KindIssuer, Value: "https://issuer.example"}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, frontends*batches)
	for _, s := range stores {
		wg.Go(func() {
			for n := uint64(0); n < batches; {
				p, err := s.Position(ctx)
				if err != nil {
					errs <- err
					return
				}
				n = p.Size
				if n >= batches {
					return
				}
				err = s.Commit(ctx, &index.Batch{From: n, To: n + 1, Postings: []index.Posting{{Key: key, Index: n}}})
				if err != nil && !errors.Is(err, index.ErrPositionMoved) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := stores[0].Lookup(ctx, []index.Key{key}, 0, 100)
	if err != nil || len(got) != batches {
		t.Fatalf("lookup %v, %v; want every index once", got, err)
	}
	for i, v := range got {
		if v != uint64(i) {
			t.Fatalf("lookup %v, want 0..%d", got, batches-1)
		}
	}
}

func TestPostgresStoreUnmigrated(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	_, err = index.NewPostgresStore(context.Background(), pool, "main")
	if err == nil || !strings.Contains(err.Error(), "mosaicd migrate") {
		t.Errorf("NewPostgresStore on an empty database: %v, want a hint to run mosaicd migrate", err)
	}
	if _, err := index.NewPostgresStore(context.Background(), pool, ""); err == nil {
		t.Error("NewPostgresStore with an empty log ID succeeded")
	}
}

func TestBadgerStoreLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := index.OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if other, err := index.OpenBadger(dir, nil); err == nil {
		other.Close()
		t.Fatal("a second OpenBadger of the same directory succeeded")
	} else if !strings.Contains(err.Error(), "another mosaicd") {
		t.Errorf("second open: %v, want a hint about another process", err)
	}
}
