package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// malformedCase is one kind of malformed request. Every one must be
// answered 4xx with a JSON error body; allow2xx cases (an injection string
// in a well-formed search field) may instead be answered 200 with no
// results.
type malformedCase struct {
	name, method, path string
	contentType        string
	// body builds the request body (nil: none). A reader whose length is
	// hidden is sent chunked.
	body     func(s *soaker) (io.Reader, error)
	allow2xx bool
}

// route is the case's route, as 5xx counts name it.
func (c *malformedCase) route() string {
	p := c.path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	switch {
	case strings.HasPrefix(p, "/api/v2/tile/"):
		p = "/api/v2/tile/*"
	case strings.HasPrefix(p, "/api/v2/log/entries/"):
		p = "/api/v2/log/entries/{index}"
	}
	return c.method + " " + p
}

const (
	entriesPath = "/api/v2/log/entries"
	searchPath  = "/api/v2/log/search"
	// oversize is larger than any request body mosaicd accepts.
	oversize = 1 << 20
	// aDigest is a well-formed digest that matches nothing.
	aDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
)

func text(s string) func(*soaker) (io.Reader, error) {
	return func(*soaker) (io.Reader, error) { return strings.NewReader(s), nil }
}

// mutated builds a valid request from the source and changes it with f.
func mutated(f func(hr *pb.HashedRekordRequestV002)) func(*soaker) (io.Reader, error) {
	return func(s *soaker) (io.Reader, error) {
		body, err := s.cfg.Source()
		if err != nil {
			return nil, err
		}
		var req pb.CreateEntryRequest
		if err := protojson.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		f(req.GetHashedRekordRequestV002())
		out, err := protojson.Marshal(&req)
		if err != nil {
			return nil, err
		}
		return bytes.NewReader(out), nil
	}
}

