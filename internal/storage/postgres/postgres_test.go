package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/mosaiclog/mosaic/migrations"
)

// TestNewAppender checks the driver works through tessera.NewAppender (the
// contract is an unexported interface there) and runs one appender only.
func TestNewAppender(t *testing.T) {
	metrics := postgres.NewMetrics("main")
	reg := prometheus.NewRegistry()
	for _, c := range metrics.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t, pgtest.NewDatabase(t), func(c *postgres.Config) { c.Metrics = metrics })
	if _, err := s.CheckpointPublishedAt(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckpointPublishedAt before any checkpoint: %v, want os.ErrNotExist", err)
	}
	key := newLogKey(t)
	fe := startFrontend(t, s, key, tessera.NewAppendOptions())
	idx, cp, err := fe.awaiter.Await(context.Background(), fe.appender.Add(context.Background(), tessera.NewEntry([]byte("hello"))))
	if err != nil {
		t.Fatalf("adding an entry: %v", err)
	}
	if idx.Index != 0 || idx.IsDup {
		t.Errorf("first entry got %+v, want index 0, not a duplicate", idx)
	}
	if !bytes.HasPrefix(cp, []byte(key.origin+"\n1\n")) {
		t.Errorf("checkpoint after one entry:\n%s", cp)
	}
	opts := tessera.NewAppendOptions().WithCheckpointSigner(key.signer)
	if _, _, _, err := tessera.NewAppender(context.Background(), s, opts); err == nil {
		t.Error("a second appender on the same store started")
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if at, err := s.CheckpointPublishedAt(context.Background()); err != nil || time.Since(at) > time.Minute {
		t.Errorf("CheckpointPublishedAt after publishing: %v, %v", at, err)
	}
	got := gather(t, reg)
	for name, want := range map[string]float64{
		"mosaic_storage_sequenced_entries_total":  1,
		"mosaic_storage_integrity_failures_total": 0,
		"mosaic_storage_published_size_entries":   1,
	} {
		if got[name] != want {
			t.Errorf("metric %s = %v, want %v", name, got[name], want)
		}
	}
}

// gather returns the value of every counter and gauge in reg.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// TestCallerOwnedPool checks a store on the caller's pool leaves it open.
func TestCallerOwnedPool(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, pgtest.NewDatabase(t))
	s, err := postgres.New(ctx, postgres.Config{Pool: pool, AutoMigrate: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Errorf("the caller's pool was closed with the store: %v", err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, pgtest.NewDatabase(t))
	latest, err := postgres.LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := postgres.SchemaVersion(ctx, pool); err != nil || v != 0 {
		t.Fatalf("empty database: SchemaVersion = %d, %v; want 0", v, err)
	}
	for i := range 3 {
		if err := postgres.Migrate(ctx, pool); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
		if v, err := postgres.SchemaVersion(ctx, pool); err != nil || v != latest {
			t.Fatalf("after Migrate #%d: SchemaVersion = %d, %v; want %d", i+1, v, err, latest)
		}
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != latest {
		t.Errorf("schema_migrations has %d rows (%v), want %d", rows, err, latest)
	}
	// Every file is idempotent: re-running it by hand (as an operator
	// might) succeeds and changes nothing.
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			t.Errorf("re-running %s: %v", m.Name, err)
		}
	}
	for _, table := range []string{"seq_coord", "tiles", "bundles", "identities", "log_identity"} {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s missing after migration (%v)", table, err)
		}
	}
}

func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	errs := make(chan error, n)
	for range n {
		pool := newPool(t, url)
		go func() { errs <- postgres.Migrate(context.Background(), pool) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	latest, _ := postgres.LatestSchemaVersion()
	if v, err := postgres.SchemaVersion(context.Background(), newPool(t, url)); err != nil || v != latest {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latest)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pool := newPool(t, url)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	latest, _ := postgres.LatestSchemaVersion()
	if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, latest+1); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("database schema version %d is newer than this mosaicd knows (%d); upgrade mosaicd", latest+1, latest)
	_, err := postgres.New(ctx, postgres.Config{URL: url, AutoMigrate: true, Logger: quietLogger()})
	if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(err.Error(), want) {
		t.Errorf("New on a newer schema: %v; want ErrSchemaTooNew saying %q", err, want)
	}
	if err := postgres.Migrate(ctx, pool); !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Errorf("Migrate on a newer schema: %v; want ErrSchemaTooNew", err)
	}
}

