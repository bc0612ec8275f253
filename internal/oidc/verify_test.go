package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testIssuer is an independent OIDC issuer served over HTTP: discovery and
// JWKS, with an RSA key, as a real provider.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

// sign signs claims with key (RS256, kid k1).
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (ti *testIssuer) claims(mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": ti.srv.URL, "sub": "12345", "aud": "sigstore", "email": "alice@example.com",
		"email_verified": true, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// The token table of the issue: each refusal gets its reason and a message
// that says what is wrong; a valid token yields the identity.
func TestVerifyTokenTable(t *testing.T) {
	ti := newTestIssuer(t)
	v, err := NewVerifier([]IssuerConfig{{URL: ti.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unsigned := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"iss":"`+ti.srv.URL+`","sub":"x","aud":"sigstore"}`) + "."
	hs := sign(t, []byte("0123456789abcdef0123456789abcdef"), jose.HS256, ti.claims(nil))
	cases := []struct {
		name   string
		token  string
		reason Reason
		msg    string
	}{
		{"expired", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		})), ReasonExpired, "expired at"},
		{"not yet valid", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		})), ReasonNotYetValid, "not valid"},
		{"wrong audience", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) { c["aud"] = "other" })),
			ReasonAudience, `"sigstore"`},
		{"unknown issuer", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
			ReasonUnknownIssuer, `"https://evil.example" is not accepted`},
		{"bad signature", sign(t, otherKey, jose.RS256, ti.claims(nil)), ReasonSignature, "does not verify"},
		{"wrong key type", sign(t, ecKey, jose.ES256, ti.claims(nil)), ReasonSignature, "does not verify"},
		{"email not verified", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) { c["email_verified"] = false })),
			ReasonEmailUnverified, "not verified"},
		{"email_verified absent", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) { delete(c, "email_verified") })),
			ReasonEmailUnverified, "no email_verified"},
		{"missing email", sign(t, ti.key, jose.RS256, ti.claims(func(c map[string]any) { delete(c, "email") })),
			ReasonMissingClaim, "no email claim"},
		{"alg none", unsigned, ReasonMalformed, `"none" is not accepted`},
		{"HS256", hs, ReasonMalformed, `"HS256" is not accepted`},
		{"garbage", "not a token", ReasonMalformed, "not a signed JWT"},
		{"empty", "", ReasonMalformed, "not a signed JWT"},
		{"payload not JSON", b64(`{"alg":"RS256"}`) + "." + b64("[1,2") + "." + b64("sig"), ReasonMalformed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), c.token)
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("got identity %+v, error %v; want a TokenError %s", id, err, c.reason)
			}
			if te.Reason != c.reason || !strings.Contains(te.Msg, c.msg) {
				t.Errorf("got %s %q, want %s containing %q", te.Reason, te.Msg, c.reason, c.msg)
			}
			if c.token != "" && len(c.token) > 20 && strings.Contains(err.Error(), c.token) {
				t.Error("the message echoes the token")
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		id, err := v.Verify(context.Background(), sign(t, ti.key, jose.RS256, ti.claims(nil)))
		if err != nil {
			t.Fatal(err)
		}
		if id.Issuer != ti.srv.URL || id.SANKind != SANEmail || id.SAN != "alice@example.com" ||
			id.Challenge != "alice@example.com" || id.Subject != "12345" || id.Claims["email"] != "alice@example.com" {
			t.Errorf("identity %+v", id)
		}
	})
}

func TestVerifyURIAndUsernameIssuers(t *testing.T) {
	ti := newTestIssuer(t)
	for _, c := range []struct {
		cfg     IssuerConfig
		sub     string
		kind    SANKind
		san     string
		refused Reason
	}{
		{IssuerConfig{URL: ti.srv.URL, Type: TypeURI, Domain: "spiffe://example.org/"}, "spiffe://example.org/ci/build", SANURI, "spiffe://example.org/ci/build", ""},
		{IssuerConfig{URL: ti.srv.URL, Type: TypeURI, Domain: "spiffe://example.org/"}, "spiffe://evil.org/ci", 0, "", ReasonSubject},
		{IssuerConfig{URL: ti.srv.URL, Type: TypeURI}, "not a uri", 0, "", ReasonSubject},
		{IssuerConfig{URL: ti.srv.URL, Type: TypeURI, Domain: "spiffe://example.org"}, "spiffe://example.org.evil/ci", 0, "", ReasonSubject},
		{IssuerConfig{URL: ti.srv.URL, Type: TypeURI, Domain: "spiffe://example.org"}, "spiffe://example.org/ci", SANURI, "spiffe://example.org/ci", ""},
		{IssuerConfig{URL: ti.srv.URL, Type: TypeUsername, Domain: "example.com"}, "alice", SANOtherName, "alice!example.com", ""},
	} {
		v, err := NewVerifier([]IssuerConfig{c.cfg})
		if err != nil {
			t.Fatal(err)
		}
		id, err := v.Verify(context.Background(), sign(t, ti.key, jose.RS256, ti.claims(func(m map[string]any) {
			m["sub"] = c.sub
			delete(m, "email")
		})))
		if c.refused != "" {
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != c.refused {
				t.Errorf("%s %q: got %v, want %s", c.cfg.Type, c.sub, err, c.refused)
			}
			continue
		}
		if err != nil || id.SANKind != c.kind || id.SAN != c.san || id.Challenge != c.sub {
			t.Errorf("%s %q: identity %+v, %v", c.cfg.Type, c.sub, id, err)
		}
	}
}

// An issuer that is down at first is reported unavailable, then works once
// it is up, without restarting anything.
func TestVerifyIssuerDownThenUp(t *testing.T) {
	ti := newTestIssuer(t)
	handler := ti.srv.Config.Handler
	down := true
	ti.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		handler.ServeHTTP(w, r)
	})
	v, _ := NewVerifier([]IssuerConfig{{URL: ti.srv.URL}})
	tok := sign(t, ti.key, jose.RS256, ti.claims(nil))
	var te *TokenError
	if _, err := v.Verify(context.Background(), tok); !errors.As(err, &te) || te.Reason != ReasonIssuerUnavailable {
		t.Fatalf("issuer down: got %v, want %s", err, ReasonIssuerUnavailable)
	}
	down = false
	v.issuers[ti.srv.URL].failedAt = time.Time{} // skip the rediscovery pause
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("issuer up again: %v", err)
	}
}

// The development issuer's tokens verify both with its static key set and
// through real discovery of its handler; with another audience they fail.
func TestDevIssuer(t *testing.T) {
	var dev *DevIssuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { dev.Handler().ServeHTTP(w, r) }))
	defer srv.Close()
	dev, err := NewDevIssuer(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/token?email=bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	for name, cfg := range map[string]IssuerConfig{"static": dev.IssuerConfig(), "discovery": {URL: srv.URL}} {
		v, _ := NewVerifier([]IssuerConfig{cfg})
		id, err := v.Verify(context.Background(), tok.IDToken)
		if err != nil || id.SAN != "bob@example.com" || id.Issuer != srv.URL {
			t.Errorf("%s: %+v, %v", name, id, err)
		}
	}
	other, _ := dev.Mint(MintOptions{Audience: "other"})
	v, _ := NewVerifier([]IssuerConfig{dev.IssuerConfig()})
	var te *TokenError
	if _, err := v.Verify(context.Background(), other); !errors.As(err, &te) || te.Reason != ReasonAudience {
		t.Errorf("other audience: %v", err)
	}
	for _, bad := range []string{"/token?ttl=forever", "/token?ttl=3h", "/token?email_verified=maybe"} {
		resp, err := http.Get(srv.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestParseIssuer(t *testing.T) {
	good, err := ParseIssuer("https://accounts.example.com,client-id=mosaic,type=uri,domain=spiffe://example.org")
	if err != nil || good.ClientID != "mosaic" || good.Type != TypeURI || good.Domain != "spiffe://example.org" || good.ChallengeClaim() != "sub" {
		t.Errorf("got %+v, %v", good, err)
	}
	def, err := ParseIssuer("http://127.0.0.1:8080/dex")
	if err != nil || def.ClientID != "sigstore" || def.Type != TypeEmail || def.ChallengeClaim() != "email" {
		t.Errorf("defaults: %+v, %v", def, err)
	}
	for _, bad := range []string{
		"", "accounts.example.com", "ftp://x", "http://accounts.example.com", "https://x?q=1", "https://u:p@x",
		"https://x,type=oauth", "https://x,client-id=", "https://x,client-id", "https://x,foo=bar",
		"https://x,type=uri,type=email", "https://x,type=username", "https://x,domain=example.com",
	} {
		if c, err := ParseIssuer(bad); err == nil {
			t.Errorf("ParseIssuer(%q) = %+v, want an error", bad, c)
		}
	}
}

func FuzzParseIssuer(f *testing.F) {
	for _, s := range []string{"https://a.example", "https://a,type=uri,domain=spiffe://x", "http://127.0.0.1,client-id=x", ",,,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseIssuer(s)
		if err == nil && (c.URL == "" || c.ClientID == "" || c.Type == "") {
			t.Errorf("accepted %q as %+v", s, c)
		}
	})
}

func FuzzVerify(f *testing.F) {
	dev, err := NewDevIssuer("https://dev.example")
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := dev.Mint(MintOptions{})
	for _, s := range []string{tok, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", tok[:len(tok)/2]} {
		f.Add(s)
	}
	v, _ := NewVerifier([]IssuerConfig{dev.IssuerConfig()})
	f.Fuzz(func(t *testing.T, s string) {
		id, err := v.Verify(context.Background(), s)
		if err == nil && s != tok && id.SAN == "" {
			t.Errorf("accepted %q without a SAN", s)
		}
		var te *TokenError
		if err != nil && !errors.As(err, &te) {
			t.Errorf("%q: error %v is not a TokenError", s, err)
		}
	})
}
