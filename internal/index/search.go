package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/transparency-dev/tessera/api/layout"
)

// Page sizes of a search.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// DefaultPageBytes bounds the entry bodies of a page when
	// Query.MaxBytes is not set.
	DefaultPageBytes = 768 << 10
)

// maxValueBytes bounds a SAN or issuer in a query.
const maxValueBytes = 4096

// Query is a search. Set criteria are ANDed; SAN and OIDCIssuer together
// match a certificate identity.
type Query struct {
	// Digest is the artifact digest, "sha256:<64 hex>", "sha384:<96 hex>"
	// or "sha512:<128 hex>" (any case).
	Digest string
	// PublicKeyFingerprint is "sha256:<64 hex>" of the verifier's
	// SubjectPublicKeyInfo DER (for a certificate, of its key).
	PublicKeyFingerprint string
	// SAN is a certificate subject alternative name, matched exactly.
	SAN string
	// OIDCIssuer is the OIDC issuer recorded in a certificate, exactly.
	OIDCIssuer string
	// PageSize is the most results to return: 0 means DefaultPageSize; at
	// most MaxPageSize.
	PageSize int
	// PageToken continues a search: Result.NextPageToken of the same query.
	PageToken string
	// MaxBytes bounds a page by the bodies of its hits: a page ends before
	// the hit that would take the sum of len(Hit.Body) past MaxBytes, and
	// its NextPageToken continues at that hit, so a page may hold fewer
	// than PageSize hits. A page's first hit is returned whatever its size,
	// so every page advances. 0 or less means DefaultPageBytes. It is the
	// server's bound, not the client's: set it after parsing a request.
	MaxBytes int
}

// QueryError says what is wrong with a query. Its message is meant for the
// client, verbatim.
type QueryError struct {
	// Field names the offending field as the HTTP API spells it, or is
	// empty for the query as a whole.
	Field string
	Msg   string
}