func TestPendingMigrationsNeedMigrate(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	_, err := postgres.New(ctx, postgres.Config{URL: url, Logger: quietLogger()})
	if !errors.Is(err, postgres.ErrSchemaOutdated) || !strings.Contains(err.Error(), "mosaicd migrate") {
		t.Fatalf("New without AutoMigrate on an empty database: %v; want ErrSchemaOutdated naming `mosaicd migrate`", err)
	}
	if err := postgres.Migrate(ctx, newPool(t, url)); err != nil {
		t.Fatal(err)
	}
	newStore(t, url, func(c *postgres.Config) { c.AutoMigrate = false })
}

func TestUnreachableDatabaseFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := postgres.New(ctx, postgres.Config{URL: "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", Logger: quietLogger()})
	if err == nil {
		t.Fatal("New succeeded against a closed port")
	}
	if ctx.Err() != nil {
		t.Fatalf("New took until the test deadline: %v", err)
	}
}

func TestClosedStoreReturnsErrors(t *testing.T) {
	s := newStore(t, pgtest.NewDatabase(t), nil)
	s.Close()
	ctx := context.Background()
	if _, err := s.ReadCheckpoint(ctx); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadCheckpoint on a closed store: %v", err)
	}
	if _, err := s.IntegratedSize(ctx); err == nil {
		t.Error("IntegratedSize on a closed store succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping on a closed store succeeded")
	}
	if _, _, err := s.Appender(ctx, tessera.NewAppendOptions()); err == nil {
		t.Error("Appender on a closed store succeeded")
	}
}

func TestRecordIdentity(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	stores := []*postgres.Store{newStore(t, url, nil), newStore(t, url, nil), newStore(t, url, nil)}
	type result struct {
		origin string
		key    []byte
		err    error
	}
	results := make([]result, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			o, k, err := s.RecordIdentity(ctx, fmt.Sprintf("origin-%d", i), []byte{byte(i + 1)})
			results[i] = result{o, k, err}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("store %d: %v", i, r.err)
		}
		if r.origin != results[0].origin || !bytes.Equal(r.key, results[0].key) {
			t.Errorf("store %d recorded (%q, %x), store 0 (%q, %x)", i, r.origin, r.key, results[0].origin, results[0].key)
		}
	}
	o, k, err := stores[0].RecordIdentity(ctx, "another", []byte("another key"))
	if err != nil || o != results[0].origin || !bytes.Equal(k, results[0].key) {
		t.Errorf("RecordIdentity after the first: (%q, %x, %v), want the first identity", o, k, err)
	}
	other := newStore(t, url, func(c *postgres.Config) { c.LogID = "other" })
	if o, _, err := other.RecordIdentity(ctx, "other-origin", []byte("k")); err != nil || o != "other-origin" {
		t.Errorf("a second log in the same database: (%q, %v), want its own identity", o, err)
	}
}

