package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

func post(t testing.TB, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
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

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestCreateEntry(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		signers := map[string]*mosaictest.Signer{
			"public key":  mosaictest.NewSigner(t, mosaictest.ECDSAP256),
			"certificate": mosaictest.NewCertSigner(t, "alice@example.com"),
			"ed25519ph":   mosaictest.NewSigner(t, mosaictest.Ed25519ph),
			"rsa":         mosaictest.NewSigner(t, mosaictest.RSA2048),
		}
		for name, s := range signers {
			t.Run(name, func(t *testing.T) {
				resp, body := post(t, l.URL, s.Request(t, []byte("artifact for "+name)))
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				tle, err := l.CheckEntry(body)
				if err != nil {
					t.Fatal(err)
				}
				if kv := tle.GetKindVersion(); kv.GetKind() != "hashedrekord" || kv.GetVersion() != "0.0.2" {
					t.Errorf("kindVersion %v", kv)
				}
				// int64 fields are JSON strings, as protobuf-JSON requires.
				var raw map[string]any
				_ = json.Unmarshal(body, &raw)
				if _, ok := raw["logIndex"].(string); !ok {
					t.Errorf("logIndex is %T, want a JSON string", raw["logIndex"])
				}
				// Rekor v2 writes zero values out: no integrated time, no promise.
				if raw["integratedTime"] != "0" || raw["inclusionPromise"] != nil {
					t.Errorf("integratedTime %v, inclusionPromise %v; want \"0\" and null", raw["integratedTime"], raw["inclusionPromise"])
				}
			})
		}
	})
}

func errorBody(t testing.TB, b []byte) api.ErrorBody {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", b)
	}
	if e.Message == "" || e.Code == 0 {
		t.Errorf("error body lacks code or message: %q", b)
	}
	return e
}

// The handler maps each kind of bad input to its status and a message that
// says what is wrong. (internal/entry's table covers every validation rule;
// this one covers the HTTP mapping and the HTTP-only cases.)
func TestCreateEntryErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store, MaxRequestBytes: 8 << 10})
		s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		good := s.Request(t, []byte("good"))
		withField := func(from, to string) []byte { return bytes.Replace(good, []byte(from), []byte(to), 1) }
		tests := []struct {
			name    string
			body    []byte
			status  int
			code    int
			message string
		}{
			{"malformed JSON", []byte(`{"hashedRekordRequestV002":`), 400, 3, "malformed request"},
			{"empty body", nil, 400, 3, "request body is empty"},
			{"unknown oneof", []byte(`{"somethingElse":{}}`), 400, 3, "malformed request"},
			{"missing digest", []byte(`{"hashedRekordRequestV002":{"signature":{"content":"AAAA"}}}`), 400, 3, "digest is missing"},
			{"wrong digest length", mosaictest.Mutate(t, good, func(hr map[string]any) { hr["digest"] = "AAAA" }), 400, 3, "digest is 3 bytes"},
			{"bad base64", withField(`"digest":"`, `"digest":"%%%`), 400, 3, "malformed request"},
			{"signature not matching", mosaictest.Mutate(t, good, func(hr map[string]any) {
				hr["digest"] = base64.StdEncoding.EncodeToString(make([]byte, 32))
			}), 400, 3, "signature does not verify"},
			{"key/keyDetails mismatch", withField("PKIX_ECDSA_P256_SHA_256", "PKIX_ECDSA_P521_SHA_512"), 400, 3, "does not match the submitted"},
			{"unsupported algorithm", withField("PKIX_ECDSA_P256_SHA_256", "PKIX_RSA_PSS_2048_SHA256"), 400, 3, "unsupported signing algorithm"},
			{"garbage certificate", mosaictest.Mutate(t, good, func(hr map[string]any) {
				v := hr["signature"].(map[string]any)["verifier"].(map[string]any)
				delete(v, "publicKey")
				v["x509Certificate"] = map[string]any{"rawBytes": "MIIBIjANBgkqhkiG9w0BAQ=="}
			}), 400, 3, "not a DER X.509 certificate"},
			{"oversized body", bytes.Repeat([]byte(" "), 9<<10), 413, 8, "request body of 9216 bytes exceeds the limit of 8192 bytes (max-request-bytes)"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := post(t, l.URL, tc.body)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
				e := errorBody(t, body)
				if e.Code != tc.code || !strings.Contains(e.Message, tc.message) {
					t.Errorf("error %+v, want code %d and a message containing %q", e, tc.code, tc.message)
				}
			})
		}
	})
}

