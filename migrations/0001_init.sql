-- 0001_init.sql: the PostgreSQL Tessera driver's tables (internal/storage/postgres).
--
-- Every table is keyed by log_id so that one database can hold several logs.
-- The driver seeds the per-log rows itself (INSERT ... ON CONFLICT DO NOTHING)
-- when a store is opened for a log_id it has not seen before.
-- Every statement is idempotent: running this file twice changes nothing.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per log: the settings fixed when the log was created.
CREATE TABLE IF NOT EXISTS logs (
    log_id     text        PRIMARY KEY,
    dedup      boolean     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The log's identity (checkpoint origin and signing public key), recorded
-- once when the log is first served and never changed afterwards.
CREATE TABLE IF NOT EXISTS log_identity (
    log_id     text        PRIMARY KEY,
    origin     text        NOT NULL,
    public_key bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Sequencing coordination: the next index to assign. Its row lock serialises
-- every frontend's sequencing transactions.
CREATE TABLE IF NOT EXISTS seq_coord (
    log_id text   PRIMARY KEY,
    next   bigint NOT NULL CHECK (next >= 0)
) WITH (fillfactor = 50);

-- Sequenced but not yet integrated batches: one row per batch, keyed by the
-- batch's first index. v holds n (bundle data, leaf hash) pairs in the
-- driver's own encoding. Rows are deleted by the integration that consumes them.
CREATE TABLE IF NOT EXISTS seq (
    log_id text    NOT NULL,
    seq    bigint  NOT NULL CHECK (seq >= 0),
    n      integer NOT NULL CHECK (n > 0),
    v      bytea   NOT NULL,
    PRIMARY KEY (log_id, seq)
) WITH (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 200);

-- Integration coordination: the size and root of the integrated tree. Its row
-- lock (taken with SKIP LOCKED) elects the one frontend that integrates.
CREATE TABLE IF NOT EXISTS int_coord (
    log_id text   PRIMARY KEY,
    size   bigint NOT NULL CHECK (size >= 0),
    root   bytea  NOT NULL
) WITH (fillfactor = 50);

-- Publishing coordination and the latest published checkpoint. size and note
-- are NULL until the first checkpoint is published.
CREATE TABLE IF NOT EXISTS pub_coord (
    log_id       text        PRIMARY KEY,
    size         bigint      CHECK (size >= 0),
    note         bytea,
    published_at timestamptz
) WITH (fillfactor = 50);

-- Hash tiles (C2SP tlog-tiles): the bottom row of tile level/idx, 32 bytes per
-- hash, holding every hash integrated so far. A row grows in place until it
-- holds 256 hashes, then never changes; a partial tile .p/W is its first W hashes.
CREATE TABLE IF NOT EXISTS tiles (
    log_id text     NOT NULL,
    level  smallint NOT NULL CHECK (level >= 0),
    idx    bigint   NOT NULL CHECK (idx >= 0),
    data   bytea    NOT NULL,
    PRIMARY KEY (log_id, level, idx)
);
-- Hashes do not compress: store them out of line without trying.
ALTER TABLE tiles ALTER COLUMN data SET STORAGE EXTERNAL;

-- Entry bundles: n entries (at most 256) concatenated in data; ends holds each
-- entry's end offset in data as a big-endian uint32, so a partial bundle .p/W
-- is data[:end of entry W-1] whatever the entry format.
CREATE TABLE IF NOT EXISTS bundles (
    log_id text    NOT NULL,
    idx    bigint  NOT NULL CHECK (idx >= 0),
    n      integer NOT NULL CHECK (n > 0 AND n <= 256),
    ends   bytea   NOT NULL,
    data   bytea   NOT NULL,
    PRIMARY KEY (log_id, idx)
);

-- Authoritative deduplication (stores opened with Dedup): the index assigned
-- to each entry identity (SHA-256 of the entry data). Written only under the
-- seq_coord row lock.
CREATE TABLE IF NOT EXISTS identities (
    log_id   text   NOT NULL,
    identity bytea  NOT NULL,
    idx      bigint NOT NULL CHECK (idx >= 0),
    PRIMARY KEY (log_id, identity)
);