func TestDedupSettingIsFixed(t *testing.T) {
	url := pgtest.NewDatabase(t)
	newStore(t, url, func(c *postgres.Config) { c.Dedup = true })
	_, err := postgres.New(context.Background(), postgres.Config{URL: url, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "dedup=true") {
		t.Errorf("opening a dedup log without dedup: %v, want an error", err)
	}
}

// TestPartialReadsAreExact checks .p/W reads return exactly W hashes or
// entries, that reads beyond what is integrated fail with os.ErrNotExist,
// and that full tiles and bundles are served once full.
func TestPartialReadsAreExact(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, pgtest.NewDatabase(t), nil)
	key := newLogKey(t)
	fe := startFrontend(t, s, key, tessera.NewAppendOptions().WithBatching(64, 5*time.Millisecond))
	addAll(t, fe, 0, 100)
	waitCheckpoint(t, s, key, 100)

	mustNotExist := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: err %v, want os.ErrNotExist", what, err)
		}
	}
	mustNotExist("full tile 0/0 at size 100", errOnly(s.ReadTile(ctx, 0, 0, 0)))
	mustNotExist("tile 0/0.p/101 at size 100", errOnly(s.ReadTile(ctx, 0, 0, 101)))
	mustNotExist("tile 1/0.p/1 at size 100", errOnly(s.ReadTile(ctx, 1, 0, 1)))
	mustNotExist("full bundle 0 at size 100", errOnly(s.ReadEntryBundle(ctx, 0, 0)))
	mustNotExist("bundle 0.p/101 at size 100", errOnly(s.ReadEntryBundle(ctx, 0, 101)))
	t100 := mustRead(t)(s.ReadTile(ctx, 0, 0, 100))
	t37 := mustRead(t)(s.ReadTile(ctx, 0, 0, 37))
	if len(t100) != 100*32 || len(t37) != 37*32 || !bytes.Equal(t37, t100[:37*32]) {
		t.Fatalf("tile 0/0.p/100 has %d bytes and .p/37 %d bytes; want 3200 and its 1184-byte prefix", len(t100), len(t37))
	}
	checkBundle(t, mustRead(t)(s.ReadEntryBundle(ctx, 0, 37)), 0, 37)
	checkBundle(t, mustRead(t)(s.ReadEntryBundle(ctx, 0, 100)), 0, 100)

	addAll(t, fe, 100, 300)
	waitCheckpoint(t, s, key, 300)
	full := mustRead(t)(s.ReadTile(ctx, 0, 0, 0))
	if len(full) != 8192 || !bytes.Equal(full[:3200], t100) {
		t.Fatalf("full tile 0/0: %d bytes; want 8192 starting with the earlier .p/100", len(full))
	}
	if again := mustRead(t)(s.ReadTile(ctx, 0, 0, 100)); !bytes.Equal(again, t100) {
		t.Error("tile 0/0.p/100 changed after the tile filled up")
	}
	if top := mustRead(t)(s.ReadTile(ctx, 1, 0, 1)); len(top) != 32 {
		t.Errorf("tile 1/0.p/1 at size 300 has %d bytes, want 32", len(top))
	}
	checkBundle(t, mustRead(t)(s.ReadEntryBundle(ctx, 0, 0)), 0, 256)
	checkBundle(t, mustRead(t)(s.ReadEntryBundle(ctx, 1, 44)), 256, 44)
	checkBundle(t, mustRead(t)(s.ReadEntryBundle(ctx, 0, 100)), 0, 100)
}

func errOnly(_ []byte, err error) error { return err }