func (e *QueryError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func queryErrorf(field, format string, args ...any) error {
	return &QueryError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Hit is one entry a search found.
type Hit struct {
	// Index is the entry's log index.
	Index uint64
	// Kind and APIVersion name the entry type ("hashedrekord", "0.0.2").
	Kind, APIVersion string
	// Body is the canonicalized entry: the leaf as the log holds it.
	Body []byte
}

// Result is a page of a search.
type Result struct {
	// Hits are ascending by log index.
	Hits []Hit
	// NextPageToken continues the search; empty on the last page.
	NextPageToken string
	// Status says how much of the log the search covered.
	Status Status
}

// Search finds the entries matching q among the indexed ones, ascending by
// log index, one page at a time: at most q.PageSize hits and q.MaxBytes of
// bodies. An invalid query is a *QueryError. Each entry is read back from
// the log and must have the keys asked for; otherwise the index does not
// match the log and Search fails. Entry bundles are read only as far as
// the page reaches, and the hits hold copies of their bodies, not the
// bundles they were read from: a page holds about MaxBytes however large
// the bundles are.
func (ix *Index) Search(ctx context.Context, q Query) (*Result, error) {
	keys, err := q.keys()
	if err != nil {
		return nil, err
	}
	size := q.PageSize
	switch {
	case size == 0:
		size = DefaultPageSize
	case size < 0 || size > MaxPageSize:
		return nil, queryErrorf("pageSize", "%d is out of range; want 1 to %d (default %d)", size, MaxPageSize, DefaultPageSize)
	}
	from, err := decodePageToken(q.PageToken, keys)
	if err != nil {
		return nil, err
	}
	maxBytes := q.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultPageBytes
	}
	res, err := ix.search(ctx, keys, from, size, maxBytes)
	if err != nil {
		ix.metrics.searchErrors.Inc()
		return nil, err
	}
	ix.metrics.searches.Inc()
	return res, nil
}

func (ix *Index) search(ctx context.Context, keys []Key, from uint64, size, maxBytes int) (*Result, error) {
	idxs, err := ix.store.Lookup(ctx, keys, from, size+1)
	if err != nil {
		return nil, err
	}
	res := &Result{Status: ix.Status()}
	page := idxs[:min(len(idxs), size)]
	if res.Hits, err = ix.hits(ctx, page, keys, maxBytes); err != nil {
		return nil, err
	}
	if n := len(res.Hits); n < len(idxs) {
		// Continue at the first match left out, whether the page was cut
		// short by maxBytes or filled up to size.
		res.NextPageToken = encodePageToken(idxs[n], keys)
	}
	return res, nil
}

// hits reads the entries at idxs (ascending) back from the log, each
// bundle once, and checks that each has keys. It stops before the entry
// that would take the bodies past maxBytes (never before the first one),
// reading no bundle beyond that entry's, and returns the hits it took.
func (ix *Index) hits(ctx context.Context, idxs []uint64, keys []Key, maxBytes int) ([]Hit, error) {
	hits := make([]Hit, 0, len(idxs))
	if len(idxs) == 0 {
		return hits, nil
	}
	size := ix.Status().LogSize
	if last := idxs[len(idxs)-1]; last >= size {
		// Another indexer of the same store may be ahead of this one.
		var err error
		if size, err = ix.logSize(ctx); err != nil {
			return nil, err
		}
		if last >= size {
			return nil, fmt.Errorf("index: the index names entry %d but the log has %d entries", last, size)
		}
	}
	var leaves [][]byte
	current := ^uint64(0)
	used := 0
	for _, i := range idxs {
		n := i / layout.EntryBundleWidth
		if n != current {
			leaves = nil // let the previous bundle go before reading the next
			var err error
			if leaves, err = ix.bundle(ctx, n, size); err != nil {
				return nil, err
			}
			current = n
		}
		h, err := ix.hit(i, leaves, keys)
		if err != nil {
			return nil, err
		}
		if len(hits) > 0 && len(h.Body) > maxBytes-used {
			break
		}
		used += len(h.Body)
		// A copy, so that the page does not pin the bundle it came from
		// while the reply waits on a slow client.
		h.Body = bytes.Clone(h.Body)
		hits = append(hits, h)
	}
	return hits, nil
}

// hit is entry i of its bundle's leaves, checked against keys.
func (ix *Index) hit(i uint64, leaves [][]byte, keys []Key) (Hit, error) {
	off := i % layout.EntryBundleWidth
	if off >= uint64(len(leaves)) {
		return Hit{}, fmt.Errorf("index: entry bundle %d has no entry %d", i/layout.EntryBundleWidth, i)
	}
	leaf := leaves[off]
	f, has, err := keysOf(leaf)
	if err == nil {
		for _, k := range keys {
			if !containsKey(has, k) {
				err = fmt.Errorf("it has no %s key %q", k.Kind, k.Value)
				break
			}
		}
	}
	if err != nil {
		ix.metrics.integrityFailures.Inc()
		ix.logger.Error("index: a search result does not match the log", "index", i, "err", err)
		return Hit{}, fmt.Errorf("index: integrity failure: entry %d in the log does not match the index (%w); "+
			"the index does not belong to this log: remove it to rebuild", i, err)
	}
	return Hit{Index: i, Kind: f.Kind, APIVersion: f.Version, Body: leaf}, nil
}

func containsKey(keys []Key, k Key) bool {
	for _, h := range keys {
		if h == k {
			return true
		}
	}
	return false
}

// keys validates q's criteria and returns the keys to look up, the most
// selective first.
func (q Query) keys() ([]Key, error) {
	var keys []Key
	if q.Digest != "" {
		d, err := normalizeDigest(q.Digest)
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{KindDigest, d})
	}
	if q.PublicKeyFingerprint != "" {
		fp, err := normalizeHash("publicKeyFingerprint", q.PublicKeyFingerprint, map[string]int{"sha256": 64})
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{KindPublicKey, fp})
	}
	for _, v := range []struct{ field, value string }{{"san", q.SAN}, {"oidcIssuer", q.OIDCIssuer}} {
		if err := checkValue(v.field, v.value); err != nil {
			return nil, err
		}
	}
	switch {
	case q.SAN != "" && q.OIDCIssuer != "":
		keys = append(keys, Key{KindIdentity, IdentityValue(q.OIDCIssuer, q.SAN)})
	case q.SAN != "":
		keys = append(keys, Key{KindSAN, q.SAN})
	case q.OIDCIssuer != "":
		keys = append(keys, Key{KindIssuer, q.OIDCIssuer})
	}
	if len(keys) == 0 {
		return nil, queryErrorf("", "the search has no criterion; set at least one of digest, publicKeyFingerprint, san, oidcIssuer")
	}
	return keys, nil
}

