-- 0003_freeze.sql: frozen logs (shards that take no more entries).
--
-- Freezing a log is two steps, each idempotent. First its seq_coord row is
-- marked frozen: every sequencing transaction reads that flag under the row
-- lock it already takes, so from the commit of the mark on no frontend
-- assigns another index, and next is the log's final size. Then, once a
-- checkpoint of that size is published, it is recorded in log_frozen, which
-- readers (frontends, the client configuration) take as the freeze. Every
-- statement is idempotent: running this file twice changes nothing.

ALTER TABLE seq_coord ADD COLUMN IF NOT EXISTS frozen boolean NOT NULL DEFAULT false;

-- The freeze of a log: its final size and the checkpoint of that size,
-- published before this row was written; successor says (to people) where
-- new entries go instead. Written once, never changed.
CREATE TABLE IF NOT EXISTS log_frozen (
    log_id     text        PRIMARY KEY,
    size       bigint      NOT NULL CHECK (size >= 0),
    checkpoint bytea       NOT NULL,
    successor  text        NOT NULL DEFAULT '',
    frozen_at  timestamptz NOT NULL DEFAULT now()
);
