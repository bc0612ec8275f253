package api_test

// These tests keep openapi/openapi.yaml true: the document validates, it
// names exactly the routes the router serves, its tile-path grammar accepts
// exactly the paths the server accepts, and real responses of a running log
// validate against it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/openapi"
)

// chiPatterns maps router patterns that are not themselves OpenAPI paths to
// the documented paths they serve. Every chi pattern with a wildcard or a
// parameter must be listed here.
var chiPatterns = map[string][]string{
	"/entry/{index}":              {"/entry/{index}"},
	"/static/*":                   {"/static/{file}"},
	"/api/v2/log/entries/{index}": {"/api/v2/log/entries/{index}"},
	"/api/v2/tile/*": {
		"/api/v2/tile/{L}/{N}",
		"/api/v2/tile/{L}/{N}.p/{W}",
		"/api/v2/tile/entries/{N}",
		"/api/v2/tile/entries/{N}.p/{W}",
		"/api/v2/tile/identities/{N}",
	},
	"/api/v2/certlog/tile/*": {
		"/api/v2/certlog/tile/{L}/{N}",
		"/api/v2/certlog/tile/{L}/{N}.p/{W}",
		"/api/v2/certlog/tile/entries/{N}",
		"/api/v2/certlog/tile/entries/{N}.p/{W}",
	},
}

// negotiatedContentType lists paths whose Content-Type carries parameters
// the server negotiates, so only the media type itself must be documented.
var negotiatedContentType = map[string]bool{
	"/metrics": true,
}

func loadDoc(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatalf("loading openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("openapi.yaml does not validate: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc := loadDoc(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	if doc.Info.Title != "Mosaic" {
		t.Errorf("info.title %q, want Mosaic", doc.Info.Title)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL != "http://127.0.0.1:3000" {
		t.Errorf("servers: want http://127.0.0.1:3000 first")
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			// Every refusal has the Error shape, but the explorer's pages
			// for people, which answer with an HTML page. Redirects
			// (--tiles-public-url) have no body.
			for code, ref := range op.Responses.Map() {
				if code[0] == '2' || code[0] == '3' || slices.Contains(op.Tags, "explorer") {
					continue
				}
				mt := ref.Value.Content.Get("application/json")
				if mt == nil || !isErrorSchema(mt.Schema) {
					t.Errorf("%s %s response %s is not an application/json Error", method, path, code)
				}
			}
		}
	}
	for _, name := range []string{"NoRoute", "MethodNotAllowed"} {
		if doc.Components.Responses[name] == nil {
			t.Errorf("components.responses.%s is missing", name)
		}
	}
}

// isErrorSchema reports whether s is the Error schema or an allOf
// narrowing of it.
func isErrorSchema(s *openapi3.SchemaRef) bool {
	if s == nil {
		return false
	}
	if s.Ref == "#/components/schemas/Error" {
		return true
	}
	for _, sub := range s.Value.AllOf {
		if isErrorSchema(sub) {
			return true
		}
	}
	return false
}

// servedRoutes returns "METHOD /documented/path" for every route the
// handler serves.
func servedRoutes(t testing.TB, h http.Handler) map[string]bool {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("api.NewHandler returned %T, not a chi router", h)
	}
	methods := map[string][]string{}
	err := chi.Walk(routes, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		methods[pattern] = append(methods[pattern], method)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for pattern, ms := range methods {
		// Every shard's routes are the log's routes below /shards/<name>
		// (the document's "Shards" section says so); the test servers
		// have one shard, main.
		pattern = strings.TrimPrefix(pattern, "/shards/main")
		paths, mapped := chiPatterns[pattern]
		if !mapped {
			if strings.ContainsAny(pattern, "*{") {
				t.Errorf("chi pattern %s is not mapped to documented paths: add it to chiPatterns", pattern)
				continue
			}
			paths = []string{pattern}
		}
		for _, m := range ms {
			for _, p := range paths {
				served[m+" "+p] = true
			}
		}
	}
	return served
}

func documentedRoutes(doc *openapi3.T) map[string]bool {
	out := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out[method+" "+path] = true
		}
	}
	return out
}

