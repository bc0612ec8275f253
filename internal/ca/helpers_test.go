package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// testPKI is a root and an issuing CA, both ECDSA P-384, as pki.Init makes
// them.
type testPKI struct {
	root, issuing *x509.Certificate
	rootKey, key  *ecdsa.PrivateKey
	chain         []*x509.Certificate // issuing, root
}

// t0 is the tests' clock: certificates are issued at t0 unless a test
// moves its clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{rootKey: newECKey(t, elliptic.P384()), key: newECKey(t, elliptic.P384())}
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test root"},
		NotBefore:             t0.Add(-time.Hour),
		NotAfter:              t0.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	p.root = createCert(t, rootTmpl, rootTmpl, p.rootKey.Public(), p.rootKey)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "test issuing CA"},
		NotBefore:             t0.Add(-time.Hour),
		NotAfter:              t0.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	p.issuing = createCert(t, caTmpl, p.root, p.key.Public(), p.rootKey)
	p.chain = []*x509.Certificate{p.issuing, p.root}
	return p
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newECKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	rsa2048Once sync.Once
	rsa2048Key  *rsa.PrivateKey
)

// rsa2048 is one RSA key shared by the tests: generating them is slow.
func rsa2048(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsa2048Once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsa2048Key = k
	})
	return rsa2048Key
}

// fakeVerifier accepts the tokens in ids and refuses others with errs[token]
// or a signature TokenError. The real verifier is tested in package oidc.
type fakeVerifier struct {
	ids  map[string]*oidc.Identity
	errs map[string]error
}

func (v *fakeVerifier) Verify(_ context.Context, token string) (*oidc.Identity, error) {
	if id, ok := v.ids[token]; ok {
		return id, nil
	}
	if err, ok := v.errs[token]; ok {
		return nil, err
	}
	return nil, &oidc.TokenError{Reason: oidc.ReasonSignature, Msg: "the test verifier does not know this token"}
}

// fakeCertLog stores precertificates in memory, or fails with err.
type fakeCertLog struct {
	mu       sync.Mutex
	err      error
	precerts [][]byte
}

func (l *fakeCertLog) AppendPrecertificate(_ context.Context, der []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.precerts = append(l.precerts, bytes.Clone(der))
	return uint64(len(l.precerts) - 1), nil
}

func (l *fakeCertLog) logged() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.precerts...)
}

// Test identities, one per SAN kind, and their tokens.
const (
	emailToken    = "token-email"
	uriToken      = "token-uri"
	usernameToken = "token-username"
	testIssuer    = "https://issuer.example"
)

func testIdentities() map[string]*oidc.Identity {
	return map[string]*oidc.Identity{
		emailToken: {Issuer: testIssuer, SANKind: oidc.SANEmail, SAN: "alice@example.com",
			Subject: "1234567890", Challenge: "alice@example.com"},
		uriToken: {Issuer: testIssuer, SANKind: oidc.SANURI, SAN: "spiffe://example.org/ns/ci/sa/builder",
			Subject: "spiffe://example.org/ns/ci/sa/builder", Challenge: "spiffe://example.org/ns/ci/sa/builder"},
		usernameToken: {Issuer: testIssuer, SANKind: oidc.SANOtherName, SAN: "bob!example.com",
			Subject: "bob", Challenge: "bob"},
	}
}

// testEnv is a CA behind an httptest server.
type testEnv struct {
	pki      *testPKI
	ca       *CA
	srv      *httptest.Server
	verifier *fakeVerifier
	certLog  *fakeCertLog      // nil without CT
	ctKey    *ecdsa.PrivateKey // nil without CT
	clock    *testClock
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// newTestEnv starts a CA; withCT adds a certificate log. edit may change
// the config before New.
func newTestEnv(t testing.TB, withCT bool, edit func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{
		pki:      newTestPKI(t),
		verifier: &fakeVerifier{ids: testIdentities(), errs: map[string]error{}},
		clock:    &testClock{now: t0},
	}
	cfg := Config{
		Signer: e.pki.key, Chain: e.pki.chain, Verifier: e.verifier, Now: e.clock.Now,
		Issuers: []IssuerInfo{{IssuerURL: testIssuer, Audience: "sigstore", ChallengeClaim: "email", Type: "email"}},
	}
	if withCT {
		e.certLog = &fakeCertLog{}
		e.ctKey = newECKey(t, elliptic.P256())
		cfg.CT = &CTConfig{Signer: e.ctKey, Log: e.certLog}
	}
	if edit != nil {
		edit(&cfg)
	}
	ca, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.ca = ca
	r := chi.NewRouter()
	ca.Routes(r)
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

// post sends body (marshalled to JSON unless it is a []byte) to
// signingCert, with bearer as the Authorization token when not empty.
func (e *testEnv) post(t testing.TB, body any, bearer string) (*http.Response, []byte) {
	t.Helper()
	data, ok := body.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v2/signingCert", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
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
	return resp, b
}

// chainFrom decodes a 200 signingCert response.
func chainFrom(t testing.TB, body []byte) []*x509.Certificate {
	t.Helper()
	var resp struct {
		SignedCertificateEmbeddedSct struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	var chain []*x509.Certificate
	for _, p := range resp.SignedCertificateEmbeddedSct.Chain.Certificates {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(p))
		if err != nil || len(certs) != 1 {
			t.Fatalf("chain entry %q: %v (%d certificates)", p, err, len(certs))
		}
		chain = append(chain, certs[0])
	}
	return chain
}

// keyRequest is a publicKeyRequest body for key with a proof over challenge.
func keyRequest(t testing.TB, key crypto.Signer, challenge string) map[string]any {
	t.Helper()
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"publicKeyRequest": map[string]any{
		"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pemKey)},
		"proofOfPossession": base64.StdEncoding.EncodeToString(sign(t, key, challenge, 0)),
	}}
}

// sign signs msg as sigstore-go's ephemeral keys do: ECDSA with the curve's
// hash (or hash, when set), RSA PKCS#1 v1.5 with SHA-256, pure Ed25519.
func sign(t testing.TB, key crypto.Signer, msg string, hash crypto.Hash) []byte {
	t.Helper()
	var sig []byte
	var err error
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if hash == 0 {
			hash = map[int]crypto.Hash{256: crypto.SHA256, 384: crypto.SHA384, 521: crypto.SHA512, 224: crypto.SHA256}[k.Curve.Params().BitSize]
		}
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest(hash, msg))
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest(crypto.SHA256, msg))
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(msg))
	default:
		err = errors.New("unsupported key")
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func digest(h crypto.Hash, msg string) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(msg))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(msg))
		return d[:]
	}
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

// csrRequest is a certificateSigningRequest body for key.
func csrRequest(t testing.TB, key crypto.Signer, subject string) map[string]any {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: subject}}, key)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	return map[string]any{"certificateSigningRequest": base64.StdEncoding.EncodeToString(p)}
}

// errorBody decodes a refusal.
func errorBody(t testing.TB, b []byte) (code int, msg string) {
	t.Helper()
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("refusal %q is not JSON: %v", b, err)
	}
	return body.Code, body.Message
}

// counterValue reads a counter's current value.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
