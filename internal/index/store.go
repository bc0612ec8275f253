package index

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// ErrPositionMoved means a Commit found the store's position elsewhere than
// the batch's start: another indexer (another frontend on the same
// database) committed first. Nothing of the batch was written.
var ErrPositionMoved = errors.New("index position moved")

// maxLookupKeys bounds how many keys one Lookup intersects.
const maxLookupKeys = 8

// Kind says what a key's value is.
type Kind uint8

// The kinds of keys a leaf is found by.
const (
	// KindDigest is the artifact digest, "sha256:<hex>".
	KindDigest Kind = 1
	// KindPublicKey is the verifier's SubjectPublicKeyInfo fingerprint,
	// "sha256:<hex>" (for a certificate, of its key).
	KindPublicKey Kind = 2
	// KindSAN is one certificate subject alternative name.
	KindSAN Kind = 3
	// KindIssuer is the certificate's OIDC issuer.
	KindIssuer Kind = 4
	// KindIdentity is an OIDC issuer and one SAN together (see IdentityValue).
	KindIdentity Kind = 5
)

func (k Kind) String() string {
	switch k {
	case KindDigest:
		return "digest"
	case KindPublicKey:
		return "publicKeyFingerprint"
	case KindSAN:
		return "san"
	case KindIssuer:
		return "oidcIssuer"
	case KindIdentity:
		return "identity"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Key is one thing a leaf is found by.
type Key struct {
	Kind  Kind
	Value string
}

// IdentityValue is the value of the KindIdentity key for issuer and san:
// unambiguous whatever either contains.
func IdentityValue(issuer, san string) string {
	return fmt.Sprintf("%d:%s%s", len(issuer), issuer, san)
}

// hash is what stores record for k: fixed-size whatever the value's
// length, so that a long SAN cannot exceed a database's key size limit.
// The kind is part of it, so equal values of two kinds never match.
func (k Key) hash() [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte{byte(k.Kind)})
	h.Write([]byte(k.Value))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Posting records that the leaf at Index has Key.
type Posting struct {
	Key   Key
	Index uint64
}

// Batch is the indexing of the leaves [From, To): their postings and how
// many of them did not parse (and have none).
type Batch struct {
	From, To uint64
	Postings []Posting
	Skipped  uint64
}

// Position is how far a store has indexed the log.
type Position struct {
	// Size is the number of leaves, from index 0, indexed (or skipped).
	Size uint64
	// Skipped counts the leaves among them that did not parse.
	Skipped uint64
	// UpdatedAt is when Size last advanced; zero if it never did.
	UpdatedAt time.Time
}

// Store persists an index: postings and the position they cover.
//
// Contract (indextest.Run checks it for every implementation): Commit
// writes a batch's postings and advances the position to batch.To in one
// atomic, durable step, and only if the position was batch.From
// (otherwise ErrPositionMoved, and nothing is written). So after any crash
// the postings are exactly those of the leaves [0, Position.Size), each
// recorded once, and an indexer resumes from Position.Size. Lookup sees
// only committed batches.
type Store interface {
	// Position returns the committed position.
	Position(ctx context.Context) (Position, error)
	// Commit records b atomically as described above.
	Commit(ctx context.Context, b *Batch) error
	// Lookup returns, ascending, at most limit log indices >= from at
	// which every one of keys (1 to 8 of them) was recorded.
	Lookup(ctx context.Context, keys []Key, from uint64, limit int) ([]uint64, error)
	// Close releases the store.
	Close() error
}

// checkBatch rejects a batch no store should write.
func checkBatch(b *Batch) error {
	if b.To < b.From {
		return fmt.Errorf("index batch [%d, %d) is reversed", b.From, b.To)
	}
	if b.Skipped > b.To-b.From {
		return fmt.Errorf("index batch [%d, %d) skips %d leaves", b.From, b.To, b.Skipped)
	}
	for _, p := range b.Postings {
		if p.Index < b.From || p.Index >= b.To {
			return fmt.Errorf("index batch [%d, %d) has a posting for leaf %d", b.From, b.To, p.Index)
		}
	}
	return nil
}

// checkLookup rejects a lookup no store should run.
func checkLookup(keys []Key, limit int) error {
	if len(keys) == 0 || len(keys) > maxLookupKeys {
		return fmt.Errorf("index lookup of %d keys: want 1 to %d", len(keys), maxLookupKeys)
	}
	if limit <= 0 {
		return fmt.Errorf("index lookup limit %d: want > 0", limit)
	}
	return nil
}