// routeDiff lists routes served but not documented, and documented but not
// served.
func routeDiff(served, documented map[string]bool) []string {
	var diff []string
	for r := range served {
		if !documented[r] {
			diff = append(diff, "served but not documented: "+r)
		}
	}
	for r := range documented {
		if !served[r] {
			diff = append(diff, "documented but not served: "+r)
		}
	}
	slices.Sort(diff)
	return diff
}

func TestOpenAPIRoutes(t *testing.T) {
	doc := loadDoc(t)
	// A keyless log with a Gatherer mounts every optional route.
	l := mosaictest.NewLog(t, mosaictest.Options{Keyless: true})
	served := servedRoutes(t, l.Handler)
	for _, d := range routeDiff(served, documentedRoutes(doc)) {
		t.Error(d)
	}
	// The comparison must be able to fail.
	served["GET /api/v2/log/undocumented"] = true
	if d := routeDiff(served, documentedRoutes(doc)); len(d) != 1 || !strings.Contains(d[0], "/api/v2/log/undocumented") {
		t.Errorf("an undocumented route went unnoticed: %q", d)
	}
}

// docRouter finds the documented operation for a request. kin-openapi's
// routers match a path parameter within one segment, but a tile index N
// spans several ("x001/x234/067"), so each path template becomes a regular
// expression in which a parameter matches its schema's pattern. That makes
// the parameter patterns part of what the tests check.
type docRouter struct {
	doc    *openapi3.T
	routes []docRoute
}

type docRoute struct {
	path string
	item *openapi3.PathItem
	re   *regexp.Regexp
}

var templateParam = regexp.MustCompile(`\{([^{}]+)\}`)

func newDocRouter(t testing.TB, doc *openapi3.T) *docRouter {
	t.Helper()
	r := &docRouter{doc: doc}
	for path, item := range doc.Paths.Map() {
		var expr strings.Builder
		expr.WriteString("^")
		last := 0
		for _, m := range templateParam.FindAllStringSubmatchIndex(path, -1) {
			expr.WriteString(regexp.QuoteMeta(path[last:m[0]]))
			name := path[m[2]:m[3]]
			expr.WriteString("(?P<" + name + ">" + paramPattern(t, path, item, name) + ")")
			last = m[1]
		}
		expr.WriteString(regexp.QuoteMeta(path[last:]) + "$")
		re, err := regexp.Compile(expr.String())
		if err != nil {
			t.Fatalf("path %s: %v", path, err)
		}
		r.routes = append(r.routes, docRoute{path: path, item: item, re: re})
	}
	return r
}

// paramPattern returns the unanchored pattern of path parameter name.
func paramPattern(t testing.TB, path string, item *openapi3.PathItem, name string) string {
	t.Helper()
	p := item.Parameters.GetByInAndName(openapi3.ParameterInPath, name)
	for _, op := range item.Operations() {
		if p == nil {
			p = op.Parameters.GetByInAndName(openapi3.ParameterInPath, name)
		}
	}
	if p == nil || p.Schema == nil || p.Schema.Value.Pattern == "" {
		t.Fatalf("path %s: parameter %s has no pattern", path, name)
	}
	pat := strings.TrimSuffix(strings.TrimPrefix(p.Schema.Value.Pattern, "^"), "$")
	return "(?:" + pat + ")"
}

// match returns the documented paths whose template matches urlPath.
func (r *docRouter) match(urlPath string) []docRoute {
	var out []docRoute
	for _, rt := range r.routes {
		if rt.re.MatchString(urlPath) {
			out = append(out, rt)
		}
	}
	return out
}

