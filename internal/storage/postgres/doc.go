// Package postgres is a Tessera storage driver that keeps a transparency log
// entirely in PostgreSQL: sequencing, the Merkle tree's tiles, entry bundles
// and the published checkpoint. Several mosaicd processes (frontends) may
// serve the same log from one database; a database may hold several logs,
// told apart by Config.LogID.
//
// # Durability
//
// An Add's future resolves to an index only after the transaction that
// assigned it has committed. From then on the entry is in the log: a crash of
// any frontend, or of PostgreSQL itself (with its default synchronous_commit),
// cannot lose it or give its index to another entry. A future that resolves
// to an error may or may not have been committed (the connection can fail
// after the commit was sent); adding the entry again is safe with Dedup, and
// produces a second copy without it.
//
// Entries become visible in three committed steps, each a single transaction:
//
//  1. Sequencing. A frontend batches Adds in memory (AppendOptions batch size
//     and age) and, in one transaction, takes the next indices from the
//     seq_coord row, stores the batch as one seq row of (bundle data, leaf
//     hash) pairs and signals the other frontends (LISTEN/NOTIFY). The
//     seq_coord row lock orders all frontends' batches, so indices are
//     contiguous and committed in order. With Dedup, entries whose identity
//     is already recorded get their existing index instead of a new one.
//  2. Integration. Whichever frontend wins the int_coord row lock reads the
//     pending seq rows, checks that they continue the tree exactly, appends
//     their leaf hashes to the tree rebuilt from the stored tiles (checking the
//     stored root first), writes the changed tiles and entry bundles, advances
//     int_coord and deletes the consumed seq rows. A gap, an overlap or a root
//     mismatch stops integration with ErrIntegrity rather than build on it.
//  3. Publishing. Whichever frontend wins the pub_coord row lock signs a
//     checkpoint for the integrated size (through Tessera's checkpoint
//     publisher, which also gathers witness cosignatures) and stores it. The
//     published size never decreases.
//
// Tiles and bundles are rows that grow in place until full; a partial
// resource .p/W is served by truncating the row, which is exact because the
// prefix of a tile or bundle never changes. Full tiles and bundles never
// change at all, so each frontend keeps recently read ones in memory.
//
// Each step's transaction is sent as pipelined batches (pipe.go): BEGIN and
// the transaction's settings travel with its first statements, and COMMIT
// with its last writes, so sequencing and integration cost two round trips
// each and publishing two around the signing. Batches cut while an earlier
// one is being sequenced are sequenced together in one transaction (group
// commit); none of their Adds resolves before that commit. The driver
// counts its round trips, statements and transactions by step (trace.go).
//
// Every transaction runs at READ COMMITTED with lock and statement timeouts,
// and sessions carry idle_in_transaction_session_timeout, so a frontend that
// dies or hangs inside a transaction cannot stall the others for long.
// Background work (integration, publishing, listening) logs failures and
// retries with backoff; calls return wrapped errors and never panic.
//
// With Config.Objects the tiles, bundles and checkpoint live in an object
// store instead of tables, written before the transaction that makes them
// part of the log commits (objects.go); PostgreSQL then only coordinates,
// and reads never query it.
//
// The schema lives in the migrations package and is applied by Migrate.
package postgres
