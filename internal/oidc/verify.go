package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// DefaultClientID is the audience Sigstore clients request tokens for.
const DefaultClientID = "sigstore"

// Issuer types: which claim becomes the certificate's SAN.
const (
	TypeEmail    = "email"
	TypeURI      = "uri"
	TypeUsername = "username"
)

// allowedAlgs are the JWS algorithms accepted in identity tokens. "none"
// and the HMAC algorithms are never accepted.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384,
	jose.ES512, jose.PS256, jose.EdDSA}

// IssuerConfig is one accepted OIDC issuer.
type IssuerConfig struct {
	// URL is the issuer URL; it must equal the token's iss claim.
	URL string
	// ClientID is the audience the token must carry (default "sigstore").
	ClientID string
	// Type is TypeEmail (default), TypeURI or TypeUsername.
	Type string
	// Domain is, for TypeURI, the prefix every subject URI must start with
	// (optional), and for TypeUsername the domain in the SAN "sub!domain".
	Domain string
	// KeySet, when set, verifies tokens without discovery (the development
	// issuer uses it).
	KeySet gooidc.KeySet
}

// ChallengeClaim names the claim the proof of possession signs.
func (c IssuerConfig) ChallengeClaim() string {
	if c.Type == TypeEmail || c.Type == "" {
		return "email"
	}
	return "sub"
}

func (c IssuerConfig) withDefaults() IssuerConfig {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Type == "" {
		c.Type = TypeEmail
	}
	return c
}

// ParseIssuer parses the --oidc-issuer syntax
// URL[,client-id=ID][,type=email|uri|username][,domain=D].
func ParseIssuer(spec string) (IssuerConfig, error) {
	parts := strings.Split(spec, ",")
	c := IssuerConfig{URL: strings.TrimSpace(parts[0])}
	if err := checkIssuerURL(c.URL); err != nil {
		return IssuerConfig{}, err
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || v == "" {
			return IssuerConfig{}, fmt.Errorf("issuer %s: %q is not key=value with a value", c.URL, p)
		}
		if seen[k] {
			return IssuerConfig{}, fmt.Errorf("issuer %s: %s given twice", c.URL, k)
		}
		seen[k] = true
		switch k {
		case "client-id":
			c.ClientID = v
		case "type":
			if v != TypeEmail && v != TypeURI && v != TypeUsername {
				return IssuerConfig{}, fmt.Errorf("issuer %s: type %q: want email, uri or username", c.URL, v)
			}
			c.Type = v
		case "domain":
			c.Domain = v
		default:
			return IssuerConfig{}, fmt.Errorf("issuer %s: unknown option %q (want client-id, type or domain)", c.URL, k)
		}
	}
	c = c.withDefaults()
	if c.Type == TypeUsername && c.Domain == "" {
		return IssuerConfig{}, fmt.Errorf("issuer %s: type=username needs domain=D (the SAN is sub!D)", c.URL)
	}
	if c.Type == TypeEmail && c.Domain != "" {
		return IssuerConfig{}, fmt.Errorf("issuer %s: domain= applies to type=uri or type=username only", c.URL)
	}
	return c, nil
}

// checkIssuerURL accepts https URLs, and http only on loopback hosts.
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("issuer URL %q: want https://host[/path]", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("issuer URL %q: http is allowed only for loopback hosts; use https", s)
	default:
		return fmt.Errorf("issuer URL %q: want https://host[/path]", s)
	}
}

// Option configures NewVerifier.
type Option func(*MultiVerifier)

// WithClock sets the time tokens are checked against.
func WithClock(now func() time.Time) Option { return func(v *MultiVerifier) { v.now = now } }

// WithHTTPClient sets the client used for discovery and JWKS.
func WithHTTPClient(c *http.Client) Option { return func(v *MultiVerifier) { v.client = c } }

// MultiVerifier verifies tokens from any of several configured issuers.
type MultiVerifier struct {
	now     func() time.Time
	client  *http.Client
	issuers map[string]*issuer
	names   []string
}

// issuer is one configured issuer and its lazily discovered verifier.
type issuer struct {
	cfg      IssuerConfig
	mu       sync.Mutex
	verifier *gooidc.IDTokenVerifier
	failedAt time.Time
	lastErr  error
}