// find returns the route of req's operation and its path parameters.
func (r *docRouter) find(req *http.Request) (*routers.Route, map[string]string, error) {
	m := r.match(req.URL.Path)
	switch {
	case len(m) == 0:
		return nil, nil, fmt.Errorf("no documented path matches %s", req.URL.Path)
	case len(m) > 1:
		return nil, nil, fmt.Errorf("%s matches several documented paths: %s and %s", req.URL.Path, m[0].path, m[1].path)
	}
	rt := m[0]
	method := req.Method
	if method == http.MethodHead {
		method = http.MethodGet // the server answers HEAD for every GET
	}
	op := rt.item.GetOperation(method)
	if op == nil {
		return nil, nil, fmt.Errorf("%s %s is not documented", req.Method, rt.path)
	}
	params := map[string]string{}
	sub := rt.re.FindStringSubmatch(req.URL.Path)
	for i, name := range rt.re.SubexpNames() {
		if name != "" {
			params[name] = sub[i]
		}
	}
	return &routers.Route{Spec: r.doc, Server: r.doc.Servers[0], Path: rt.path, PathItem: rt.item, Method: method, Operation: op}, params, nil
}

// exchange is one request to the live server and its response.
type exchange struct {
	req    *http.Request
	resp   *http.Response
	body   []byte
	reqRaw []byte
}

func do(t testing.TB, method, rawURL string, body []byte) exchange {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req, body)
}

func send(t testing.TB, req *http.Request, reqBody []byte) exchange {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchange{req: req, resp: resp, body: b, reqRaw: reqBody}
}

var strictResponses = &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}

// validateResponse checks x's response against the operation the document
// routes x's request to, and that its Content-Type is exactly a documented
// one.
func validateResponse(r *docRouter, x exchange) error {
	route, params, err := r.find(x.req)
	if err != nil {
		return err
	}
	if err := checkContentType(route.Operation.Responses.Status(x.resp.StatusCode), x, negotiatedContentType[route.Path]); err != nil {
		return err
	}
	return validateAgainst(route, params, x)
}

func validateAgainst(route *routers.Route, params map[string]string, x exchange) error {
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: x.req, PathParams: params, Route: route},
		Status:                 x.resp.StatusCode,
		Header:                 x.resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(x.body)),
		Options:                strictResponses,
	})
}

// validateResponseAs checks x's response against a response that answers
// requests no documented operation routes (unknown paths, wrong methods,
// non-canonical tile paths).
func validateResponseAs(t testing.TB, doc *openapi3.T, name string, x exchange) error {
	t.Helper()
	ref := doc.Components.Responses[name]
	if ref == nil {
		t.Fatalf("components.responses.%s is missing", name)
	}
	op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(x.resp.StatusCode, ref))}
	route := &routers.Route{Spec: doc, Path: x.req.URL.Path, Method: x.req.Method, Operation: op}
	if err := checkContentType(ref, x, false); err != nil {
		return err
	}
	return validateAgainst(route, nil, x)
}

// checkContentType requires the response's Content-Type to equal a
// documented media type (kin-openapi alone would accept any parameters).
func checkContentType(ref *openapi3.ResponseRef, x exchange, paramsNegotiated bool) error {
	if ref == nil || len(ref.Value.Content) == 0 {
		return nil // ValidateResponse reports an undocumented status.
	}
	got := x.resp.Header.Get("Content-Type")
	if paramsNegotiated {
		got, _, _ = mime.ParseMediaType(got)
	}
	for key := range ref.Value.Content {
		if strings.EqualFold(key, got) {
			return nil
		}
	}
	return fmt.Errorf("Content-Type %q is none of the documented %v", got, slices.Sorted(maps.Keys(ref.Value.Content)))
}

// validateRequest checks a write request's body against the document.
func validateRequest(r *docRouter, method, rawURL string, body []byte) error {
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	route, params, err := r.find(req)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true},
	})
}