// TestDuplicateExisting: in the default mode a re-submission gets 201 and
// the original entry with a proof that verifies, marked as a duplicate.
func TestDuplicateExisting(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		body := mosaictest.NewSigner(t, mosaictest.Ed25519ph).Request(t, []byte("once"))
		resp, first := post(t, l.URL, body)
		if resp.StatusCode != http.StatusCreated || resp.Header.Get(api.DuplicateHeader) != "" {
			t.Fatalf("first add: %d %s %q %s", resp.StatusCode, api.DuplicateHeader, resp.Header.Get(api.DuplicateHeader), first)
		}
		tle, err := l.CheckEntry(first)
		if err != nil {
			t.Fatal(err)
		}
		// Something else lands in between, so the retry is proven against
		// a larger tree than the first answer was.
		if resp, b := post(t, l.URL, mosaictest.NewSigner(t, mosaictest.ECDSAP256).Request(t, []byte("other"))); resp.StatusCode != http.StatusCreated {
			t.Fatalf("other add: %d %s", resp.StatusCode, b)
		}
		resp, second := post(t, l.URL, body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("duplicate: status %d, want 201: %s", resp.StatusCode, second)
		}
		idx := strconv.FormatInt(tle.GetLogIndex(), 10)
		if got := resp.Header.Get(api.DuplicateHeader); got != idx {
			t.Errorf("%s %q, want %q", api.DuplicateHeader, got, idx)
		}
		again, err := l.CheckEntry(second)
		if err != nil {
			t.Fatalf("the duplicate's answer does not verify: %v", err)
		}
		if again.GetLogIndex() != tle.GetLogIndex() || !bytes.Equal(again.GetCanonicalizedBody(), tle.GetCanonicalizedBody()) {
			t.Errorf("duplicate answered index %d, want %d with the same body", again.GetLogIndex(), tle.GetLogIndex())
		}
		if again.GetInclusionProof().GetTreeSize() < 2 {
			t.Errorf("duplicate proven against tree size %d, want the latest (2)", again.GetInclusionProof().GetTreeSize())
		}
	})
}

// TestDuplicateConflict: --duplicates=conflict is Rekor v2's 409.
func TestDuplicateConflict(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Duplicates: api.DuplicatesConflict})
		body := mosaictest.NewSigner(t, mosaictest.Ed25519ph).Request(t, []byte("once"))
		resp, first := post(t, l.URL, body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first add: %d %s", resp.StatusCode, first)
		}
		tle, err := l.CheckEntry(first)
		if err != nil {
			t.Fatal(err)
		}
		resp, second := post(t, l.URL, body)
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("duplicate: status %d, want 409: %s", resp.StatusCode, second)
		}
		idx := strconv.FormatInt(tle.GetLogIndex(), 10)
		if got := resp.Header.Get("X-Log-Index"); got != idx {
			t.Errorf("X-Log-Index %q, want %q", got, idx)
		}
		if e := errorBody(t, second); e.Code != 6 || !strings.Contains(e.Message, "at index "+idx) {
			t.Errorf("duplicate error %+v does not name index %s", e, idx)
		}
	})
}