// rediscoverAfter bounds how often a failed discovery is retried.
const rediscoverAfter = 3 * time.Second

// clockSkew is the leeway for nbf.
const clockSkew = time.Minute

// NewVerifier returns a verifier accepting tokens from cfgs.
func NewVerifier(cfgs []IssuerConfig, opts ...Option) (*MultiVerifier, error) {
	v := &MultiVerifier{now: time.Now, client: &http.Client{Timeout: 10 * time.Second}, issuers: map[string]*issuer{}}
	for _, o := range opts {
		o(v)
	}
	for _, c := range cfgs {
		c = c.withDefaults()
		if err := checkIssuerURL(c.URL); err != nil {
			return nil, err
		}
		if _, dup := v.issuers[c.URL]; dup {
			return nil, fmt.Errorf("issuer %s configured twice", c.URL)
		}
		v.issuers[c.URL] = &issuer{cfg: c}
		v.names = append(v.names, c.URL)
	}
	slices.Sort(v.names)
	return v, nil
}

func tokenErr(r Reason, format string, args ...any) error {
	return &TokenError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// Verify checks raw and returns the identity it proves.
func (v *MultiVerifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	raw = strings.TrimSpace(raw)
	jws, err := jose.ParseSigned(raw, allowedAlgs)
	if err != nil {
		if alg := headerAlg(raw); alg != "" {
			return nil, tokenErr(ReasonMalformed, "the token's signature algorithm %q is not accepted (want one of RS256, RS384, RS512, ES256, ES384, ES512, PS256, EdDSA)", clip(alg))
		}
		return nil, tokenErr(ReasonMalformed, "the token is not a signed JWT (compact JWS)")
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil {
		return nil, tokenErr(ReasonMalformed, "the token's payload is not a JSON object of claims")
	}
	iss, ok := v.issuers[unverified.Issuer]
	if !ok {
		return nil, tokenErr(ReasonUnknownIssuer, "issuer %q is not accepted here (accepted: %s)", clip(unverified.Issuer), strings.Join(v.names, ", "))
	}
	verifier, err := iss.get(v)
	if err != nil {
		return nil, err
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, mapVerifyError(err, iss.cfg)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, tokenErr(ReasonMalformed, "the token's claims do not decode: %v", err)
	}
	if nbf, ok := claims["nbf"].(float64); ok {
		if t := time.Unix(int64(nbf), 0); v.now().Add(clockSkew).Before(t) {
			return nil, tokenErr(ReasonNotYetValid, "the token is not valid before %s", t.UTC().Format(time.RFC3339))
		}
	}
	return identity(iss.cfg, tok, claims)
}

// get returns the issuer's verifier, discovering it on first use.
func (i *issuer) get(v *MultiVerifier) (*gooidc.IDTokenVerifier, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.verifier != nil {
		return i.verifier, nil
	}
	cfg := &gooidc.Config{ClientID: i.cfg.ClientID, Now: v.now, SupportedSigningAlgs: algNames()}
	if i.cfg.KeySet != nil {
		i.verifier = gooidc.NewVerifier(i.cfg.URL, i.cfg.KeySet, cfg)
		return i.verifier, nil
	}
	if !i.failedAt.IsZero() && time.Since(i.failedAt) < rediscoverAfter {
		return nil, tokenErr(ReasonIssuerUnavailable, "issuer %s could not be reached: %v", i.cfg.URL, i.lastErr)
	}
	// The provider keeps this context for later JWKS fetches: it must not
	// be a request's context.
	ctx := gooidc.ClientContext(context.Background(), v.client)
	p, err := gooidc.NewProvider(ctx, i.cfg.URL)
	if err != nil {
		i.failedAt, i.lastErr = time.Now(), err
		return nil, tokenErr(ReasonIssuerUnavailable, "issuer %s could not be reached: %v", i.cfg.URL, err)
	}
	i.verifier = p.Verifier(cfg)
	return i.verifier, nil
}

func algNames() []string {
	out := make([]string, len(allowedAlgs))
	for i, a := range allowedAlgs {
		out[i] = string(a)
	}
	return out
}

func mapVerifyError(err error, cfg IssuerConfig) error {
	var expired *gooidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return tokenErr(ReasonExpired, "the token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
	case strings.Contains(msg, "expected audience"):
		return tokenErr(ReasonAudience, "the token's audience does not include %q", cfg.ClientID)
	case strings.Contains(msg, "nbf") || strings.Contains(msg, "not before"):
		return tokenErr(ReasonNotYetValid, "the token is not valid yet")
	case strings.Contains(msg, "fetching keys") || strings.Contains(msg, "get keys"):
		return tokenErr(ReasonIssuerUnavailable, "the keys of issuer %s could not be fetched", cfg.URL)
	case strings.Contains(msg, "signature") || strings.Contains(msg, "signing algorithm"):
		return tokenErr(ReasonSignature, "the token's signature does not verify with issuer %s's keys", cfg.URL)
	case strings.Contains(msg, "issued by a different provider"):
		return tokenErr(ReasonUnknownIssuer, "the token's issuer does not match %s", cfg.URL)
	default:
		return tokenErr(ReasonMalformed, "the token does not verify: %s", clip(strings.TrimPrefix(msg, "oidc: ")))
	}
}

// identity maps verified claims to the certificate's identity.
func identity(cfg IssuerConfig, tok *gooidc.IDToken, claims map[string]any) (*Identity, error) {
	id := &Identity{Issuer: tok.Issuer, Subject: tok.Subject, Claims: claims}
	if tok.Subject == "" {
		return nil, tokenErr(ReasonMissingClaim, "the token has no sub claim")
	}
	// Every claim below goes into the certificate: the issuer and the
	// subject always (in Sigstore's extensions), and the SAN.
	if err := CheckClaim("iss", tok.Issuer); err != nil {
		return nil, err
	}
	if err := CheckClaim("sub", tok.Subject); err != nil {
		return nil, err
	}
	switch cfg.Type {
	case TypeEmail:
		email, _ := claims["email"].(string)
		if email == "" {
			return nil, tokenErr(ReasonMissingClaim, "the token has no email claim (issuer %s is an email issuer)", cfg.URL)
		}
		if err := checkEmail(email); err != nil {
			return nil, err
		}
		switch ev := claims["email_verified"].(type) {
		case bool:
			if !ev {
				return nil, tokenErr(ReasonEmailUnverified, "the issuer says email %s is not verified", clip(email))
			}
		case string:
			if ev != "true" {
				return nil, tokenErr(ReasonEmailUnverified, "the issuer says email %s is not verified", clip(email))
			}
		default:
			return nil, tokenErr(ReasonEmailUnverified, "the token does not say email %s is verified (no email_verified claim)", clip(email))
		}
		id.SANKind, id.SAN, id.Challenge = SANEmail, email, email
	case TypeURI:
		u, err := url.Parse(tok.Subject)
		if err != nil || !u.IsAbs() {
			return nil, tokenErr(ReasonSubject, "subject %q is not an absolute URI", clip(tok.Subject))
		}
		if cfg.Domain != "" && !withinDomain(tok.Subject, cfg.Domain) {
			return nil, tokenErr(ReasonSubject, "subject %q is outside %s", clip(tok.Subject), cfg.Domain)
		}
		id.SANKind, id.SAN, id.Challenge = SANURI, tok.Subject, tok.Subject
	case TypeUsername:
		if strings.Contains(tok.Subject, "!") {
			return nil, tokenErr(ReasonSubject, "subject %q contains '!'", clip(tok.Subject))
		}
		id.SANKind, id.SAN, id.Challenge = SANOtherName, tok.Subject+"!"+cfg.Domain, tok.Subject
	default:
		return nil, fmt.Errorf("issuer %s has unknown type %q", cfg.URL, cfg.Type)
	}
	return id, nil
}

// headerAlg returns the alg of a compact JWS header, or "" if raw has none.
func headerAlg(raw string) string {
	h, _, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return ""
	}
	return hdr.Alg
}

// clip bounds attacker-chosen text quoted in messages.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// withinDomain reports whether subject is domain or lies under it at a path
// boundary: "spiffe://example.org" admits "spiffe://example.org/ci" but not
// "spiffe://example.org.evil/ci".
func withinDomain(subject, domain string) bool {
	if strings.HasSuffix(domain, "/") {
		return strings.HasPrefix(subject, domain)
	}
	return subject == domain || strings.HasPrefix(subject, domain+"/")
}