// fixture is a live test log and the document's router.
type fixture struct {
	doc *openapi3.T
	r   *docRouter
	l   *mosaictest.Log
}

func newFixture(t *testing.T) *fixture {
	doc := loadDoc(t)
	return &fixture{doc: doc, r: newDocRouter(t, doc), l: mosaictest.NewLog(t, mosaictest.Options{})}
}

func (f *fixture) entries() string { return f.l.URL + "/api/v2/log/entries" }

// check requires status and a response that matches the document.
func (f *fixture) check(t *testing.T, x exchange, status int) {
	t.Helper()
	if x.resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %.300q", x.req.Method, x.req.URL.Path, x.resp.StatusCode, status, x.body)
	}
	if err := validateResponse(f.r, x); err != nil {
		t.Errorf("%s %s → %d does not match the document: %v\nbody: %.300q", x.req.Method, x.req.URL.Path, x.resp.StatusCode, err, x.body)
	}
}

// write adds an entry signed by s and checks the request and the 201.
func (f *fixture) write(t *testing.T, s *mosaictest.Signer, artifact string) exchange {
	t.Helper()
	body := s.Request(t, []byte(artifact))
	if err := validateRequest(f.r, http.MethodPost, f.entries(), body); err != nil {
		t.Errorf("a valid request does not match the document: %v", err)
	}
	x := do(t, http.MethodPost, f.entries(), body)
	f.check(t, x, http.StatusCreated)
	return x
}

