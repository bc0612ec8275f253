// Package backup copies whole logs: out of a store into a backup
// directory (Backup), from a backup into an empty store (Restore), and from
// any C2SP tlog-tiles log over HTTP into an empty store (Import), which is
// also how a log moves between the embedded store and PostgreSQL. Upload
// and Download move a backup directory to and from an S3 prefix, the
// manifest last.
//
// A backup is a tlog-tiles directory tree (checkpoint, tile/<L>/<N>[.p/W],
// tile/entries/<N>[.p/W]) that any tlog-tiles client can read, plus a
// manifest (manifest.json: the log's identity, the signed checkpoint, its
// size and root hash) and, only when asked, the signing key. It is taken
// from the store's published checkpoint while servers keep writing: every
// tile and bundle at or below a published size is immutable, so what the
// checkpoint commits to can be read at leisure. Before the manifest is
// written the copy is checked with Tessera's fsck (every bundle re-hashed,
// every tile re-derived, the root compared with the signed checkpoint).
//
// Restore and Import share one path: the source's checkpoint is verified
// with the log's key, its entries are appended to an empty store at their
// own indices (duplicates included) through the store's integration, the
// resulting root must equal the checkpoint's, the checkpoint is published
// as it was signed, the identity is recorded, and the store is fsck'd
// against the checkpoint. What is rebuilt rather than copied: the
// duplicate index (by the import on PostgreSQL, by the first serve on the
// embedded store) and the search index (by the server's follower).
package backup
