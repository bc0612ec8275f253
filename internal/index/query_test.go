package index_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

func TestQueryErrors(t *testing.T) {
	fx := newFixture(t, "posix")
	add(t, fx.log, mosaictest.NewSigner(t, mosaictest.ECDSAP256), "x")
	ix, _, _ := fx.index(t)
	syncIndex(t, ix)
	hex64 := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name  string
		q     index.Query
		field string
	}{
		{"no criterion", index.Query{}, ""},
		{"only paging", index.Query{PageSize: 10}, ""},
		{"digest without algorithm", index.Query{Digest: hex64}, "digest"},
		{"digest empty hex", index.Query{Digest: "sha256:"}, "digest"},
		{"digest unknown algorithm", index.Query{Digest: "md5:" + hex64[:32]}, "digest"},
		{"digest sha1", index.Query{Digest: "sha1:" + hex64[:40]}, "digest"},
		{"digest short", index.Query{Digest: "sha256:" + hex64[:62]}, "digest"},
		{"digest long", index.Query{Digest: "sha256:" + hex64 + "00"}, "digest"},
		{"digest sha384 length for sha512", index.Query{Digest: "sha512:" + strings.Repeat("a", 96)}, "digest"},
		{"digest not hex", index.Query{Digest: "sha256:" + strings.Repeat("g", 64)}, "digest"},
		{"digest with spaces", index.Query{Digest: " sha256:" + hex64}, "digest"},
		{"digest two colons", index.Query{Digest: "sha256:" + hex64[:63] + ":"}, "digest"},
		{"digest base64", index.Query{Digest: "sha256:q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ"}, "digest"},
		{"fingerprint sha384", index.Query{PublicKeyFingerprint: "sha384:" + strings.Repeat("a", 96)}, "publicKeyFingerprint"},
		{"fingerprint bare hex", index.Query{PublicKeyFingerprint: hex64}, "publicKeyFingerprint"},
		{"fingerprint short", index.Query{PublicKeyFingerprint: "sha256:abc"}, "publicKeyFingerprint"},
		{"san too long", index.Query{SAN: strings.Repeat("a", 5000)}, "san"},
		{"san not UTF-8", index.Query{SAN: "\xff"}, "san"},
		{"issuer too long", index.Query{OIDCIssuer: strings.Repeat("a", 5000)}, "oidcIssuer"},
		{"page size negative", index.Query{SAN: "a", PageSize: -1}, "pageSize"},
		{"page size too large", index.Query{SAN: "a", PageSize: 1001}, "pageSize"},
		{"token garbage", index.Query{SAN: "a", PageToken: "!!!"}, "pageToken"},
		{"token too short", index.Query{SAN: "a", PageToken: "AQ"}, "pageToken"},
		{"token padded base64", index.Query{SAN: "a", PageToken: "AQAAAAAAAAAAAAAAAAAAAAAA=="}, "pageToken"},
		{"token wrong version", index.Query{SAN: "a", PageToken: "AgAAAAAAAAAAAAAAAAAAAAAA"}, "pageToken"},
		{"token of another query", index.Query{SAN: "a", PageToken: "AQAAAAAAAAAAAAAAAAAAAAAA"}, "pageToken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := ix.Search(context.Background(), c.q)
			var qe *index.QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("Search(%+v) = %+v, %v; want a QueryError", c.q, res, err)
			}
			if qe.Field != c.field || qe.Msg == "" {
				t.Errorf("QueryError %+v, want field %q and a message", qe, c.field)
			}
			if len(qe.Error()) > 400 {
				t.Errorf("message of %d bytes: inputs must be clipped", len(qe.Error()))
			}
		})
	}
}

// TestQueryAccepts checks inputs that are valid though not canonical.
func TestQueryAccepts(t *testing.T) {
	fx := newFixture(t, "posix")
	ix, _, _ := fx.index(t)
	syncIndex(t, ix)
	for _, q := range []index.Query{
		{Digest: "SHA256:" + strings.Repeat("AB", 32)},
		{Digest: "sha384:" + strings.Repeat("a", 96)},
		{Digest: "sha512:" + strings.Repeat("a", 128)},
		{PublicKeyFingerprint: "Sha256:" + strings.Repeat("F", 64)},
		{SAN: "a", PageSize: 1000},
		{OIDCIssuer: "https://issuer", PageSize: 1},
	} {
		if _, err := ix.Search(context.Background(), q); err != nil {
			t.Errorf("Search(%+v): %v", q, err)
		}
	}
}

// FuzzSearchQuery checks that no query makes Search panic or fail other
// than with a QueryError, and that a page is ascending and within its size.
func FuzzSearchQuery(f *testing.F) {
	fx := newFixture(f, "posix")
	s := mosaictest.NewCertSigner(f, "fuzz@example.com")
	for i := range 3 {
		add(f, fx.log, s, fmt.Sprintf("fuzz %d", i))
	}
	ix, _, _ := fx.index(f)
	syncIndex(f, ix)
	first, err := ix.Search(context.Background(), index.Query{SAN: "fuzz@example.com", PageSize: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(digestOf("fuzz 0"), "", "", "", 0, "")
	f.Add("", entry.Fingerprint(s.PublicKeyDER), "", "", 2, "")
	f.Add("", "", "fuzz@example.com", "", 1, first.NextPageToken)
	f.Add("", "", "fuzz@example.com", "https://issuer", 1000, "")
	f.Add("sha512:"+strings.Repeat("0", 128), "sha256:", "", "", -1, "AQ")
	f.Fuzz(func(t *testing.T, digest, fp, san, issuer string, size int, token string) {
		q := index.Query{Digest: digest, PublicKeyFingerprint: fp, SAN: san, OIDCIssuer: issuer, PageSize: size, PageToken: token}
		res, err := ix.Search(context.Background(), q)
		if err != nil {
			if !index.IsQueryError(err) || err.Error() == "" {
				t.Fatalf("Search(%+v): %v, want a QueryError", q, err)
			}
			return
		}
		limit := size
		if limit == 0 {
			limit = index.DefaultPageSize
		}
		if len(res.Hits) > limit {
			t.Fatalf("%d hits for page size %d", len(res.Hits), size)
		}
		for i := 1; i < len(res.Hits); i++ {
			if res.Hits[i].Index <= res.Hits[i-1].Index {
				t.Fatalf("hits not ascending: %d then %d", res.Hits[i-1].Index, res.Hits[i].Index)
			}
		}
	})
}