// TestOpenAPIWrites checks 201 for every default algorithm, by key and by
// certificate, and 409; and that a drifted 201 would be caught.
func TestOpenAPIWrites(t *testing.T) {
	f := newFixture(t)
	for _, sg := range []struct {
		name string
		alg  mosaictest.Algorithm
	}{
		{"ecdsa-p256", mosaictest.ECDSAP256},
		{"ecdsa-p384", mosaictest.ECDSAP384},
		{"ecdsa-p521", mosaictest.ECDSAP521},
		{"ed25519ph", mosaictest.Ed25519ph},
		{"rsa-2048", mosaictest.RSA2048},
	} {
		t.Run(sg.name, func(t *testing.T) { f.write(t, mosaictest.NewSigner(t, sg.alg), "artifact "+sg.name) })
	}
	t.Run("certificate", func(t *testing.T) { f.write(t, mosaictest.NewCertSigner(t, "alice@example.com"), "artifact") })

	// A duplicate: 201 with the existing entry by default, 409 in
	// conflict mode.
	first := f.write(t, mosaictest.NewSigner(t, mosaictest.ECDSAP256), "artifact for a duplicate")
	x := do(t, http.MethodPost, f.entries(), first.reqRaw)
	f.check(t, x, http.StatusCreated)
	var tle struct{ LogIndex string }
	if err := json.Unmarshal(first.body, &tle); err != nil {
		t.Fatal(err)
	}
	if got := x.resp.Header.Get(api.DuplicateHeader); got != tle.LogIndex {
		t.Errorf("%s %q, want %q", api.DuplicateHeader, got, tle.LogIndex)
	}
	conflict := &fixture{doc: f.doc, r: f.r, l: mosaictest.NewLog(t, mosaictest.Options{Duplicates: api.DuplicatesConflict})}
	dup := conflict.write(t, mosaictest.NewSigner(t, mosaictest.ECDSAP256), "artifact for 409")
	conflict.check(t, do(t, http.MethodPost, conflict.entries(), dup.reqRaw), http.StatusConflict)

	// The checks must be able to fail: a field protojson clients would
	// refuse, or an int64 written as a number, breaks the 201.
	for name, mutate := range map[string]func(m map[string]any){
		"extra field":     func(m map[string]any) { m["verification"] = map[string]any{} },
		"numeric index":   func(m map[string]any) { m["logIndex"] = 0 },
		"integrated time": func(m map[string]any) { m["integratedTime"] = "1700000000" },
		"promise":         func(m map[string]any) { m["inclusionPromise"] = map[string]any{"signedEntryTimestamp": "AAAA"} },
		"no proof":        func(m map[string]any) { delete(m, "inclusionProof") },
	} {
		var m map[string]any
		if err := json.Unmarshal(first.body, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		x := first
		x.body, _ = json.Marshal(m)
		if validateResponse(f.r, x) == nil {
			t.Errorf("%s: a broken 201 matches the document", name)
		}
	}
	x = first
	x.resp = &http.Response{StatusCode: http.StatusAccepted, Header: first.resp.Header}
	if validateResponse(f.r, x) == nil {
		t.Error("an undocumented status matches the document")
	}
}

// TestOpenAPIWriteRefusals checks 400 and 413. Requests the server refuses
// for their shape must be refused by the document's request schema too.
func TestOpenAPIWriteRefusals(t *testing.T) {
	f := newFixture(t)
	good := mosaictest.NewSigner(t, mosaictest.ECDSAP256).Request(t, []byte("artifact"))
	verifier := func(hr map[string]any) map[string]any {
		return hr["signature"].(map[string]any)["verifier"].(map[string]any)
	}
	shapeErrors := map[string][]byte{
		"unknown field":         mosaictest.Mutate(t, good, func(hr map[string]any) { hr["extra"] = 1 }),
		"no keyDetails":         mosaictest.Mutate(t, good, func(hr map[string]any) { delete(verifier(hr), "keyDetails") }),
		"algorithm not allowed": mosaictest.Mutate(t, good, func(hr map[string]any) { verifier(hr)["keyDetails"] = "PKIX_ED25519" }),
		"key and certificate": mosaictest.Mutate(t, good, func(hr map[string]any) {
			verifier(hr)["x509Certificate"] = map[string]any{"rawBytes": "AAAA"}
		}),
		"no verifier key": mosaictest.Mutate(t, good, func(hr map[string]any) { delete(verifier(hr), "publicKey") }),
		"no digest":       mosaictest.Mutate(t, good, func(hr map[string]any) { delete(hr, "digest") }),
		"dsse":            []byte(`{"dsseRequestV002":{"envelope":{"payload":"AAAA","payloadType":"x","signatures":[]},"verifiers":[]}}`),
		"not json":        []byte(`{"hashedRekordRequestV002":`),
		"empty body":      {},
	}
	for name, body := range shapeErrors {
		t.Run("400/"+name, func(t *testing.T) {
			if validateRequest(f.r, http.MethodPost, f.entries(), body) == nil {
				t.Errorf("the document accepts a request the server refuses: %s", body)
			}
			f.check(t, do(t, http.MethodPost, f.entries(), body), http.StatusBadRequest)
		})
	}
	// Well-formed requests the server refuses for their content.
	contentErrors := map[string][]byte{
		"short digest": mosaictest.Mutate(t, good, func(hr map[string]any) { hr["digest"] = "AAAA" }),
		"bad signature": mosaictest.Mutate(t, good, func(hr map[string]any) {
			hr["signature"].(map[string]any)["content"] = base64.StdEncoding.EncodeToString([]byte("not a signature"))
		}),
	}
	for name, body := range contentErrors {
		t.Run("400/"+name, func(t *testing.T) {
			if err := validateRequest(f.r, http.MethodPost, f.entries(), body); err != nil {
				t.Errorf("request should be well-formed for the document: %v", err)
			}
			f.check(t, do(t, http.MethodPost, f.entries(), body), http.StatusBadRequest)
		})
	}

	t.Run("413/content-length", func(t *testing.T) {
		x := do(t, http.MethodPost, f.entries(), bytes.Repeat([]byte(" "), 70000))
		f.check(t, x, http.StatusRequestEntityTooLarge)
		if !strings.Contains(string(x.body), "70000") || !strings.Contains(string(x.body), "65536") {
			t.Errorf("message does not say what was sent and the limit: %s", x.body)
		}
	})
	t.Run("413/streamed", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, f.entries(), io.MultiReader(bytes.NewReader(bytes.Repeat([]byte(" "), 70000))))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // chunked: the limit is found while reading
		f.check(t, send(t, req, nil), http.StatusRequestEntityTooLarge)
	})
	t.Run("413/signature", func(t *testing.T) {
		body := mosaictest.Mutate(t, good, func(hr map[string]any) {
			hr["signature"].(map[string]any)["content"] = base64.StdEncoding.EncodeToString(make([]byte, 2000))
		})
		f.check(t, do(t, http.MethodPost, f.entries(), body), http.StatusRequestEntityTooLarge)
	})
}