// padded is a JSON object whose one string field is n bytes long; chunked
// hides its length, so it is sent without Content-Length.
func padded(prefix string, n int, chunked bool) func(*soaker) (io.Reader, error) {
	return func(*soaker) (io.Reader, error) {
		r := io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeatReader('A'), int64(n)), strings.NewReader(`"}}`))
		if chunked {
			return struct{ io.Reader }{r}, nil
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		return &b, nil
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// malformedCases are the malformed requests the soak sends, in turn.
var malformedCases = []malformedCase{
	{name: "entries: bad JSON", method: "POST", path: entriesPath, body: text(`{"hashedRekordRequestV002": {"digest": `)},
	{name: "entries: not JSON", method: "POST", path: entriesPath, body: text("this is not JSON")},
	{name: "entries: empty body", method: "POST", path: entriesPath},
	{name: "entries: JSON null", method: "POST", path: entriesPath, body: text("null")},
	{name: "entries: nested 30000 deep", method: "POST", path: entriesPath, body: text(strings.Repeat("[", 30000) + strings.Repeat("]", 30000))},
	{name: "entries: unknown kind", method: "POST", path: entriesPath, body: text(`{"dsseRequestV002": {}}`)},
	{name: "entries: invalid UTF-8", method: "POST", path: entriesPath, body: text("{\"hashedRekordRequestV002\": {\"digest\": \"\xff\xfe\"}}")},
	{name: "entries: bad base64", method: "POST", path: entriesPath,
		body: text(`{"hashedRekordRequestV002": {"digest": "!!not base64!!", "signature": {"content": "%%%"}}}`)},
	{name: "entries: wrong digest length", method: "POST", path: entriesPath,
		body: mutated(func(hr *pb.HashedRekordRequestV002) { hr.Digest = hr.Digest[:20] })},
	{name: "entries: bad signature", method: "POST", path: entriesPath,
		body: mutated(func(hr *pb.HashedRekordRequestV002) { hr.Digest[0] ^= 0xff })},
	{name: "entries: garbage public key", method: "POST", path: entriesPath,
		body: mutated(func(hr *pb.HashedRekordRequestV002) {
			hr.Signature.Verifier.GetPublicKey().RawBytes = bytes.Repeat([]byte{0x30}, 91)
		})},
	{name: "entries: oversize body (1 MiB)", method: "POST", path: entriesPath,
		body: padded(`{"hashedRekordRequestV002": {"digest": "`, oversize, false)},
	{name: "entries: oversize chunked body (1 MiB)", method: "POST", path: entriesPath,
		body: padded(`{"hashedRekordRequestV002": {"digest": "`, oversize, true)},
	{name: "search: bad JSON", method: "POST", path: searchPath, body: text(`{"digest": `)},
	{name: "search: no criteria", method: "POST", path: searchPath, body: text(`{}`)},
	{name: "search: unknown field", method: "POST", path: searchPath, body: text(`{"digest": "` + aDigest + `", "where": "1=1"}`)},
	{name: "search: pageSize 1000000", method: "POST", path: searchPath, body: text(`{"digest": "` + aDigest + `", "pageSize": 1000000}`)},
	{name: "search: pageSize -1", method: "POST", path: searchPath, body: text(`{"digest": "` + aDigest + `", "pageSize": -1}`)},
	{name: "search: pageSize string", method: "POST", path: searchPath, body: text(`{"digest": "` + aDigest + `", "pageSize": "1; DROP TABLE x"}`)},
	{name: "search: SQL in digest", method: "POST", path: searchPath, body: text(`{"digest": "sha256:' OR '1'='1"}`)},
	{name: "search: SQL in fingerprint", method: "POST", path: searchPath,
		body: text(`{"publicKeyFingerprint": "sha256:00'; DROP TABLE entries; --"}`)},
	{name: "search: SQL in page token", method: "POST", path: searchPath,
		body: text(`{"digest": "` + aDigest + `", "pageToken": "' UNION SELECT * FROM pg_user --"}`)},
	{name: "search: SQL in SAN", method: "POST", path: searchPath, allow2xx: true,
		body: text(`{"san": "' OR 1=1 --", "oidcIssuer": "https://x' OR '1'='1"}`)},
	{name: "search: SQL in issuer", method: "POST", path: searchPath, allow2xx: true,
		body: text(`{"oidcIssuer": "x'; SELECT pg_sleep(10); --"}`)},
	{name: "search: NUL in SAN", method: "POST", path: searchPath, allow2xx: true,
		body: text(`{"san": "a\u0000b", "oidcIssuer": "https://issuer.example"}`)},
	{name: "search: oversize body (1 MiB)", method: "POST", path: searchPath,
		body: padded(`{"san": "`, oversize, false)},
	{name: "tile: non-numeric level", method: "GET", path: "/api/v2/tile/abc/000"},
	{name: "tile: non-numeric index", method: "GET", path: "/api/v2/tile/0/x0a1/002"},
	{name: "tile: leading zeros", method: "GET", path: "/api/v2/tile/0/0000"},
	{name: "tile: partial width 0", method: "GET", path: "/api/v2/tile/0/000.p/0"},
	{name: "tile: partial width 256", method: "GET", path: "/api/v2/tile/0/000.p/256"},
	{name: "tile: level 99", method: "GET", path: "/api/v2/tile/99/000"},
	{name: "tile: index overflow", method: "GET", path: "/api/v2/tile/0/x999/x999/x999/x999/x999/x999/x999/999"},
	{name: "tile: beyond the log", method: "GET", path: "/api/v2/tile/0/x999/999"},
	{name: "tile: path traversal", method: "GET", path: "/api/v2/tile/../../../../etc/passwd"},
	{name: "tile: encoded traversal", method: "GET", path: "/api/v2/tile/0/%2e%2e%2f%2e%2e%2fetc%2fpasswd"},
	{name: "tile: entries bad index", method: "GET", path: "/api/v2/tile/entries/abc"},
	{name: "tile: entries width 999", method: "GET", path: "/api/v2/tile/entries/000.p/999"},
	{name: "entry: negative index", method: "GET", path: "/api/v2/log/entries/-1"},
	{name: "entry: non-numeric index", method: "GET", path: "/api/v2/log/entries/abc"},
	{name: "entry: index 2^64", method: "GET", path: "/api/v2/log/entries/18446744073709551616"},
	{name: "entry: beyond the log", method: "GET", path: "/api/v2/log/entries/999999999999"},
	{name: "inclusion: no index", method: "GET", path: "/api/v2/log/proof/inclusion"},
	{name: "inclusion: negative index", method: "GET", path: "/api/v2/log/proof/inclusion?index=-1"},
	{name: "inclusion: non-numeric index", method: "GET", path: "/api/v2/log/proof/inclusion?index=1%27%20OR%201=1"},
	{name: "inclusion: treeSize 0", method: "GET", path: "/api/v2/log/proof/inclusion?index=0&treeSize=0"},
	{name: "inclusion: index ≥ treeSize", method: "GET", path: "/api/v2/log/proof/inclusion?index=5&treeSize=3"},
	{name: "inclusion: index 2^64", method: "GET", path: "/api/v2/log/proof/inclusion?index=18446744073709551616"},
	{name: "inclusion: beyond the log", method: "GET", path: "/api/v2/log/proof/inclusion?index=0&treeSize=999999999999"},
	{name: "consistency: first > second", method: "GET", path: "/api/v2/log/proof/consistency?first=5&second=1"},
	{name: "consistency: zero sizes", method: "GET", path: "/api/v2/log/proof/consistency?first=0&second=0"},
	{name: "consistency: non-numeric", method: "GET", path: "/api/v2/log/proof/consistency?first=abc&second=def"},
	{name: "consistency: beyond the log", method: "GET", path: "/api/v2/log/proof/consistency?first=1&second=999999999999"},
	{name: "consistency: negative", method: "GET", path: "/api/v2/log/proof/consistency?first=-1&second=2"},
	{name: "method: DELETE entries", method: "DELETE", path: entriesPath},
	{name: "method: PUT checkpoint", method: "PUT", path: "/api/v2/checkpoint", body: text("x")},
	{name: "route: unknown", method: "GET", path: "/api/v2/nope"},
}

// malformedClient sends the malformed cases in turn, starting at its own
// offset, until load ends; together the clients send MalformedRate a
// second.
func (s *soaker) malformedClient(load context.Context, i int) {
	gap := time.Duration(float64(s.cfg.MalformedClients) / s.cfg.MalformedRate * float64(time.Second))
	n := len(malformedCases)
	for k := i * n / max(s.cfg.MalformedClients, 1); load.Err() == nil; k++ {
		c := &malformedCases[k%n]
		name, route, status, v := s.sendMalformed(load, c)
		if load.Err() != nil && v == verdictUnanswered {
			return // cut short by the end of the load, not by the server
		}
		s.rec.malformedAnswer(name, route, status, v)
		sleep(load, gap)
	}
}

// sendMalformed sends one case and judges the answer.
func (s *soaker) sendMalformed(ctx context.Context, c *malformedCase) (name, route string, status int, v malformedVerdict) {
	name, route = c.name, c.route()
	var body io.Reader
	if c.body != nil {
		var err error
		if body, err = c.body(s); err != nil {
			s.rec.sample("malformed build", err.Error())
			return name, route, 0, verdictUnanswered
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ct := c.contentType
	if ct == "" && body != nil {
		ct = "application/json"
	}
	res, err := s.do(ctx, route, c.method, c.path, body, ct)
	if err != nil {
		return name, route, 0, verdictUnanswered
	}
	v = judge(c, res)
	if v == verdictServerErr || v == verdictWrong {
		s.rec.sample("malformed "+c.name, fmt.Sprintf("HTTP %d: %s", res.status, errorMessage(res.body)))
	}
	return name, route, res.status, v
}

// judge classifies the answer to a malformed request.
func judge(c *malformedCase, res *answer) malformedVerdict {
	switch {
	case res.status >= 500:
		return verdictServerErr
	case res.status >= 400 && res.status < 500:
		if isErrorBody(res) {
			return verdictRefused
		}
		return verdictWrong
	case c.allow2xx && res.status == http.StatusOK:
		var out struct {
			Results []json.RawMessage `json:"results"`
		}
		if json.Unmarshal(res.body, &out) == nil && len(out.Results) == 0 {
			return verdictTolerated
		}
		return verdictWrong
	}
	return verdictWrong
}

// isErrorBody reports whether an answer is Mosaic's JSON error:
// {"code": <int>, "message": "<non-empty>"}.
func isErrorBody(res *answer) bool {
	mt, _, _ := mime.ParseMediaType(res.header.Get("Content-Type"))
	if mt != "application/json" {
		return false
	}
	var e struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	return json.Unmarshal(res.body, &e) == nil && e.Code != nil && e.Message != ""
}

// errorMessage is the message of a JSON error body, or the start of
// whatever else the body is.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(bytes.TrimSpace(body))
}
