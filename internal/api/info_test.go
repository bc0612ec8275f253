package api_test

import (
	"bytes"
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// infoBody mirrors GET /api/v2/log/info with exact types.
type infoBody struct {
	Origin      string          `json:"origin"`
	TreeSize    uint64          `json:"treeSize"`
	RootHash    []byte          `json:"rootHash"`
	Checkpoint  string          `json:"checkpoint"`
	PublicKey   string          `json:"publicKey"`
	LogID       []byte          `json:"logId"`
	VerifierKey string          `json:"verifierKey"`
	Index       json.RawMessage `json:"index"`
	Shard       string          `json:"shard"`
	Frozen      json.RawMessage `json:"frozen"`
}

func getInfo(t *testing.T, url string) infoBody {
	t.Helper()
	resp, body := get(t, url+"/api/v2/log/info")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("info: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=1" {
		t.Errorf("info: Cache-Control %q", cc)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var info infoBody
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("info: %v: %s", err, body)
	}
	return info
}

func testInfoRoute(t *testing.T, r *readLog) {
	info := getInfo(t, r.URL)
	if info.Shard != "main" || info.Frozen != nil {
		t.Errorf("info: shard %q frozen %s, want main, not frozen", info.Shard, info.Frozen)
	}
	if info.Origin != r.Origin || info.TreeSize != r.size || !bytes.Equal(info.RootHash, r.ref.Hash()) {
		t.Errorf("info: origin %q size %d root %x, want %q %d %x", info.Origin, info.TreeSize, info.RootHash, r.Origin, r.size, r.ref.Hash())
	}
	// The verifier key alone verifies the checkpoint, with sumdb/note.
	v, err := sumdbnote.NewVerifier(info.VerifierKey)
	if err != nil {
		t.Fatalf("verifierKey %q: %v", info.VerifierKey, err)
	}
	if _, err := sumdbnote.Open([]byte(info.Checkpoint), sumdbnote.VerifierList(v)); err != nil {
		t.Errorf("the checkpoint does not verify with verifierKey: %v", err)
	}
	cp, _, _, err := log.ParseCheckpoint([]byte(info.Checkpoint), info.Origin, v)
	if err != nil || cp.Size != info.TreeSize || !bytes.Equal(cp.Hash, info.RootHash) {
		t.Errorf("checkpoint %v (%v) does not match treeSize %d and rootHash %x", cp, err, info.TreeSize, info.RootHash)
	}
	pub, err := note.ParsePublicKey([]byte(info.PublicKey))
	if err != nil || !r.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Errorf("publicKey %q (%v) is not the log's key", info.PublicKey, err)
	}
	// logId is the one every written entry names.
	var written struct{ LogID struct{ KeyID []byte } }
	if err := json.Unmarshal(r.written[0], &written); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.LogID, written.LogID.KeyID) || len(info.LogID) != 32 {
		t.Errorf("logId %x, entries name %x", info.LogID, written.LogID.KeyID)
	}
	if info.Index != nil {
		t.Errorf("index %s reported, but no search index runs", info.Index)
	}

	resp, body := get(t, r.URL+"/api/v2/log/publicKey")
	if resp.StatusCode != http.StatusOK || string(body) != info.PublicKey {
		t.Errorf("publicKey: %d %q, want the info's %q", resp.StatusCode, body, info.PublicKey)
	}
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/x-pem-file" || cc != "public, max-age=86400" {
		t.Errorf("publicKey: Content-Type %q, Cache-Control %q", ct, cc)
	}
}

// An ECDSA log key has no signed-note verifier key string: the field is
// omitted and everything else is served.
func TestInfoECDSAKey(t *testing.T) {
	key, err := note.GenerateKey(note.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	l := mosaictest.NewLog(t, mosaictest.Options{Key: key})
	addLeaves(t, l, 1, "ecdsa")
	resp, body := get(t, l.URL+"/api/v2/log/info")
	var raw map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &raw) != nil {
		t.Fatalf("info: %d %s", resp.StatusCode, body)
	}
	if _, ok := raw["verifierKey"]; ok {
		t.Errorf("verifierKey %v given for an ECDSA key", raw["verifierKey"])
	}
	info := getInfo(t, l.URL)
	v, err := note.NewVerifier(l.Origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if cp, _, _, err := log.ParseCheckpoint([]byte(info.Checkpoint), l.Origin, v); err != nil || cp.Size != 1 {
		t.Errorf("checkpoint %v: %v", cp, err)
	}
	if !bytes.Equal(info.LogID, l.LogID) {
		t.Errorf("logId %x, want %x", info.LogID, l.LogID)
	}
}

// With a search index, info reports its progress against the info's tree
// size.
func TestInfoIndex(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	addLeaves(t, l, 3, "indexed")
	st, err := index.OpenBadger(filepath.Join(t.TempDir(), "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ix := index.New(l.Log, st, index.Config{})
	srv := httptest.NewServer(api.NewHandler(api.Config{Log: l.Log, Index: ix}))
	t.Cleanup(srv.Close)

	var st0 struct {
		IndexedSize uint64     `json:"indexedSize"`
		Lag         uint64     `json:"lag"`
		UpdatedAt   *time.Time `json:"updatedAt"`
	}
	info := getInfo(t, srv.URL)
	if err := json.Unmarshal(info.Index, &st0); err != nil || st0.IndexedSize != 0 || st0.Lag != 3 || st0.UpdatedAt != nil {
		t.Errorf("before indexing: index %s, want indexedSize 0, lag 3, no updatedAt", info.Index)
	}
	if err := ix.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	info = getInfo(t, srv.URL)
	if err := json.Unmarshal(info.Index, &st0); err != nil || st0.IndexedSize != 3 || st0.Lag != 0 || st0.UpdatedAt == nil {
		t.Errorf("after indexing: index %s, want indexedSize 3, lag 0, updatedAt", info.Index)
	}
	if err := validateResponse(newDocRouter(t, loadDoc(t)), do(t, http.MethodGet, srv.URL+"/api/v2/log/info", nil)); err != nil {
		t.Errorf("info with an index does not match the document: %v", err)
	}
}