// TestOpenAPIReads checks the checkpoint, tiles, bundles and operational
// routes, each also by HEAD.
func TestOpenAPIReads(t *testing.T) {
	f := newFixture(t)
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range 3 {
		f.write(t, s, fmt.Sprint("artifact ", i))
	}
	x := do(t, http.MethodGet, f.l.URL+"/api/v2/checkpoint", nil)
	f.check(t, x, http.StatusOK)
	size, err := strconv.Atoi(strings.Split(string(x.body), "\n")[1])
	if err != nil || size < 3 || size > 254 {
		t.Fatalf("checkpoint size %d (%v), want 3..254 for the tile checks", size, err)
	}

	for _, g := range []struct {
		path   string
		status int
		length int // of the body, when positive
	}{
		{"/api/v2/checkpoint", 200, 0},
		{fmt.Sprintf("/api/v2/tile/0/000.p/%d", size), 200, 32 * size},
		{fmt.Sprintf("/api/v2/tile/0/000.p/%d", size-1), 200, 32 * (size - 1)},
		{fmt.Sprintf("/api/v2/tile/entries/000.p/%d", size), 200, 0},
		{fmt.Sprintf("/api/v2/tile/entries/000.p/%d", size-1), 200, 0},
		{"/api/v2/tile/0/000", 404, 0},
		{fmt.Sprintf("/api/v2/tile/0/000.p/%d", size+1), 404, 0},
		{"/api/v2/tile/1/000", 404, 0},
		{"/api/v2/tile/entries/000", 404, 0},
		{"/api/v2/tile/entries/x001/234.p/5", 404, 0},
		{"/healthz", 200, 0},
		{"/readyz", 200, 0},
		{"/metrics", 200, 0},
		{"/openapi.yaml", 200, 0},
	} {
		t.Run(g.path, func(t *testing.T) {
			x := do(t, http.MethodGet, f.l.URL+g.path, nil)
			f.check(t, x, g.status)
			if g.length > 0 && len(x.body) != g.length {
				t.Errorf("body is %d bytes, want %d", len(x.body), g.length)
			}
			h := do(t, http.MethodHead, f.l.URL+g.path, nil)
			if h.resp.StatusCode != g.status || len(h.body) != 0 {
				t.Errorf("HEAD: status %d with %d body bytes, want %d and none", h.resp.StatusCode, len(h.body), g.status)
			}
		})
	}
	if x := do(t, http.MethodGet, f.l.URL+"/openapi.yaml", nil); !bytes.Equal(x.body, openapi.Spec) {
		t.Error("/openapi.yaml differs from openapi.Spec")
	}
}

