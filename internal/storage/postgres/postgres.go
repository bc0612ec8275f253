package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/outage"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
)

// ErrIntegrity marks a failed consistency check on stored data: a gap or
// overlap between sequenced batches, a tile or bundle of the wrong size, or a
// tree whose recomputed root differs from the recorded one. The driver never
// builds on such data; an operator must investigate.
var ErrIntegrity = errors.New("log storage integrity failure")

// Defaults for the Config knobs left zero.
const (
	// DefaultLogID names the log when Config.LogID is empty.
	DefaultLogID = "main"
	// DefaultTileCacheSize is the number of tiles (at most 8 KiB each) cached.
	DefaultTileCacheSize = 4096
	// DefaultBundleCacheSize is the number of entry bundles cached.
	DefaultBundleCacheSize = 512
	// DefaultIntegrationBatchLimit is the entries integrated per transaction.
	DefaultIntegrationBatchLimit = 16384
	// DefaultStatementTimeout bounds each statement and read.
	DefaultStatementTimeout = 10 * time.Second
	// DefaultLockTimeout bounds each wait for a row lock.
	DefaultLockTimeout = 5 * time.Second
	// DefaultIdleInTxTimeout is the idle_in_transaction_session_timeout set
	// on the driver's sessions and transactions. Checkpoint publishing,
	// including witnessing, must finish within it.
	DefaultIdleInTxTimeout = 60 * time.Second
)

// Config says which database and log a Store serves.
type Config struct {
	// Pool is a connection pool owned by the caller, who closes it after the
	// Store. While an appender runs the store keeps one connection of its own
	// (taken out of the pool) for LISTEN. Either Pool or URL must be set.
	Pool *pgxpool.Pool
	// URL is a postgres:// connection string, used when Pool is nil. The Store
	// then owns its pool and closes it in Close.
	URL string
	// SchemaChecked says that the caller checked Pool's schema (Connect
	// did), so New does not check it again: several logs opened on one
	// pool check it once.
	SchemaChecked bool
	// LogID names the log within the database: 1 to 64 letters, digits, '.',
	// '_' or '-'. Default DefaultLogID.
	LogID string
	// Dedup makes the driver deduplicate entries authoritatively: an entry
	// whose identity (SHA-256 of its data, or Identity's) was logged before
	// resolves to the earlier index with IsDup set, across all frontends.
	// Fixed when the log is created; opening a log with another setting
	// fails.
	Dedup bool
	// Identity computes the identity Dedup keys an entry on from its data,
	// in place of Tessera's (tessera.Entry.Identity: SHA-256 of the data),
	// so that entries the caller deems equal (an ECDSA-signed entry and its
	// malleated twin, see internal/entry.LeafIdentity) are one entry. nil
	// means Tessera's. It runs once per entry before the sequencing
	// transaction, so it must be cheap. An entry is also found under
	// Tessera's identity when that differs: entries recorded before
	// Identity was set keep the identity they were recorded under.
	Identity func(data []byte) []byte
	// AutoMigrate applies pending schema migrations in New. Without it New
	// fails when migrations are pending.
	AutoMigrate bool
	// Logger receives the driver's logs. Default slog.Default().
	Logger *slog.Logger
	// HTTPClient is passed to Tessera's checkpoint publisher (witnesses).
	// Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// TileCacheSize bounds the number of tiles kept in memory. Default
	// DefaultTileCacheSize.
	TileCacheSize int
	// BundleCacheSize bounds the number of entry bundles kept in memory.
	// Default DefaultBundleCacheSize.
	BundleCacheSize int
	// IntegrationBatchLimit bounds the entries integrated per transaction
	// (a single larger sequenced batch is still integrated whole). Default
	// DefaultIntegrationBatchLimit.
	IntegrationBatchLimit int
	// StatementTimeout bounds each SQL statement and each read. Default
	// DefaultStatementTimeout.
	StatementTimeout time.Duration
	// LockTimeout bounds waits for row locks. Default DefaultLockTimeout.
	LockTimeout time.Duration
	// Objects, when set, holds the log's tiles, entry bundles and published
	// checkpoint instead of the database (objects.go). A log must keep the
	// same choice for its life.
	Objects Objects
	// Identities, with Objects, summarises a full entry bundle's entries
	// (their data, in index order) as an identity tile (pkg/idtile), which
	// integration writes beside the bundle at idtile.Path. An error skips
	// that tile (monitors then read the bundle) and never stops the log.
	Identities func(entries [][]byte) ([]byte, error)
	// Metrics receives the driver's measurements. Default: collectors that
	// are not registered anywhere.
	Metrics *Metrics
}

