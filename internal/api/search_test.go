package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// searchServer is a log plus a second handler on the same log with a
// search index, as mosaicd serve wires it.
type searchServer struct {
	log     *mosaictest.Log
	index   *index.Index
	handler http.Handler
	url     string
}

// newSearchServer starts a searchServer on store; opts adjust the search
// handler's Config.
func newSearchServer(t testing.TB, store string, opts ...func(*api.Config)) *searchServer {
	t.Helper()
	l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
	var st index.Store
	var err error
	if store == "postgres" {
		pool, perr := pgxpool.New(context.Background(), l.DatabaseURL)
		if perr != nil {
			t.Fatal(perr)
		}
		t.Cleanup(pool.Close)
		st, err = index.NewPostgresStore(context.Background(), pool, "main")
	} else {
		st, err = index.OpenBadger(filepath.Join(t.TempDir(), "index"), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ix := index.New(l.Log, st, index.Config{})
	cfg := api.Config{Log: l.Log, MaxRequestBytes: 64 << 10, Index: ix}
	for _, o := range opts {
		o(&cfg)
	}
	h := api.NewHandler(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &searchServer{log: l, index: ix, handler: h, url: srv.URL}
}

// addAndIndex logs s's request for artifact and indexes the log; it
// returns the entry's index and leaf.
func (ss *searchServer) addAndIndex(t testing.TB, s *mosaictest.Signer, artifact string) (int64, []byte) {
	t.Helper()
	resp, body := post(t, ss.log.URL, s.Request(t, []byte(artifact)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("adding an entry: %d %s", resp.StatusCode, body)
	}
	tle, err := ss.log.CheckEntry(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.index.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tle.GetLogIndex(), tle.GetCanonicalizedBody()
}

func postSearch(t testing.TB, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/api/v2/log/search", "application/json", strings.NewReader(body))
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

// searchPage is a decoded search response.
type searchPage struct {
	Results []struct {
		LogIndex          *int64 `json:"logIndex"`
		Kind              string `json:"kind"`
		APIVersion        string `json:"apiVersion"`
		CanonicalizedBody []byte `json:"canonicalizedBody"`
	} `json:"results"`
	NextPageToken *string `json:"nextPageToken"`
	Index         struct {
		IndexedSize, LogSize, Lag *int64
	} `json:"index"`
}

func TestSearchRoute(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		ss := newSearchServer(t, store)
		s := mosaictest.NewCertSigner(t, "search@example.com")
		leaves := map[int64][]byte{}
		for i := range 3 {
			n, leaf := ss.addAndIndex(t, s, fmt.Sprintf("search %d", i))
			leaves[n] = leaf
		}
		q := fmt.Sprintf(`{"publicKeyFingerprint": %q, "pageSize": 2}`, entry.Fingerprint(s.PublicKeyDER))
		resp, body := postSearch(t, ss.url, q)
		page := decodePage(t, resp, body)
		if len(page.Results) != 2 || page.NextPageToken == nil {
			t.Fatalf("first page %s: want 2 results and a next page", body)
		}
		checkResults(t, page, leaves)
		if ix := page.Index; ix.IndexedSize == nil || *ix.IndexedSize != 3 || *ix.LogSize != 3 || *ix.Lag != 0 {
			t.Errorf("index status in %s, want 3 of 3", body)
		}
		q = fmt.Sprintf(`{"san": "search@example.com", "pageSize": 2, "pageToken": %q}`, *page.NextPageToken)
		resp, body = postSearch(t, ss.url, q)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a token of another search: %d %s, want 400", resp.StatusCode, body)
		}
		q = fmt.Sprintf(`{"publicKeyFingerprint": %q, "pageSize": 2, "pageToken": %q}`,
			entry.Fingerprint(s.PublicKeyDER), *page.NextPageToken)
		resp, body = postSearch(t, ss.url, q)
		last := decodePage(t, resp, body)
		if len(last.Results) != 1 || last.NextPageToken != nil || *last.Results[0].LogIndex <= *page.Results[1].LogIndex {
			t.Errorf("last page %s: want the third entry and no nextPageToken", body)
		}
		checkResults(t, last, leaves)
		// No match is an empty list, not null.
		resp, body = postSearch(t, ss.url, `{"san": "nobody@example.com", "oidcIssuer": "https://issuer"}`)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"results":[]`)) {
			t.Errorf("no match: %d %s, want 200 and results []", resp.StatusCode, body)
		}
	})
}

// TestSearchPageBytes: SearchPageBytes cuts pages short of pageSize, a
// result larger than it goes out alone, and nextPageToken continues where
// a page stopped.
func TestSearchPageBytes(t *testing.T) {
	s := mosaictest.NewCertSigner(t, "pages@example.com")
	// A result's size in the reply: its body in base64, plus a few bytes
	// for signatures of different lengths.
	dec, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := dec.Decode(s.Request(t, []byte("a sample")))
	if err != nil {
		t.Fatal(err)
	}
	one := base64.StdEncoding.EncodedLen(len(e.Body)) + 4
	for _, c := range []struct {
		name      string
		pageBytes int
		perPage   int
	}{
		{"smaller than one result", 1, 1},
		{"two and a half results", one * 5 / 2, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ss := newSearchServer(t, "posix", func(cfg *api.Config) { cfg.SearchPageBytes = c.pageBytes })
			leaves := map[int64][]byte{}
			for i := range 5 {
				n, leaf := ss.addAndIndex(t, s, fmt.Sprintf("pages %d", i))
				leaves[n] = leaf
			}
			q := `{"san":"pages@example.com","pageSize":100}`
			seen := map[int64]bool{}
			for pages := 1; ; pages++ {
				resp, body := postSearch(t, ss.url, q)
				page := decodePage(t, resp, body)
				checkResults(t, page, leaves)
				for _, r := range page.Results {
					if seen[*r.LogIndex] {
						t.Errorf("entry %d again on page %d", *r.LogIndex, pages)
					}
					seen[*r.LogIndex] = true
				}
				if page.NextPageToken == nil {
					if pages != (5+c.perPage-1)/c.perPage {
						t.Errorf("%d pages, want %d of %d", pages, (5+c.perPage-1)/c.perPage, c.perPage)
					}
					break
				}
				if len(page.Results) != c.perPage {
					t.Fatalf("page %d holds %d results and has a next page; want %d", pages, len(page.Results), c.perPage)
				}
				q = fmt.Sprintf(`{"san":"pages@example.com","pageSize":100,"pageToken":%q}`, *page.NextPageToken)
			}
			if len(seen) != 5 {
				t.Errorf("the pages held %d entries, want each of 5 once", len(seen))
			}
		})
	}
}

func decodePage(t *testing.T, resp *http.Response, body []byte) searchPage {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p searchPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("search response %s: %v", body, err)
	}
	return p
}

func checkResults(t *testing.T, p searchPage, leaves map[int64][]byte) {
	t.Helper()
	for _, r := range p.Results {
		if r.LogIndex == nil || !bytes.Equal(r.CanonicalizedBody, leaves[*r.LogIndex]) {
			t.Errorf("result %v: body is not the logged leaf", r.LogIndex)
		}
		if r.Kind != "hashedrekord" || r.APIVersion != "0.0.2" {
			t.Errorf("result %v: kind %q apiVersion %q", r.LogIndex, r.Kind, r.APIVersion)
		}
	}
}

func TestSearchBadRequests(t *testing.T) {
	ss := newSearchServer(t, "posix")
	doc := loadDoc(t)
	f := &fixture{doc: doc, r: newDocRouter(t, doc)}
	hex64 := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"empty body", "", 400, "request body is empty"},
		{"whitespace", " \n", 400, "request body is empty"},
		{"not JSON", "digest=sha256:x", 400, "request body is not valid JSON"},
		{"truncated", `{"san":"a"`, 400, "request body is not valid JSON"},
		{"bad value", `{"san":"a","pageSize":tru}`, 400, "request body.pageSize is not valid JSON"},
		{"array", `[{"san":"a"}]`, 400, "request body must be a JSON object"},
		{"string", `"san"`, 400, "request body must be a JSON object"},
		{"null", `null`, 400, "request body must be a JSON object"},
		{"trailing data", `{"san":"a"} x`, 400, "request body has data after the JSON object"},
		{"two objects", `{"san":"a"}{"san":"b"}`, 400, "request body has data after the JSON object"},
		{"duplicate san", `{"san":"a","san":"b"}`, 400, "request body has field san twice"},
		{"duplicate equal values", `{"digest":"sha256:` + hex64 + `","digest":"sha256:` + hex64 + `"}`, 400, "has field digest twice"},
		{"duplicate null first", `{"oidcIssuer":null,"oidcIssuer":"https://issuer"}`, 400, "has field oidcIssuer twice"},
		{"duplicate escaped", `{"san":"a","s\u0061n":"b"}`, 400, "has field san twice"},
		{"duplicate page size", `{"san":"a","pageSize":1,"pageSize":1000}`, 400, "has field pageSize twice"},
		{"duplicate page token", `{"san":"a","pageToken":"","pageToken":"x"}`, 400, "has field pageToken twice"},
		{"duplicate unknown", `{"san":"a","x":1,"x":2}`, 400, "has field x twice"},
		{"unknown null", `{"san":"a","logIndex":null}`, 400, `unknown field "logIndex"`},
		{"empty object", `{}`, 400, "no criterion"},
		{"only empty strings", `{"digest":"","san":""}`, 400, "no criterion"},
		{"only page size", `{"pageSize":10}`, 400, "no criterion"},
		{"unknown field", `{"san":"a","logIndex":1}`, 400, `unknown field "logIndex"`},
		{"wrong case", `{"Digest":"sha256:` + hex64 + `"}`, 400, `unknown field "Digest"`},
		{"snake case", `{"oidc_issuer":"https://issuer"}`, 400, "unknown field"},
		{"digest number", `{"digest":5}`, 400, "digest must be a string"},
		{"san object", `{"san":{"email":"a"}}`, 400, "san must be a string"},
		{"token number", `{"san":"a","pageToken":1}`, 400, "pageToken must be a string"},
		{"digest bad hex", `{"digest":"sha256:` + strings.Repeat("z", 64) + `"}`, 400, "not hexadecimal"},
		{"digest bad length", `{"digest":"sha256:abcd"}`, 400, "4 hex digits"},
		{"digest bad algorithm", `{"digest":"md5:` + hex64[:32] + `"}`, 400, "not supported"},
		{"fingerprint sha512", `{"publicKeyFingerprint":"sha512:` + strings.Repeat("a", 128) + `"}`, 400, "not supported"},
		{"page size fraction", `{"san":"a","pageSize":1.5}`, 400, "pageSize must be an integer"},
		{"page size string", `{"san":"a","pageSize":"10"}`, 400, "pageSize must be an integer"},
		{"page size huge", `{"san":"a","pageSize":1e30}`, 400, "pageSize must be an integer"},
		{"page size too large", `{"san":"a","pageSize":1001}`, 400, "pageSize"},
		{"page size negative", `{"san":"a","pageSize":-5}`, 400, "pageSize"},
		{"bad token", `{"san":"a","pageToken":"not-a-token"}`, 400, "pageToken"},
		{"too large", `{"san":"` + strings.Repeat("a", 20<<10) + `"}`, 413, "exceeds the limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := do(t, http.MethodPost, ss.url+"/api/v2/log/search", []byte(c.body))
			f.check(t, x, c.status)
			body := x.body
			var e api.ErrorBody
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if !strings.Contains(e.Message, c.msg) || (c.status == 400 && e.Code != 3) {
				t.Errorf("error %+v, want code 3 and a message containing %q", e, c.msg)
			}
		})
	}
	// Only POST is routed.
	resp, _ := http.Get(ss.url + "/api/v2/log/search")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET search: %d, want 405", resp.StatusCode)
	}
}

// TestSearchWithoutIndex: a server without a search index does not serve
// the route.
func TestSearchWithoutIndex(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	resp, body := postSearch(t, l.URL, `{"san":"a"}`)
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("search without an index: %d %s, want 404 or 503", resp.StatusCode, body)
	}
}

// FuzzSearchRequest checks that no request body makes the search route
// panic or answer other than 200, 400 or 413 with a JSON body, and that a
// 200 lists ascending results within the page size.
func FuzzSearchRequest(f *testing.F) {
	ss := newSearchServer(f, "posix")
	s := mosaictest.NewCertSigner(f, "fuzz@example.com")
	for i := range 3 {
		ss.addAndIndex(f, s, fmt.Sprintf("fuzz %d", i))
	}
	f.Add([]byte(fmt.Sprintf(`{"publicKeyFingerprint":%q,"pageSize":1}`, entry.Fingerprint(s.PublicKeyDER))))
	f.Add([]byte(`{"san":"fuzz@example.com","oidcIssuer":"https://issuer","pageToken":"AQAAAAAAAAABAAAAAAAAAAAA"}`))
	f.Add([]byte(`{"digest":"SHA512:` + strings.Repeat("F", 128) + `"}`))
	f.Add([]byte(`{"san":null,"pageSize":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		ss.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v2/log/search", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var e api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("%d with body %q: %v", rec.Code, rec.Body.Bytes(), err)
			}
		case http.StatusOK:
			var p struct {
				Results []struct {
					LogIndex uint64 `json:"logIndex"`
				} `json:"results"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Results == nil {
				t.Fatalf("200 with body %q: %v", rec.Body.Bytes(), err)
			}
			if len(p.Results) > index.MaxPageSize {
				t.Fatalf("%d results", len(p.Results))
			}
			for i := 1; i < len(p.Results); i++ {
				if p.Results[i].LogIndex <= p.Results[i-1].LogIndex {
					t.Fatalf("results not ascending: %s", rec.Body.Bytes())
				}
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
	})
}
