package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
)

func TestReady(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.OpenPosix(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Ready(t.Context(), b, time.Minute); err == nil || !strings.Contains(err.Error(), "no checkpoint published") {
		t.Errorf("before any checkpoint: %v", err)
	}
	cp := filepath.Join(dir, "checkpoint")
	if err := os.WriteFile(cp, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := storage.Ready(t.Context(), b, time.Minute); err != nil {
		t.Errorf("fresh checkpoint: %v", err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(cp, old, old)
	if err := storage.Ready(t.Context(), b, time.Minute); err == nil || !strings.Contains(err.Error(), "not being published") {
		t.Errorf("stale checkpoint: %v", err)
	}
	os.RemoveAll(dir)
	if err := storage.Ready(t.Context(), b, time.Minute); err == nil || !strings.Contains(err.Error(), "storage unavailable") {
		t.Errorf("store gone: %v", err)
	}
}

func TestBindIdentity(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.OpenPosix(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	id := storage.Identity{Origin: "log.example.com", PublicKey: []byte("key one")}
	for range 2 {
		if err := storage.BindIdentity(t.Context(), b, dir, id); err != nil {
			t.Fatalf("binding the same identity: %v", err)
		}
	}
	for _, other := range []storage.Identity{
		{Origin: "other.example.com", PublicKey: id.PublicKey},
		{Origin: id.Origin, PublicKey: []byte("key two")},
	} {
		err := storage.BindIdentity(t.Context(), b, dir, other)
		if !errors.Is(err, storage.ErrIdentityMismatch) {
			t.Errorf("binding %+v: %v, want ErrIdentityMismatch", other, err)
		}
	}
}

// openLog opens spec's store and its main log, closed when the test ends.
func openLog(t *testing.T, spec string, opts storage.Options) (storage.Backend, error) {
	t.Helper()
	st, err := storage.Open(t.Context(), spec, opts)
	if err != nil {
		return nil, err
	}
	b, err := st.OpenLog(t.Context(), storage.DefaultLogID, storage.LogOptions{})
	if err != nil {
		st.Close()
		return nil, err
	}
	t.Cleanup(func() { b.Close(); st.Close() })
	return b, nil
}

func TestOpen(t *testing.T) {
	for _, bad := range []string{"", "s3://bucket/log", "mysql://x"} {
		if _, err := storage.Open(t.Context(), bad, storage.Options{}); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
	b, err := openLog(t, "file:"+t.TempDir(), storage.Options{})
	if err != nil || b.Kind() != "posix" {
		t.Fatalf("file: storage: %v", err)
	}
}

// A file store whose directory does not exist is created only when asked
// to: a mistyped directory must not become a new log with a new key.
func TestOpenMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	_, err := storage.Open(t.Context(), "file:"+dir, storage.Options{})
	var nse *storage.NoStoreError
	if !errors.As(err, &nse) || err.Error() != "no log at "+dir+"; pass --init to create one" {
		t.Fatalf("Open of a missing directory: %v, want a NoStoreError saying to pass --init", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused directory was created: %v", err)
	}
	if _, err := openLog(t, "file:"+dir, storage.Options{Create: true}); err != nil {
		t.Fatalf("Open with Create: %v", err)
	}
	if _, err := openLog(t, "file:"+dir, storage.Options{}); err != nil {
		t.Errorf("reopening the created store: %v", err)
	}
}

// The logs of a PostgreSQL store share its one pool, and its schema is
// checked once, by Open: a log opened afterwards does not check it again.
func TestPostgresOneStore(t *testing.T) {
	ctx := t.Context()
	st, err := storage.Open(ctx, pgtest.NewDatabase(t), storage.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Kind() != "postgres" || st.Postgres() == nil || st.Dir() != "" {
		t.Fatalf("kind %q, pool %v, dir %q", st.Kind(), st.Postgres(), st.Dir())
	}
	// A schema from the future: a check would refuse it.
	if _, err := st.Postgres().Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (100000, now())`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{storage.DefaultLogID, "certlog"} {
		b, err := st.OpenLog(ctx, id, storage.LogOptions{})
		if err != nil {
			t.Fatalf("log %s: %v (its schema was checked again)", id, err)
		}
		defer b.Close()
		if pool := b.Driver().(*postgres.Store).Pool(); pool != st.Postgres() {
			t.Errorf("log %s has a pool of its own", id)
		}
	}
}

func TestPostgresSchemaCheckedByOpen(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	if _, err := storage.Open(ctx, url, storage.Options{}); !errors.Is(err, postgres.ErrSchemaOutdated) {
		t.Errorf("Open of an unmigrated database without AutoMigrate: %v, want ErrSchemaOutdated", err)
	}
}