// TestDuplicateConcurrent: 50 concurrent submissions of one entry make one
// log entry, and every one of them gets 201 with its index and a proof.
func TestDuplicateConcurrent(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		body := mosaictest.NewSigner(t, mosaictest.Ed25519ph).Request(t, []byte("fifty times"))
		const n = 50
		indices := make([]int64, n)
		dups := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, b := post(t, l.URL, body)
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("submission %d: %d %s", i, resp.StatusCode, b)
					return
				}
				tle, err := l.CheckEntry(b)
				if err != nil {
					t.Errorf("submission %d: %v", i, err)
					return
				}
				indices[i], dups[i] = tle.GetLogIndex(), resp.Header.Get(api.DuplicateHeader) != ""
			})
		}
		wg.Wait()
		firsts := 0
		for i := range n {
			if indices[i] != indices[0] {
				t.Errorf("submission %d got index %d, submission 0 got %d", i, indices[i], indices[0])
			}
			if !dups[i] {
				firsts++
			}
		}
		if firsts != 1 {
			t.Errorf("%d submissions were answered as new, want exactly 1", firsts)
		}
		cp, _, err := l.Log.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != 1 {
			t.Errorf("the log holds %d entries, want 1", cp.Size)
		}
	})
}

func TestRoutingErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		req, _ := http.NewRequest(http.MethodDelete, l.URL+"/api/v2/checkpoint", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || errorBody(t, b).Code != 12 {
			t.Errorf("DELETE checkpoint: %d %s", resp.StatusCode, b)
		}
		resp, b = get(t, l.URL+"/api/v2/log/entries")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET entries: %d %s", resp.StatusCode, b)
		}
		resp, b = get(t, l.URL+"/no/such/route")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(errorBody(t, b).Message, "/no/such/route") {
			t.Errorf("unknown route: %d %s", resp.StatusCode, b)
		}
	})
}

// 1,000 concurrent adds: all distinct indices, all proofs verify, and the
// tree ends with exactly that many leaves.
func TestConcurrentAdds(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		const n = 1000
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = s.Request(t, []byte(fmt.Sprintf("artifact %d", i)))
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			indices = map[int64]int{}
			errs    []string
		)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				if resp.StatusCode != http.StatusCreated {
					errs = append(errs, fmt.Sprintf("%d: %s", resp.StatusCode, b))
					return
				}
				tle, err := l.CheckEntry(b)
				if err != nil {
					errs = append(errs, err.Error())
					return
				}
				if prev, dup := indices[tle.GetLogIndex()]; dup {
					errs = append(errs, fmt.Sprintf("index %d given to adds %d and %d", tle.GetLogIndex(), prev, i))
				}
				indices[tle.GetLogIndex()] = i
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d adds failed; first: %s", len(errs), errs[0])
		}
		for i := int64(0); i < n; i++ {
			if _, ok := indices[i]; !ok {
				t.Fatalf("index %d missing", i)
			}
		}
		cp, _, err := l.Log.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != n {
			t.Errorf("tree size %d, want %d", cp.Size, n)
		}
	})
}

func TestMetrics(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		body := mosaictest.NewSigner(t, mosaictest.ECDSAP256).Request(t, []byte("counted"))
		if resp, b := post(t, l.URL, body); resp.StatusCode != http.StatusCreated {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		post(t, l.URL, body) // a duplicate
		req, _ := http.NewRequest("BREW", l.URL+"/api/v2/checkpoint", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		_, m := get(t, l.URL+"/metrics")
		for _, want := range []string{
			`mosaic_log_entries_appended_total{log="main"} 1`,
			`mosaic_log_duplicates_total{log="main"} 1`,
			`mosaic_http_requests_total{code="201",method="POST",route="/api/v2/log/entries"} 2`,
			`mosaic_api_duplicate_submissions_total{mode="existing"} 1`,
			`mosaic_http_requests_total{code="405",method="other",route="unmatched"} 1`,
			`mosaic_log_add_to_proof_seconds_count{log="main"} 1`,
			`mosaic_log_integrity_failures_total{log="main"} 0`,
		} {
			if !strings.Contains(string(m), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}

// eachStore runs f once per storage backend, so every API test passes on
// both the embedded store and PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, store string)) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) { f(t, store) })
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