// validLogID keeps log IDs short and printable: they appear in NOTIFY
// payloads, log lines and metrics.
func validLogID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// withDefaults fills in the zero knobs and validates the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Pool == nil && c.URL == "" {
		return c, errors.New("postgres: Config needs a Pool or a URL")
	}
	if c.LogID == "" {
		c.LogID = DefaultLogID
	}
	if !validLogID(c.LogID) {
		return c, fmt.Errorf("postgres: invalid log ID %q: use 1-64 letters, digits, '.', '_' or '-'", c.LogID)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	setDefault(&c.TileCacheSize, DefaultTileCacheSize)
	setDefault(&c.BundleCacheSize, DefaultBundleCacheSize)
	setDefault(&c.IntegrationBatchLimit, DefaultIntegrationBatchLimit)
	setDefault(&c.StatementTimeout, DefaultStatementTimeout)
	setDefault(&c.LockTimeout, DefaultLockTimeout)
	if c.Metrics == nil {
		c.Metrics = NewMetrics(c.LogID)
	}
	return c, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Store is a log kept in PostgreSQL. It is a Tessera driver (pass it to
// tessera.NewAppender) and a tessera.LogReader. Its methods are safe for
// concurrent use.
type Store struct {
	cfg       Config         // immutable after New
	pool      *pgxpool.Pool  // immutable after New
	ownsPool  bool           // Close closes pool
	log       *slog.Logger   // carries the log_id attribute
	cache     *resourceCache // full tiles and bundles; safe for concurrent use
	metrics   *Metrics       // safe for concurrent use
	emptyRoot []byte         // RFC 6962 root of the empty tree

	// health logs the start and end of each outage of the background
	// loops (integration, publishing, LISTEN), not each failed retry.
	health *outage.Tracker

	mu      sync.Mutex         // guards the fields below
	running bool               // an appender was started
	closed  bool               // Close was called
	stop    context.CancelFunc // stops the appender's goroutines
	wg      sync.WaitGroup     // the appender's goroutines
}

// The driver contract Tessera looks for in tessera.NewAppender.
var _ interface {
	Appender(context.Context, *tessera.AppendOptions) (*tessera.Appender, tessera.LogReader, error)
} = (*Store)(nil)

var _ tessera.LogReader = (*Store)(nil)

// New opens the log cfg.LogID in the database, creating its rows if it is
// new. It checks the schema version first: a database migrated by a newer
// mosaicd is refused (ErrSchemaTooNew), and pending migrations are applied
// when cfg.AutoMigrate is set, or else refused (ErrSchemaOutdated); a
// pool the caller checked (cfg.SchemaChecked) is not checked again.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:       cfg,
		pool:      cfg.Pool,
		log:       cfg.Logger.With("log_id", cfg.LogID),
		metrics:   cfg.Metrics,
		emptyRoot: rfc6962.DefaultHasher.EmptyRoot(),
	}
	s.health = outage.NewTracker(s.log, "PostgreSQL background work (integrating, publishing, listening)")
	if s.pool == nil {
		if s.pool, err = openPool(ctx, cfg.URL); err != nil {
			return nil, err
		}
		s.ownsPool = true
	}
	if s.cache, err = newResourceCache(cfg.TileCacheSize, cfg.BundleCacheSize); err != nil {
		s.closePool()
		return nil, err
	}
	if !cfg.SchemaChecked || cfg.Pool == nil {
		if err := checkSchema(ctx, s.pool, cfg.AutoMigrate, s.log); err != nil {
			s.closePool()
			return nil, err
		}
	}
	if err := s.initLog(ctx); err != nil {
		s.closePool()
		return nil, err
	}
	return s, nil
}

