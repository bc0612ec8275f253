package index_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// eachStore runs f on a posix log indexed in Badger and on a PostgreSQL
// log indexed in the same database, as mosaicd serve wires them.
func eachStore(t *testing.T, f func(t *testing.T, store string)) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) { f(t, store) })
	}
}

// fixture is a real keyless log and a way to (re)open its index's store.
type fixture struct {
	log  *mosaictest.Log
	open func(t testing.TB) index.Store
}

func newFixture(t testing.TB, store string) *fixture {
	t.Helper()
	l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Keyless: true})
	fx := &fixture{log: l}
	switch store {
	case "postgres":
		fx.open = func(t testing.TB) index.Store {
			pool, err := pgxpool.New(context.Background(), l.DatabaseURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			return newPostgresStore(t, pool, "main")
		}
	default:
		dir := filepath.Join(t.TempDir(), "index")
		fx.open = func(t testing.TB) index.Store {
			s, err := index.OpenBadger(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	return fx
}

// index opens the store and an index over it; both are closed when t ends
// unless the caller closes the store first.
func (fx *fixture) index(t testing.TB) (*index.Index, index.Store, *index.Metrics) {
	t.Helper()
	s := fx.open(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close()
		}
	})
	m := index.NewMetrics()
	ix := index.New(fx.log.Log, closer{s, &closed}, index.Config{Metrics: m, Poll: 10 * time.Millisecond})
	return ix, closer{s, &closed}, m
}

// closer remembers that a store was closed.
type closer struct {
	index.Store
	closed *bool
}

func (c closer) Close() error {
	*c.closed = true
	return c.Store.Close()
}

func syncIndex(t testing.TB, ix *index.Index) {
	t.Helper()
	if err := ix.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// add submits s's request for artifact and returns the entry's index and
// leaf, as the log proved them.
func add(t testing.TB, l *mosaictest.Log, s *mosaictest.Signer, artifact string) (uint64, []byte) {
	t.Helper()
	resp, body := post(t, l.URL+"/api/v2/log/entries", s.Request(t, []byte(artifact)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("adding an entry: %d %s", resp.StatusCode, body)
	}
	tle, err := l.CheckEntry(body)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(tle.GetLogIndex()), tle.GetCanonicalizedBody()
}

func post(t testing.TB, u string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// keylessSigner gets a certificate for email from the log's own CA, with a
// token from its development OIDC issuer, as a keyless client does.
func keylessSigner(t testing.TB, l *mosaictest.Log, email string) *mosaictest.Signer {
	t.Helper()
	resp, err := http.Get(l.URL + "/dev-oidc/token?email=" + url.QueryEscape(email))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.IDToken == "" {
		t.Fatalf("dev OIDC token: %v", err)
	}
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	sum := sha256.Sum256([]byte(email))
	proof, err := ecdsa.SignASN1(rand.Reader, s.Key.(*ecdsa.PrivateKey), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(s.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{
		"credentials": map[string]any{"oidcIdentityToken": tok.IDToken},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pemKey)},
			"proofOfPossession": base64.StdEncoding.EncodeToString(proof),
		},
	})
	r, body := post(t, l.URL+"/api/v2/signingCert", req)
	if r.StatusCode/100 != 2 {
		t.Fatalf("signingCert: %d %s", r.StatusCode, body)
	}
	var out struct {
		SignedCertificateEmbeddedSct struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.SignedCertificateEmbeddedSct.Chain.Certificates) == 0 {
		t.Fatalf("signingCert response %s: %v", body, err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(out.SignedCertificateEmbeddedSct.Chain.Certificates[0]))
	if err != nil || len(certs) != 1 {
		t.Fatalf("signingCert leaf: %v", err)
	}
	s.CertDER = certs[0].Raw
	return s
}

// metric reads a counter or gauge of m.
func metric(t *testing.T, m *index.Metrics, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mm := range mf.GetMetric() {
			if mm.GetGauge() != nil {
				return mm.GetGauge().GetValue()
			}
			return mm.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// digestOf is the search digest of artifact as a P-256 signer logs it.
func digestOf(artifact string) string {
	sum := sha256.Sum256([]byte(artifact))
	return "sha256:" + hex.EncodeToString(sum[:])
}
