package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// allowedAlgs are the JWS algorithms accepted in identity tokens. "none"
// and the HMAC algorithms are never accepted.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384,
	jose.ES512, jose.PS256, jose.EdDSA}

const (
	// maxTokenBytes bounds a raw token; real identity tokens are a few KiB.
	maxTokenBytes = 64 << 10
	// rediscoverAfter bounds how often a failed discovery is retried.
	rediscoverAfter = 3 * time.Second
	// discoveryTimeout bounds one discovery request.
	discoveryTimeout = 10 * time.Second
	// clockSkew is the leeway for nbf and iat in the future. (go-oidc
	// allows nbf up to five minutes ahead and does not check iat.)
	clockSkew = time.Minute
)

// Option configures NewVerifier.
type Option func(*MultiVerifier)

// WithClock sets the clock that token times (exp, nbf, iat) and the pause
// between discovery attempts are measured with.
func WithClock(now func() time.Time) Option { return func(v *MultiVerifier) { v.now = now } }

// WithHTTPClient sets the client used for discovery and JWKS fetches. It
// should have a timeout: JWKS fetches run without a deadline of their own.
func WithHTTPClient(c *http.Client) Option { return func(v *MultiVerifier) { v.client = c } }

// MultiVerifier verifies tokens from any of several configured issuers.
// It is safe for concurrent use.
type MultiVerifier struct {
	now     func() time.Time
	client  *http.Client
	issuers map[string]*issuer // by URL; fixed by NewVerifier
	names   []string           // the configured URLs, sorted, for messages
}

var _ Verifier = (*MultiVerifier)(nil)

// issuer is one configured issuer and its lazily discovered verifier.
type issuer struct {
	cfg IssuerConfig // fixed by NewVerifier
	// verifier is set once, by NewVerifier for a static key set or by the
	// first successful discovery; it never changes after.
	verifier atomic.Pointer[gooidc.IDTokenVerifier]
	// discovering is a one-slot semaphore held while discovering, so that
	// one request at a time contacts the issuer; it guards failedAt and
	// lastErr.
	discovering chan struct{}
	failedAt    time.Time // when discovery last failed (zero: never)
	lastErr     string    // why, clipped
}

// NewVerifier returns a verifier accepting tokens from cfgs. It contacts no
// issuer: each is discovered on first use, so that mosaicd starts while an
// issuer is down.
func NewVerifier(cfgs []IssuerConfig, opts ...Option) (*MultiVerifier, error) {
	v := &MultiVerifier{now: time.Now, client: &http.Client{Timeout: discoveryTimeout}, issuers: map[string]*issuer{}}
	for _, o := range opts {
		o(v)
	}
	for _, c := range cfgs {
		c = c.withDefaults()
		if err := c.validate(); err != nil {
			return nil, err
		}
		if _, dup := v.issuers[c.URL]; dup {
			return nil, fmt.Errorf("issuer %s configured twice", c.URL)
		}
		iss := &issuer{cfg: c, discovering: make(chan struct{}, 1)}
		if c.KeySet != nil {
			iss.verifier.Store(gooidc.NewVerifier(c.URL, c.KeySet, v.oidcConfig(c)))
		}
		v.issuers[c.URL] = iss
		v.names = append(v.names, c.URL)
	}
	slices.Sort(v.names)
	return v, nil
}

func (v *MultiVerifier) oidcConfig(c IssuerConfig) *gooidc.Config {
	algs := make([]string, len(allowedAlgs))
	for i, a := range allowedAlgs {
		algs[i] = string(a)
	}
	return &gooidc.Config{ClientID: c.ClientID, Now: v.now, SupportedSigningAlgs: algs}
}