// TestOpenAPIUnrouted checks the answers to requests no documented
// operation routes: non-canonical tile paths, unknown paths, wrong methods.
func TestOpenAPIUnrouted(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/api/v2/tile/0/0000", "/api/v2/tile/", "/api/v2/tile/entries/000.p/0"} {
		x := do(t, http.MethodGet, f.l.URL+p, nil)
		if x.resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", p, x.resp.StatusCode)
		} else if err := validateResponseAs(t, f.doc, "BadTilePath", x); err != nil {
			t.Errorf("GET %s: %v", p, err)
		}
	}
	for _, rt := range f.r.routes {
		if strings.HasPrefix(rt.path, "/api/v2/tile/") {
			if got := rt.item.Get.Responses.Status(400); got == nil || got.Ref != "#/components/responses/BadTilePath" {
				t.Errorf("GET %s does not document 400 BadTilePath", rt.path)
			}
		}
	}

	for _, p := range []string{"/nope", "/api/v2/tile", "/api/v2/log/entries/0/x", "/api/v2/log/proof", "/api/v2/checkpoint/"} {
		x := do(t, http.MethodGet, f.l.URL+p, nil)
		if x.resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, x.resp.StatusCode)
		} else if err := validateResponseAs(t, f.doc, "NoRoute", x); err != nil {
			t.Errorf("GET %s: %v", p, err)
		}
		if len(f.r.match(p)) != 0 {
			t.Errorf("the document routes %s, the server does not", p)
		}
	}

	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v2/log/entries"},
		{http.MethodPut, "/api/v2/log/entries"},
		{http.MethodPost, "/api/v2/checkpoint"},
		{http.MethodDelete, "/api/v2/tile/0/000"},
		{http.MethodPost, "/healthz"},
		{http.MethodPost, "/openapi.yaml"},
	} {
		x := do(t, c.method, f.l.URL+c.path, nil)
		if x.resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", c.method, c.path, x.resp.StatusCode)
		} else if err := validateResponseAs(t, f.doc, "MethodNotAllowed", x); err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
		}
		if _, _, err := f.r.find(x.req); err == nil {
			t.Errorf("the document has %s %s, the server does not", c.method, c.path)
		}
	}
}

// TestOpenAPITilePaths checks that the document's tile path grammar (the
// patterns of L, N and W) accepts exactly the paths the server accepts: the
// server answers 400 if and only if no documented tile path matches.
func TestOpenAPITilePaths(t *testing.T) {
	doc := loadDoc(t)
	r := newDocRouter(t, doc)
	l := mosaictest.NewLog(t, mosaictest.Options{})
	rests := []string{
		// canonical
		"0/000", "0/000.p/1", "0/000.p/255", "63/000", "9/999", "10/x001/000",
		"0/x001/x234/067", "0/x001/x234/067.p/8", "0/x018/x446/x744/x073/x709/x551/615",
		"entries/000", "entries/000.p/1", "entries/x001/234.p/200", "entries/x010/000",
		"identities/000", "identities/x001/234", "identities/x010/000",
		// not canonical
		"", "0", "0/", "00/000", "01/000", "64/000", "-1/000", "+1/000", "a/000",
		"0/0", "0/00", "0/0000", "0/x000", "0/x000/000", "0/x001", "0/001/234", "0/x01/234",
		"0/x001/x234/067/", "0/000/", "0/000.p/0", "0/000.p/256", "0/000.p/01", "0/000.p/",
		"0/000.p", "0/000.p/1/", "0/000.q/1", "0/X001/000", "0/x1000/000",
		"0/x001/x234/x567/x890/x123/x456/x789/000",
		"entries", "entries/", "entries/0", "entries/x000/000", "entries/000.p/0",
		"entries/000.p/256", "entries/000/000", "entries/entries/000", "1/entries/000",
		"identities", "identities/", "identities/0", "identities/x000/000", "identities/000.p/1",
		"identities/000/000", "identities/identities/000", "1/identities/000",
	}
	// Indices above 2^64-1 fit N's pattern (seven groups) but are refused;
	// the parameter's description says so, a pattern cannot.
	for _, rest := range []string{"0/x018/x446/x744/x073/x709/x551/616", "0/x999/x999/x999/x999/x999/x999/999"} {
		if x := do(t, http.MethodGet, l.URL+"/api/v2/tile/"+rest, nil); x.resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 for an index above 2^64-1", rest, x.resp.StatusCode)
		}
	}
	for _, rest := range rests {
		path := "/api/v2/tile/" + rest
		x := do(t, http.MethodGet, l.URL+(&url.URL{Path: path}).EscapedPath(), nil)
		serverRefuses := x.resp.StatusCode == http.StatusBadRequest
		docMatches := len(r.match(path))
		switch {
		case serverRefuses && docMatches > 0:
			t.Errorf("%s: the server refuses it (%s) but the document describes it", path, x.body)
		case !serverRefuses && docMatches == 0:
			t.Errorf("%s: the server answers %d but no documented path matches", path, x.resp.StatusCode)
		case docMatches > 1:
			t.Errorf("%s matches %d documented paths", path, docMatches)
		}
		if !serverRefuses {
			if err := validateResponse(r, x); err != nil {
				t.Errorf("GET %s → %d: %v", path, x.resp.StatusCode, err)
			}
		}
	}
}

