package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// cost is what one operation asked of PostgreSQL.
type cost struct {
	roundTrips, statements, commits, rollbacks int
}

func (c cost) String() string {
	return fmt.Sprintf("%d round trips, %d statements, %d commits, %d rollbacks", c.roundTrips, c.statements, c.commits, c.rollbacks)
}

// costOf runs f and returns what it cost under op.
func costOf(t *testing.T, m *Metrics, op string, f func()) cost {
	t.Helper()
	read := func() cost {
		return cost{
			roundTrips: int(testutil.ToFloat64(m.roundTrips.WithLabelValues(op))),
			statements: int(testutil.ToFloat64(m.statements.WithLabelValues(op))),
			commits:    int(testutil.ToFloat64(m.transactions.WithLabelValues(op, "commit"))),
			rollbacks:  int(testutil.ToFloat64(m.transactions.WithLabelValues(op, "rollback"))),
		}
	}
	before := read()
	f()
	after := read()
	return cost{after.roundTrips - before.roundTrips, after.statements - before.statements,
		after.commits - before.commits, after.rollbacks - before.rollbacks}
}

// testAppender is an appender whose steps the test drives itself: no
// batcher and no background goroutines.
func testAppender(t *testing.T, dedup bool) *appender {
	t.Helper()
	ctx := context.Background()
	s, err := New(ctx, Config{URL: pgtest.NewDatabase(t), AutoMigrate: true, Dedup: dedup,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	signer, _ := storagetest.NewSigner(t, "test.mosaic.example")
	// An hour between checkpoints: only the first attempt publishes.
	opts := tessera.NewAppendOptions().WithCheckpointSigner(signer).WithCheckpointInterval(time.Hour)
	return &appender{
		s:              s,
		pushbackMax:    1 << 20,
		cpInterval:     opts.CheckpointInterval(),
		cpRepublish:    opts.CheckpointRepublishInterval(),
		publishCP:      opts.CheckpointPublisher(s, s.cfg.HTTPClient),
		integrateWakes: make(chan struct{}, 1),
		publishWakes:   make(chan struct{}, 1),
	}
}

func testEntries(from, n int) []*tessera.Entry {
	entries := make([]*tessera.Entry, n)
	for i := range entries {
		entries[i] = tessera.NewEntry(fmt.Appendf(nil, "round trip entry %d", from+i))
	}
	return entries
}

// TestRoundTrips holds the driver to the round trips, statements and
// transactions each step of the write path costs, counted by the tracer
// the driver installs on its pool. Counts are deterministic, so a change
// that adds a round trip to the hot path fails here. Update the limits only
// downwards, and docs/benchmarks.md ("PostgreSQL round trips") with them.
func TestRoundTrips(t *testing.T) {
	for _, dedup := range []bool{false, true} {
		t.Run(fmt.Sprintf("dedup=%t", dedup), func(t *testing.T) {
			ctx := context.Background()
			a := testAppender(t, dedup)
			m := a.s.metrics
			const batch = 100
			var got = map[string]cost{}
			n := 0
			// Two rounds: the second, which finds the tree's right edge
			// (partial tiles and bundle) stored, is the steady state.
			for round := range 2 {
				seq := costOf(t, m, opSequence, func() {
					if _, err := a.sequence(ctx, testEntries(n, batch)); err != nil {
						t.Fatalf("sequence: %v", err)
					}
				})
				n += batch
				var res integration
				integ := costOf(t, m, opIntegrate, func() {
					var err error
					if res, err = a.s.integrate(ctx, DefaultIntegrationBatchLimit); err != nil {
						t.Fatalf("integrate: %v", err)
					}
				})
				if res.to != uint64(n) {
					t.Fatalf("integrated to %d, want %d", res.to, n)
				}
				idle := costOf(t, m, opIntegrate, func() {
					if _, err := a.s.integrate(ctx, DefaultIntegrationBatchLimit); err != nil {
						t.Fatalf("integrate: %v", err)
					}
				})
				if round == 0 {
					pub := costOf(t, m, opPublish, func() {
						if _, err := a.publish(ctx); err != nil {
							t.Fatalf("publish: %v", err)
						}
					})
					got["publish"] = pub
				} else {
					got["sequence"], got["integrate"], got["integrate (nothing to do)"] = seq, integ, idle
					// What a proof against the new tree reads: its right edge.
					got["read new right edge"] = costOf(t, m, opRead, func() {
						size := uint64(n)
						for _, k := range rightEdge(size) {
							w := layout.PartialTileSize(k.level, k.index, size)
							if _, err := a.s.ReadTile(ctx, k.level, k.index, w); err != nil {
								t.Fatalf("ReadTile: %v", err)
							}
						}
						if _, err := a.s.ReadEntryBundle(ctx, size/bundleWidth, uint8(size%bundleWidth)); err != nil {
							t.Fatalf("ReadEntryBundle: %v", err)
						}
					})
					got["publish (too early)"] = costOf(t, m, opPublish, func() {
						if _, err := a.publish(ctx); err != nil {
							t.Fatalf("publish: %v", err)
						}
					})
				}
			}
			// Another frontend integrating and publishing: it holds the
			// int_coord and pub_coord row locks.
			other, err := a.s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Rollback(ctx)
			if _, err := other.Exec(ctx, `SELECT 1 FROM int_coord, pub_coord FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			if _, err := a.sequence(ctx, testEntries(n, 1)); err != nil {
				t.Fatalf("sequence: %v", err)
			}
			got["integrate (lock taken)"] = costOf(t, m, opIntegrate, func() {
				if res, err := a.s.integrate(ctx, DefaultIntegrationBatchLimit); err != nil || !res.busy {
					t.Fatalf("integrate while another frontend holds the lock: %+v, %v; want busy", res, err)
				}
			})
			// Dedup adds the identities lookup to the first round trip and
			// their insert to the second.
			seqStatements := 7
			if dedup {
				seqStatements = 9
			}
			limits := map[string]cost{
				// BEGIN+settings+lock (+lookup); writes+COMMIT.
				"sequence": {roundTrips: 2, statements: seqStatements, commits: 1},
				// Idle check; BEGIN+settings+lock+reads; writes+COMMIT.
				"integrate":                 {roundTrips: 3, statements: 12, commits: 1},
				"integrate (nothing to do)": {roundTrips: 1, statements: 1},
				// Lock taken: idle check; BEGIN+settings+lock+reads; ROLLBACK.
				"integrate (lock taken)": {roundTrips: 3, statements: 8, rollbacks: 1},
				// Check; BEGIN+settings+lock+read; UPDATE+COMMIT.
				"publish":             {roundTrips: 3, statements: 7, commits: 1},
				"publish (too early)": {roundTrips: 1, statements: 1},
				// Integration caches what it committed.
				"read new right edge": {},
			}
			for step, c := range got {
				t.Logf("%-26s %v", step+":", c)
				l := limits[step]
				if c.roundTrips > l.roundTrips || c.statements > l.statements || c.commits > l.commits || c.rollbacks > l.rollbacks {
					t.Errorf("%s cost %v; the limit is %v", step, c, l)
				}
			}
		})
	}
}

// TestIdentityLookupPlan checks that the dedup lookup stays one primary key
// probe per identity while the table's statistics describe it as nearly
// empty (a young log, before autovacuum analyzes it): the plain
// identity = ANY($2) form then scans every identity of the log per batch.
func TestIdentityLookupPlan(t *testing.T) {
	ctx := context.Background()
	a := testAppender(t, true)
	pool := a.s.pool
	for _, q := range []string{
		`INSERT INTO identities (log_id, identity, idx) VALUES ('main', '\x01', 0)`,
		`ANALYZE identities`,
		`INSERT INTO identities (log_id, identity, idx)
			SELECT 'main', sha256(i::text::bytea), i FROM generate_series(1, 5000) AS i`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET plan_cache_mode`)
	rows, err := conn.Query(ctx, `EXPLAIN `+lookupIdentitiesSQL, "main", [][]byte{{1}, {2}})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "Index Cond: ((log_id = ") || !strings.Contains(plan, "AND (identity = q.identity))") {
		t.Errorf("the identity lookup is not a primary key probe per identity:\n%s", plan)
	}
}
