package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/mosaiclog/mosaic/internal/httperr"
)

// DevIssuer is an INSECURE OIDC issuer for demos and tests: it mints a
// token for any identity anyone asks for. Its RS256 key lives in memory
// and changes on every start. Never enable it where others trust the CA.
type DevIssuer struct {
	url string
	key *rsa.PrivateKey
	kid string
	now func() time.Time
}

// MintOptions describe a development token. Zero values take defaults.
type MintOptions struct {
	Email         string        // default "dev@mosaic.example"
	Subject       string        // default: Email
	Audience      string        // default "sigstore"
	TTL           time.Duration // default 10m, at most an hour
	EmailVerified *bool         // default true
}

// DefaultDevEmail is the identity a token is minted for when none is asked.
const DefaultDevEmail = "dev@mosaic.example"

const maxDevTTL = time.Hour

// NewDevIssuer returns a development issuer whose tokens carry iss =
// issuerURL; serve its Handler at that URL.
func NewDevIssuer(issuerURL string) (*DevIssuer, error) {
	if err := checkIssuerURL(issuerURL); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	kid := make([]byte, 8)
	if _, err := rand.Read(kid); err != nil {
		return nil, err
	}
	return &DevIssuer{url: issuerURL, key: key, kid: hex.EncodeToString(kid), now: time.Now}, nil
}

// URL is the issuer URL.
func (d *DevIssuer) URL() string { return d.url }

// IssuerConfig accepts this issuer's tokens (type email, audience
// "sigstore") with its key directly, without discovery over HTTP.
func (d *DevIssuer) IssuerConfig() IssuerConfig {
	return IssuerConfig{URL: d.url, ClientID: DefaultClientID, Type: TypeEmail,
		KeySet: &gooidc.StaticKeySet{PublicKeys: []crypto.PublicKey{d.key.Public()}}}
}

// Mint returns a signed RS256 identity token.
func (d *DevIssuer) Mint(o MintOptions) (string, error) {
	if o.Email == "" {
		o.Email = DefaultDevEmail
	}
	if o.Subject == "" {
		o.Subject = o.Email
	}
	if o.Audience == "" {
		o.Audience = DefaultClientID
	}
	if o.TTL == 0 {
		o.TTL = 10 * time.Minute
	}
	if o.TTL < 0 || o.TTL > maxDevTTL {
		return "", fmt.Errorf("ttl %s: want more than 0 and at most %s", o.TTL, maxDevTTL)
	}
	verified := true
	if o.EmailVerified != nil {
		verified = *o.EmailVerified
	}
	now := d.now()
	claims := map[string]any{
		"iss": d.url, "sub": o.Subject, "aud": o.Audience, "email": o.Email, "email_verified": verified,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(o.TTL).Unix(),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: d.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", d.kid))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Handler serves, relative to the issuer URL: the discovery document at
// /.well-known/openid-configuration, the JWKS at /jwks, and token minting
// at /token (GET or POST; parameters email, sub, aud, ttl, email_verified).
func (d *DevIssuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                d.url,
			"jwks_uri":                              d.url + "/jwks",
			"token_endpoint":                        d.url + "/token",
			"authorization_endpoint":                d.url + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nbf", "email", "email_verified"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: d.key.Public(), KeyID: d.kid, Algorithm: string(jose.RS256), Use: "sig",
		}}})
	})
	mint := func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			httperr.Write(w, http.StatusBadRequest, "bad token request: %v", err)
			return
		}
		o := MintOptions{Email: r.Form.Get("email"), Subject: r.Form.Get("sub"), Audience: r.Form.Get("aud")}
		if s := r.Form.Get("ttl"); s != "" {
			ttl, err := time.ParseDuration(s)
			if err != nil {
				httperr.Write(w, http.StatusBadRequest, "ttl %q is not a duration like 10m", clip(s))
				return
			}
			o.TTL = ttl
		}
		if s := r.Form.Get("email_verified"); s != "" {
			v, err := strconv.ParseBool(s)
			if err != nil {
				httperr.Write(w, http.StatusBadRequest, "email_verified %q: want true or false", clip(s))
				return
			}
			o.EmailVerified = &v
		}
		tok, err := d.Mint(o)
		if err != nil {
			httperr.Write(w, http.StatusBadRequest, "%v", err)
			return
		}
		ttl := o.TTL
		if ttl == 0 {
			ttl = 10 * time.Minute
		}
		writeJSON(w, map[string]any{"id_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds())})
	}
	mux.HandleFunc("GET /token", mint)
	mux.HandleFunc("POST /token", mint)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, http.StatusNotFound, "no route for %s %s in the development issuer", r.Method, r.URL.Path)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