func mustRead(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// entryData is the data of the test entry with number i.
func entryData(i int) []byte { return fmt.Appendf(nil, "entry %d", i) }

// addAll adds entries from..to-1 through fe in order, waits for publication
// and checks they got the indices from..to-1.
func addAll(t *testing.T, fe *frontend, from, to int) {
	t.Helper()
	ctx := context.Background()
	futures := make([]tessera.IndexFuture, 0, to-from)
	for i := from; i < to; i++ {
		futures = append(futures, fe.appender.Add(ctx, tessera.NewEntry(entryData(i))))
	}
	for i, f := range futures {
		idx, _, err := fe.awaiter.Await(ctx, f)
		if err != nil {
			t.Fatalf("entry %d: %v", from+i, err)
		}
		if idx.Index != uint64(from+i) {
			t.Fatalf("entry %d got index %d", from+i, idx.Index)
		}
	}
}

// checkBundle checks raw holds exactly entries first..first+n-1.
func checkBundle(t *testing.T, raw []byte, first, n int) {
	t.Helper()
	var eb api.EntryBundle
	if err := eb.UnmarshalText(raw); err != nil {
		t.Fatal(err)
	}
	if len(eb.Entries) != n {
		t.Fatalf("bundle has %d entries, want %d", len(eb.Entries), n)
	}
	for i, e := range eb.Entries {
		if !bytes.Equal(e, entryData(first+i)) {
			t.Fatalf("bundle entry %d is %q, want %q", i, e, entryData(first+i))
		}
	}
}

// TestPushback stalls integration by holding the int_coord row lock and
// checks that sequencing then refuses batches with tessera.ErrPushback, and
// recovers once integration resumes.
func TestPushback(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := newStore(t, url, nil)
	key := newLogKey(t)
	fe := startFrontend(t, s, key, tessera.NewAppendOptions().WithBatching(4, time.Millisecond).WithPushback(8))
	waitCheckpoint(t, s, key, 0)

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM int_coord WHERE log_id = 'main' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var ok, pushedBack int
	for i := range 40 {
		_, err := fe.appender.Add(ctx, tessera.NewEntry(entryData(i)))()
		switch {
		case err == nil:
			ok++
		case errors.Is(err, tessera.ErrPushback) && errors.Is(err, tessera.ErrPushbackIntegration):
			pushedBack++
		default:
			t.Fatalf("entry %d: %v, want nil or tessera.ErrPushbackIntegration", i, err)
		}
	}
	if ok < 8 || ok > 12 || pushedBack == 0 {
		t.Errorf("with integration stalled and pushback at 8: %d sequenced, %d pushed back; want 8-12 and some", ok, pushedBack)
	}
	if n, err := s.IntegratedSize(ctx); err != nil || n != 0 {
		t.Errorf("IntegratedSize while stalled = %d, %v; want 0", n, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "integration to resume", func() bool {
		n, err := s.IntegratedSize(ctx)
		return err == nil && n == uint64(ok)
	})
	idx, _, err := fe.awaiter.Await(ctx, fe.appender.Add(ctx, tessera.NewEntry([]byte("after"))))
	if err != nil || idx.Index != uint64(ok) {
		t.Errorf("adding after integration resumed: %+v, %v; want index %d", idx, err, ok)
	}
}

// TestLogsAreIndependent runs two logs in one database.
func TestLogsAreIndependent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	key := newLogKey(t)
	a := startFrontend(t, newStore(t, url, nil), key, tessera.NewAppendOptions().WithBatching(16, 5*time.Millisecond))
	b := startFrontend(t, newStore(t, url, func(c *postgres.Config) { c.LogID = "certs" }), key,
		tessera.NewAppendOptions().WithBatching(16, 5*time.Millisecond))
	addAll(t, a, 0, 40)
	addAll(t, b, 0, 10)
	ca, cb := waitCheckpoint(t, a.store, key, 40), waitCheckpoint(t, b.store, key, 10)
	if ca.Size != 40 || cb.Size != 10 {
		t.Errorf("checkpoint sizes %d and %d, want 40 and 10", ca.Size, cb.Size)
	}
	checkBundle(t, mustRead(t)(b.store.ReadEntryBundle(context.Background(), 0, 10)), 0, 10)
}

// TestSurvivesTerminatedConnections kills every connection to the database
// while a frontend runs (as a PostgreSQL restart would), and checks the
// frontend recovers: pooled connections and the LISTEN connection reconnect.
func TestSurvivesTerminatedConnections(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := newStore(t, url, nil)
	key := newLogKey(t)
	fe := startFrontend(t, s, key, tessera.NewAppendOptions().WithBatching(8, 5*time.Millisecond))
	addAll(t, fe, 0, 20)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	err = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed)
	if err != nil || killed == 0 {
		t.Fatalf("terminating connections: %d killed, %v", killed, err)
	}
	for i := 20; i < 40; i++ {
		var idx tessera.Index
		var err error
		for try := 0; try < 20; try++ {
			if idx, _, err = fe.awaiter.Await(ctx, fe.appender.Add(ctx, tessera.NewEntry(entryData(i)))); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("entry %d after the connections were killed: %v", i, err)
		}
		if idx.Index < 20 {
			t.Fatalf("entry %d got index %d", i, idx.Index)
		}
	}
	waitCheckpoint(t, s, key, 40)
}