// TestOpenAPINotReady checks the answers of a server that is not ready and
// serves metrics elsewhere (no Gatherer): /readyz is 503, /metrics is not
// routed.
func TestOpenAPINotReady(t *testing.T) {
	doc := loadDoc(t)
	r := newDocRouter(t, doc)
	srv := httptest.NewServer(api.NewHandler(api.Config{
		OpenAPI: openapi.Spec,
		Ready:   func(context.Context) error { return errors.New("storage does not answer: connection refused") },
	}))
	defer srv.Close()

	x := do(t, http.MethodGet, srv.URL+"/readyz", nil)
	if x.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz: status %d, want 503: %s", x.resp.StatusCode, x.body)
	}
	if err := validateResponse(r, x); err != nil {
		t.Errorf("/readyz 503 does not match the document: %v", err)
	}
	x = do(t, http.MethodGet, srv.URL+"/metrics", nil)
	if x.resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics without a Gatherer: status %d, want 404", x.resp.StatusCode)
	}
	if err := validateResponseAs(t, doc, "NoRoute", x); err != nil {
		t.Errorf("/metrics 404: %v", err)
	}
}

// TestOpenAPISearch checks the search route's answers against the document:
// a page of results, a refusal, and a server without an index.
func TestOpenAPISearch(t *testing.T) {
	doc := loadDoc(t)
	f := &fixture{doc: doc, r: newDocRouter(t, doc), l: mosaictest.NewLog(t, mosaictest.Options{Index: true})}
	first := f.write(t, mosaictest.NewSigner(t, mosaictest.ECDSAP256), "artifact to find")
	var tle struct{ CanonicalizedBody []byte }
	if err := json.Unmarshal(first.body, &tle); err != nil {
		t.Fatal(err)
	}
	facts, err := entry.Describe(tle.CanonicalizedBody)
	if err != nil {
		t.Fatal(err)
	}
	search := f.l.URL + "/api/v2/log/search"
	query := []byte(`{"digest":"` + facts.Digest + `"}`)
	if err := validateRequest(f.r, http.MethodPost, search, query); err != nil {
		t.Errorf("a valid search does not match the document: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var x exchange
	for {
		x = do(t, http.MethodPost, search, query)
		if x.resp.StatusCode != http.StatusOK || strings.Contains(string(x.body), `"logIndex":0`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.check(t, x, http.StatusOK)
	if !strings.Contains(string(x.body), `"logIndex":0`) {
		t.Errorf("search by the entry's digest did not find it: %s", x.body)
	}
	f.check(t, do(t, http.MethodPost, search, []byte(`{"digest":"md5:00"}`)), http.StatusBadRequest)
	f.check(t, do(t, http.MethodPost, search, []byte(`{}`)), http.StatusBadRequest)

	noIndex := &fixture{doc: doc, r: f.r, l: mosaictest.NewLog(t, mosaictest.Options{})}
	noIndex.check(t, do(t, http.MethodPost, noIndex.l.URL+"/api/v2/log/search", query), http.StatusServiceUnavailable)
}
