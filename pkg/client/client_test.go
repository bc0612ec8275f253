package client_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

// verifyCheckpoint verifies a checkpoint of the log named origin with pub.
func verifyCheckpoint(raw []byte, origin string, pub crypto.PublicKey) (*log.Checkpoint, error) {
	v, err := note.NewVerifier(origin, pub)
	if err != nil {
		return nil, err
	}
	return note.VerifyCheckpoint(raw, origin, v)
}

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkEntry verifies an entry the client returned as a strict offline
// verifier would.
func checkEntry(t *testing.T, l *mosaictest.Log, added *client.AddedEntry) {
	t.Helper()
	body, err := protojson.Marshal(added.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CheckEntry(body); err != nil {
		t.Fatalf("entry does not verify: %v", err)
	}
}

func TestAddEntryAndDuplicate(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
			c := newClient(t, l.URL)
			ctx := context.Background()
			s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
			req := s.RequestProto(t, []byte("artifact one"))

			first, err := c.AddEntry(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if first.Duplicate {
				t.Error("a first submission is reported as a duplicate")
			}
			checkEntry(t, l, first)

			again, err := c.AddEntry(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Duplicate || again.Entry.GetLogIndex() != first.Entry.GetLogIndex() {
				t.Errorf("resubmission: duplicate %v index %d, want true %d", again.Duplicate, again.Entry.GetLogIndex(), first.Entry.GetLogIndex())
			}
			checkEntry(t, l, again)
		})
	}
}