// digestHexLen is the hex length of each digest algorithm a search accepts.
var digestHexLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

func normalizeDigest(s string) (string, error) {
	return normalizeHash("digest", s, digestHexLen)
}

// normalizeHash checks that s is "<alg>:<hex>" with alg in hexLen and
// the right number of hex digits, and lower-cases it.
func normalizeHash(field, s string, hexLen map[string]int) (string, error) {
	alg, digits, ok := strings.Cut(s, ":")
	if !ok {
		return "", queryErrorf(field, "%s is not <algorithm>:<hex>, e.g. sha256:<64 hex digits>", clip(s))
	}
	alg = strings.ToLower(alg)
	want, ok := hexLen[alg]
	if !ok {
		return "", queryErrorf(field, "algorithm %s is not supported; want %s", clip(alg), algNames(hexLen))
	}
	if len(digits) != want {
		return "", queryErrorf(field, "a %s value has %d hex digits; want %d", alg, len(digits), want)
	}
	if _, err := hex.DecodeString(digits); err != nil {
		return "", queryErrorf(field, "%s is not hexadecimal", clip(digits))
	}
	return alg + ":" + strings.ToLower(digits), nil
}

func algNames(hexLen map[string]int) string {
	var names []string
	for _, a := range []string{"sha256", "sha384", "sha512"} {
		if _, ok := hexLen[a]; ok {
			names = append(names, a)
		}
	}
	return strings.Join(names, ", ")
}

func checkValue(field, v string) error {
	switch {
	case len(v) > maxValueBytes:
		return queryErrorf(field, "%d bytes exceeds the limit of %d bytes", len(v), maxValueBytes)
	case !utf8.ValidString(v):
		return queryErrorf(field, "is not valid UTF-8")
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 80
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Page tokens: base64url of version (1 byte) | next index (8 bytes,
// big-endian) | tag (8 bytes), where tag is a hash of the query's keys, so
// a token only continues the query that issued it.
const (
	pageTokenVersion = 1
	pageTokenLen     = 1 + 8 + 8
)

var errBadToken = &QueryError{Field: "pageToken", Msg: "not a page token this server issued; " +
	"use nextPageToken from the previous page, unchanged"}

func encodePageToken(next uint64, keys []Key) string {
	b := []byte{pageTokenVersion}
	b = binary.BigEndian.AppendUint64(b, next)
	tag := queryTag(keys)
	b = append(b, tag[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken returns the index a page starts at: 0 for no token.
func decodePageToken(tok string, keys []Key) (uint64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != pageTokenLen || b[0] != pageTokenVersion {
		return 0, errBadToken
	}
	if tag := queryTag(keys); string(b[9:]) != string(tag[:]) {
		return 0, queryErrorf("pageToken", "the token continues another search; send it with the criteria of "+
			"the search that returned it")
	}
	return binary.BigEndian.Uint64(b[1:9]), nil
}

func queryTag(keys []Key) [8]byte {
	h := sha256.New()
	for _, k := range keys {
		kh := k.hash()
		h.Write(kh[:])
	}
	var tag [8]byte
	copy(tag[:], h.Sum(nil))
	return tag
}

// IsQueryError reports whether err is a *QueryError (a client mistake).
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}