func tokenErr(r Reason, format string, args ...any) error {
	return &TokenError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// Verify checks raw (a compact JWS) against the issuer its iss claim names
// and returns the identity it proves. Every refusal is a *TokenError.
func (v *MultiVerifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxTokenBytes {
		return nil, tokenErr(ReasonMalformed, "the token is %d bytes; the limit is %d bytes", len(raw), maxTokenBytes)
	}
	unverified, err := parseUnverified(raw)
	if err != nil {
		return nil, err
	}
	issRaw, ok := unverified["iss"]
	if !ok {
		return nil, tokenErr(ReasonMissingClaim, "the token has no iss claim")
	}
	var issURL string
	if json.Unmarshal(issRaw, &issURL) != nil {
		return nil, tokenErr(ReasonMalformed, "the token's iss claim is not a string")
	}
	iss, ok := v.issuers[issURL]
	if !ok {
		return nil, tokenErr(ReasonUnknownIssuer, "issuer %q is not accepted here (accepted: %s)", clip(issURL), strings.Join(v.names, ", "))
	}
	verifier, err := iss.get(ctx, v)
	if err != nil {
		return nil, err
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, mapVerifyError(err, iss.cfg, unverified, v.now())
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, tokenErr(ReasonMalformed, "the token's claims do not decode: %s", clip(err.Error()))
	}
	if err := checkNotYetValid(unverified, v.now()); err != nil {
		return nil, err
	}
	return identity(iss.cfg, tok, claims)
}

// parseUnverified parses raw as a compact JWS with an accepted algorithm
// and returns its claims, unverified, to pick the issuer and to explain
// refusals.
func parseUnverified(raw string) (map[string]json.RawMessage, error) {
	if n := strings.Count(raw, ".") + 1; n != 3 {
		return nil, tokenErr(ReasonMalformed, "the token is not a signed JWT: a compact JWS has 3 dot-separated parts, this has %d", n)
	}
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		switch alg, ok := headerAlg(raw); {
		case !ok:
			return nil, tokenErr(ReasonMalformed, "the token is not a signed JWT: its header is not base64url-encoded JSON with an alg")
		case !slices.Contains(allowedAlgs, jose.SignatureAlgorithm(alg)):
			return nil, tokenErr(ReasonMalformed, "the token's signature algorithm %q is not accepted (accepted: %s)", clip(alg), algList())
		default:
			return nil, tokenErr(ReasonMalformed, "the token is not a signed JWT: %s", clip(strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")))
		}
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil || claims == nil {
		return nil, tokenErr(ReasonMalformed, "the token's payload is not a JSON object of claims")
	}
	return claims, nil
}

// headerAlg returns the alg of a compact JWS header, and whether the
// header decodes to a JSON object with a string alg.
func headerAlg(raw string) (string, bool) {
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", false
	}
	var hdr struct {
		Alg *string `json:"alg"`
	}
	if json.Unmarshal(b, &hdr) != nil || hdr.Alg == nil {
		return "", false
	}
	return *hdr.Alg, true
}

func algList() string {
	names := make([]string, len(allowedAlgs))
	for i, a := range allowedAlgs {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// get returns the issuer's verifier, discovering the issuer on first use.
// A failed discovery is retried by a request at least rediscoverAfter
// later; requests in between are refused at once.
func (i *issuer) get(ctx context.Context, v *MultiVerifier) (*gooidc.IDTokenVerifier, error) {
	if vf := i.verifier.Load(); vf != nil {
		return vf, nil
	}
	select {
	case i.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, tokenErr(ReasonIssuerUnavailable, "gave up waiting for the discovery of issuer %s: %v", i.cfg.URL, ctx.Err())
	}
	defer func() { <-i.discovering }()
	if vf := i.verifier.Load(); vf != nil {
		return vf, nil
	}
	now := v.now()
	if !i.failedAt.IsZero() && now.Sub(i.failedAt) < rediscoverAfter {
		return nil, tokenErr(ReasonIssuerUnavailable, "issuer %s could not be reached (%s); trying again in a few seconds", i.cfg.URL, i.lastErr)
	}
	vf, err := i.discover(v)
	if err != nil {
		i.failedAt, i.lastErr = now, clip(err.Error())
		return nil, tokenErr(ReasonIssuerUnavailable, "issuer %s could not be reached (%s)", i.cfg.URL, i.lastErr)
	}
	i.verifier.Store(vf)
	return vf, nil
}

// discover fetches the issuer's discovery document. The verifier it
// returns fetches and caches the JWKS itself (go-oidc's RemoteKeySet).
func (i *issuer) discover(v *MultiVerifier) (*gooidc.IDTokenVerifier, error) {
	// Not the request's context: the discovery serves later requests too.
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(context.Background(), v.client), discoveryTimeout)
	defer cancel()
	p, err := gooidc.NewProvider(ctx, i.cfg.URL)
	if err != nil {
		return nil, err
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, err
	}
	if checkIssuerURL(doc.JWKSURI, true) != nil {
		return nil, fmt.Errorf("its discovery document names jwks_uri %q; want an https URL", clip(doc.JWKSURI))
	}
	return p.Verifier(v.oidcConfig(i.cfg)), nil
}

// mapVerifyError turns go-oidc's refusals into TokenErrors. go-oidc types
// only the expiry error; the others are told apart by their messages,
// which the token table tests pin down.
func mapVerifyError(err error, cfg IssuerConfig, claims map[string]json.RawMessage, now time.Time) error {
	var expired *gooidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired) && expired.Expiry.IsZero():
		return tokenErr(ReasonMissingClaim, "the token has no exp claim")
	case errors.As(err, &expired):
		return tokenErr(ReasonExpired, "the token expired at %s (it is now %s)", rfc3339(expired.Expiry), rfc3339(now))
	case strings.HasPrefix(msg, "failed to verify signature:") && strings.Contains(msg, "fetching keys"):
		return tokenErr(ReasonIssuerUnavailable, "the keys of issuer %s could not be fetched (%s)", cfg.URL, clip(msg[strings.Index(msg, "fetching keys"):]))
	case strings.HasPrefix(msg, "failed to verify signature:"):
		return tokenErr(ReasonSignature, "the token's signature does not verify with the keys of issuer %s", cfg.URL)
	case strings.Contains(msg, "expected audience"):
		return tokenErr(ReasonAudience, "the token's audience %s does not include %q", clip(string(claims["aud"])), cfg.ClientID)
	case strings.Contains(msg, "(not before)"):
		return tokenErr(ReasonNotYetValid, "the token is not valid before %s (it is now %s)", claimTime(claims, "nbf"), rfc3339(now))
	default:
		return tokenErr(ReasonMalformed, "the token does not verify: %s", clip(strings.TrimPrefix(msg, "oidc: ")))
	}
}

// checkNotYetValid refuses a token whose nbf or iat is in the future by
// more than clockSkew. claims have been verified by now.
func checkNotYetValid(claims map[string]json.RawMessage, now time.Time) error {
	for _, name := range []string{"nbf", "iat"} {
		var secs float64
		if json.Unmarshal(claims[name], &secs) != nil {
			continue // absent; a malformed one was refused by go-oidc
		}
		if t := time.Unix(int64(secs), 0); t.After(now.Add(clockSkew)) {
			return tokenErr(ReasonNotYetValid, "the token is not valid before %s (%s claim; it is now %s)", rfc3339(t), name, rfc3339(now))
		}
	}
	return nil
}

func claimTime(claims map[string]json.RawMessage, name string) string {
	var secs float64
	if json.Unmarshal(claims[name], &secs) != nil {
		return "its " + name
	}
	return rfc3339(time.Unix(int64(secs), 0))
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// identity maps verified claims to the certificate's identity.
func identity(cfg IssuerConfig, tok *gooidc.IDToken, claims map[string]any) (*Identity, error) {
	id := &Identity{Issuer: tok.Issuer, Subject: tok.Subject, Claims: claims}
	if tok.Subject == "" {
		return nil, tokenErr(ReasonMissingClaim, "the token has no sub claim")
	}
	switch cfg.Type {
	case TypeEmail:
		email, err := verifiedEmail(cfg, claims)
		if err != nil {
			return nil, err
		}
		id.SANKind, id.SAN, id.Challenge = SANEmail, email, email
	case TypeURI:
		u, err := url.Parse(tok.Subject)
		if err != nil || !u.IsAbs() {
			return nil, tokenErr(ReasonSubject, "subject %q is not an absolute URI (issuer %s is a uri issuer)", clip(tok.Subject), cfg.URL)
		}
		if cfg.Domain != "" && !withinDomain(tok.Subject, u, cfg.Domain) {
			return nil, tokenErr(ReasonSubject, "subject %q is outside %s", clip(tok.Subject), cfg.Domain)
		}
		id.SANKind, id.SAN, id.Challenge = SANURI, tok.Subject, tok.Subject
	case TypeUsername:
		if strings.Contains(tok.Subject, "!") {
			return nil, tokenErr(ReasonSubject, "subject %q contains '!', which separates user and domain in the SAN", clip(tok.Subject))
		}
		id.SANKind, id.SAN, id.Challenge = SANOtherName, tok.Subject+"!"+cfg.Domain, tok.Subject
	default:
		return nil, fmt.Errorf("issuer %s has unknown type %q", cfg.URL, cfg.Type)
	}
	return id, nil
}

// verifiedEmail returns the email claim of an email issuer's token if the
// token says it is verified (true, or "true" as some issuers send it).
func verifiedEmail(cfg IssuerConfig, claims map[string]any) (string, error) {
	email, _ := claims["email"].(string)
	if email == "" {
		return "", tokenErr(ReasonMissingClaim, "the token has no email claim (issuer %s is an email issuer)", cfg.URL)
	}
	switch ev := claims["email_verified"].(type) {
	case bool:
		if ev {
			return email, nil
		}
	case string:
		if ev == "true" {
			return email, nil
		}
	case nil:
		return "", tokenErr(ReasonEmailUnverified, "the token does not say email %q is verified (no email_verified claim)", clip(email))
	}
	return "", tokenErr(ReasonEmailUnverified, "the issuer says email %q is not verified", clip(email))
}

// withinDomain reports whether subject (parsed as u) starts with domain at
// a path segment boundary and has no dot segments that could climb out of
// it: spiffe://example.org holds spiffe://example.org/ci but neither
// spiffe://example.org.evil/ci nor spiffe://example.org:1/ci.
func withinDomain(subject string, u *url.URL, domain string) bool {
	rest, ok := strings.CutPrefix(subject, domain)
	if !ok || !(rest == "" || strings.HasSuffix(domain, "/") || strings.HasPrefix(rest, "/")) {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