func TestCheckpointAndTiles(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	c := newClient(t, l.URL)
	ctx := context.Background()
	s := mosaictest.NewSigner(t, mosaictest.Ed25519ph)
	var leaves [][]byte
	for i := range 3 {
		added, err := c.AddEntry(ctx, s.RequestProto(t, []byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, added.Entry.GetCanonicalizedBody())
	}
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := verifyCheckpoint(raw, l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != l.Origin || cp.Size < 3 {
		t.Fatalf("checkpoint %q size %d, want origin %q size >= 3", cp.Origin, cp.Size, l.Origin)
	}
	other := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	if _, err := verifyCheckpoint(raw, l.Origin, other.Key.Public()); err == nil {
		t.Error("a checkpoint verified with another key")
	}

	width := uint8(cp.Size)
	entries, err := c.EntryBundle(ctx, 0, width)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := c.Tile(ctx, 0, 0, width)
	if err != nil {
		t.Fatal(err)
	}
	for i, leaf := range leaves {
		if !bytes.Equal(entries[i], leaf) {
			t.Errorf("bundle entry %d differs from the logged leaf", i)
		}
		if !bytes.Equal(hashes[i], rfc6962.DefaultHasher.HashLeaf(leaf)) {
			t.Errorf("tile hash %d is not the leaf's hash", i)
		}
	}
	// Tessera's fetcher contract: a missing tile is os.ErrNotExist.
	_, err = c.ReadTile(ctx, 0, 5, 0)
	var he *client.Error
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &he) || he.StatusCode != http.StatusNotFound || he.Code != 5 {
		t.Errorf("missing tile: %v, want a 404 *Error matching os.ErrNotExist", err)
	}
	if _, err := c.ReadEntryBundle(ctx, 0, width); err != nil {
		t.Errorf("ReadEntryBundle: %v", err)
	}
}

func TestEntryFromTiles(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	ctx := context.Background()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	var first *client.AddedEntry
	for i := range 5 {
		added, err := newClient(t, l.URL).AddEntry(ctx, s.RequestProto(t, []byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			first = added
		}
	}
	for name, c := range map[string]*client.Client{
		"log key": newClient(t, l.URL, client.WithLogPublicKey(l.Key.Public())),
		"log ID":  newClient(t, l.URL, client.WithLogID(l.LogID)),
		"info":    newClient(t, l.URL),
	} {
		t.Run(name, func(t *testing.T) {
			tle, err := c.EntryFromTiles(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tle.GetCanonicalizedBody(), first.Entry.GetCanonicalizedBody()) {
				t.Error("rebuilt leaf differs")
			}
			if tle.GetKindVersion().GetKind() != "hashedrekord" || tle.GetKindVersion().GetVersion() != "0.0.2" {
				t.Errorf("kindVersion %v", tle.GetKindVersion())
			}
			checkEntry(t, l, &client.AddedEntry{Entry: tle})
		})
	}
	if _, err := newClient(t, l.URL, client.WithLogID(l.LogID)).EntryFromTiles(ctx, 5); err == nil {
		t.Error("an entry beyond the log was rebuilt")
	}
}

// The read routes of contract items 1-5.
func TestReadRoutes(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Index: true})
	c := newClient(t, l.URL)
	ctx := context.Background()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	var last *client.AddedEntry
	for i := range 4 {
		added, err := c.AddEntry(ctx, s.RequestProto(t, []byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		last = added
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Origin != l.Origin || !bytes.Equal(info.LogID, l.LogID) || info.TreeSize < 4 {
		t.Errorf("info: origin %q logId %x size %d", info.Origin, info.LogID, info.TreeSize)
	}
	pub, err := c.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cryptoutils.EqualKeys(pub, l.Key.Public()); err != nil {
		t.Errorf("public key: %v", err)
	}

	t.Run("entry", func(t *testing.T) {
		tle, err := c.Entry(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		checkEntry(t, l, &client.AddedEntry{Entry: tle})
		_, err = c.Entry(ctx, 1<<40)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("entry beyond the log: %v, want 404", err)
		}
	})
	t.Run("inclusion", func(t *testing.T) {
		size := uint64(info.TreeSize)
		p, err := c.InclusionProof(ctx, 3, size)
		if err != nil {
			t.Fatal(err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(last.Entry.GetCanonicalizedBody())
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 3, size, leaf, p.GetHashes(), info.RootHash); err != nil {
			t.Errorf("inclusion proof: %v", err)
		}
		var he *client.Error
		if _, err := c.InclusionProof(ctx, 3, 2); !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
			t.Errorf("index beyond treeSize: %v, want 400", err)
		}
	})
	t.Run("consistency", func(t *testing.T) {
		p, err := c.ConsistencyProof(ctx, 2, info.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 2, info.TreeSize, p.Hashes, p.FirstRootHash, info.RootHash); err != nil {
			t.Errorf("consistency proof: %v", err)
		}
		var he *client.Error
		if _, err := c.ConsistencyProof(ctx, 3, 2); !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
			t.Errorf("reversed sizes: %v, want 400", err)
		}
	})
	t.Run("search", func(t *testing.T) {
		digest := sha256.Sum256([]byte{3})
		q := client.SearchQuery{Digest: "sha256:" + hex.EncodeToString(digest[:])}
		// The index follows the log; wait (bounded) until it covers it.
		var res *client.SearchResponse
		for deadline := time.Now().Add(10 * time.Second); ; {
			var err error
			if res, err = c.Search(ctx, q); err != nil {
				t.Fatal(err)
			}
			if res.Index != nil && res.Index.IndexedSize >= info.TreeSize || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(res.Results) != 1 || res.Results[0].LogIndex != uint64(last.Entry.GetLogIndex()) {
			t.Errorf("search results %+v (index %+v), want index %d", res.Results, res.Index, last.Entry.GetLogIndex())
		}
		if _, err := c.Search(ctx, client.SearchQuery{PageSize: 10}); err == nil {
			t.Error("a search without criteria was sent")
		}
	})
}

// mintToken gets a token from the test server's development issuer.
func mintToken(t *testing.T, l *mosaictest.Log, query string) string {
	t.Helper()
	resp, err := http.Get(l.URL + "/dev-oidc/token?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("minting a token: %d %v", resp.StatusCode, err)
	}
	return tok.IDToken
}
