-- 0002_index.sql: the search index (internal/index), a follower of the log.
--
-- Keyed by log_id like every table, so one database can index several logs.
-- The index creates a log's position row itself (INSERT ... ON CONFLICT DO
-- NOTHING) when it first opens that log. Postings and the position advance
-- in one transaction, so the postings are always exactly those of the leaves
-- [0, size). Every statement is idempotent: running this file twice changes
-- nothing.

-- How far the index has read the log: leaves [0, size) are indexed, skipped
-- of them did not parse. updated_at is NULL until the first commit. Its row
-- lock serialises the commits of every frontend indexing the log.
CREATE TABLE IF NOT EXISTS index_position (
    log_id     text        PRIMARY KEY,
    size       bigint      NOT NULL DEFAULT 0 CHECK (size >= 0),
    skipped    bigint      NOT NULL DEFAULT 0 CHECK (skipped >= 0 AND skipped <= size),
    updated_at timestamptz
) WITH (fillfactor = 50);

-- Postings: the leaf at idx is found by the key of this kind (1 digest,
-- 2 public-key fingerprint, 3 SAN, 4 OIDC issuer, 5 issuer and SAN). key is
-- SHA-256 of the kind byte and the value, so that any value (a long URI SAN)
-- fits the index; a search hashes its criteria the same way.
CREATE TABLE IF NOT EXISTS index_keys (
    log_id text     NOT NULL,
    kind   smallint NOT NULL CHECK (kind > 0),
    key    bytea    NOT NULL CHECK (length(key) = 32),
    idx    bigint   NOT NULL CHECK (idx >= 0),
    PRIMARY KEY (log_id, kind, key, idx)
);