// Connect opens a connection pool on url with the session settings the
// driver relies on, for Stores opened with Config.Pool, and checks the
// schema as New does (migrating first when autoMigrate is set). The caller
// closes the pool after every Store on it.
func Connect(ctx context.Context, url string, autoMigrate bool, logger *slog.Logger) (*pgxpool.Pool, error) {
	if logger == nil {
		logger = slog.Default()
	}
	pool, err := openPool(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := checkSchema(ctx, pool, autoMigrate, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// openPool connects to url with session settings the driver relies on.
func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parsing database URL: %w", err)
	}
	if _, set := pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = millis(DefaultIdleInTxTimeout)
	}
	// Sequencing, integration, publishing and readers each want a connection.
	pc.MaxConns = max(pc.MaxConns, 8)
	// Count round trips (trace.go), unless the URL's user asked for a tracer.
	if pc.ConnConfig.Tracer == nil {
		pc.ConnConfig.Tracer = roundTripTracer{}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	return pool, nil
}

// initLog creates the log's rows if missing and checks its recorded settings.
func (s *Store) initLog(ctx context.Context) error {
	return s.inTx(ctx, opOther, func(tx pgx.Tx) error {
		id := s.cfg.LogID
		if _, err := tx.Exec(ctx, `INSERT INTO logs (log_id, dedup) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, s.cfg.Dedup); err != nil {
			return fmt.Errorf("creating log %q: %w", id, err)
		}
		var dedup bool
		if err := tx.QueryRow(ctx, `SELECT dedup FROM logs WHERE log_id = $1`, id).Scan(&dedup); err != nil {
			return fmt.Errorf("reading log %q: %w", id, err)
		}
		if dedup != s.cfg.Dedup {
			return fmt.Errorf("postgres: log %q was created with dedup=%t but is opened with dedup=%t; "+
				"switching would leave its duplicate index incomplete, so open it with dedup=%t or create a new log",
				id, dedup, s.cfg.Dedup, dedup)
		}
		seeds := []struct {
			what, sql string
			args      []any
		}{
			{"seq_coord", `INSERT INTO seq_coord (log_id, next) VALUES ($1, 0) ON CONFLICT DO NOTHING`, []any{id}},
			{"int_coord", `INSERT INTO int_coord (log_id, size, root) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`, []any{id, s.emptyRoot}},
			{"pub_coord", `INSERT INTO pub_coord (log_id) VALUES ($1) ON CONFLICT DO NOTHING`, []any{id}},
		}
		for _, seed := range seeds {
			if _, err := tx.Exec(ctx, seed.sql, seed.args...); err != nil {
				return fmt.Errorf("creating %s row for log %q: %w", seed.what, id, err)
			}
		}
		return nil
	})
}

// Ping checks, within two seconds, that the database answers and holds the
// log.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(s.metrics.withOp(ctx, opOther), 2*time.Second)
	defer cancel()
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM seq_coord WHERE log_id = $1)`, s.cfg.LogID).Scan(&ok); err != nil {
		return fmt.Errorf("pinging PostgreSQL: %w", err)
	}
	if !ok {
		return fmt.Errorf("pinging PostgreSQL: log %q is missing from the database", s.cfg.LogID)
	}
	return nil
}

// Antispam returns nil: the driver offers no separate persistent antispam.
// With Config.Dedup it needs none, because sequencing itself deduplicates
// authoritatively; without it, callers may still install Tessera's in-memory
// deduplication with AppendOptions.WithAntispam(n, nil).
func (s *Store) Antispam() tessera.Antispam { return nil }

// Pool is the store's connection pool, for other tables in the same
// database. Close closes it when the store owns it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the appender's background work, waits for it to finish, and
// closes the pool if the store opened it. Futures still pending fail.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.wg.Wait()
	s.closePool()
}

func (s *Store) closePool() {
	if s.ownsPool && s.pool != nil {
		s.pool.Close()
	}
}

// inTx runs f in a READ COMMITTED transaction with the driver's timeouts and
// commits if f returns nil. The commit is durable whatever the server's
// default: synchronous_commit is forced on, since futures resolve on it.
func (s *Store) inTx(ctx context.Context, op string, f func(pgx.Tx) error) (err error) {
	ctx = s.metrics.withOp(ctx, op)
	defer func() {
		end := "commit"
		if err != nil {
			end = "rollback"
		}
		s.metrics.transactions.WithLabelValues(op, end).Inc()
	}()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer rollback(ctx, tx)
	_, err = tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true),
		set_config('statement_timeout', $2, true),
		set_config('idle_in_transaction_session_timeout', $3, true),
		set_config('synchronous_commit', 'on', true)`,
		millis(s.cfg.LockTimeout), millis(s.cfg.StatementTimeout), millis(DefaultIdleInTxTimeout))
	if err != nil {
		return fmt.Errorf("setting transaction timeouts: %w", err)
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// rollback ends tx if it is still open. It gets a few seconds even when ctx
// is already done, so the connection goes back to the pool clean.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := rollbackCtx(ctx)
	defer cancel()
	_ = tx.Rollback(ctx) // ErrTxClosed after a commit; otherwise nothing to add.
}

// rollbackCtx gives a rollback a few seconds even when ctx is done.
func rollbackCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// stateCtx bounds a read of the log's state (sizes, publication time),
// which Tessera and readiness poll, by the statement timeout.
func (s *Store) stateCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.metrics.withOp(ctx, opState), s.cfg.StatementTimeout)
}

// readCtx bounds a single read by the statement timeout.
func (s *Store) readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.metrics.withOp(ctx, opRead), s.cfg.StatementTimeout)
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
