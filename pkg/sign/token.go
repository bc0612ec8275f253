package sign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// TokenEnv is the environment variable an identity token is read from
// when none is given, as cosign and sigstore-go read it.
const TokenEnv = "SIGSTORE_ID_TOKEN"

// Audience is the audience Sigstore CAs require identity tokens to carry.
const Audience = "sigstore"

// maxUnixSeconds is the end of year 9999, the latest exp accepted.
const maxUnixSeconds = 253402300799

// maxTokenBytes bounds an identity token (and a token file).
const maxTokenBytes = 64 << 10

// Errors a token check can wrap; callers branch on them with errors.Is.
var (
	ErrTokenMalformed = errors.New("malformed identity token")
	ErrTokenAudience  = errors.New("identity token has the wrong audience")
	ErrTokenExpired   = errors.New("identity token has expired")
)

// Token is an identity token's claims, as read WITHOUT verifying its
// signature (the CA verifies it). They say which identity the certificate
// will name and what the proof of possession must sign.
type Token struct {
	// Raw is the compact JWT.
	Raw     string
	Issuer  string
	Subject string
	// Email is the email claim, "" when absent.
	Email    string
	Audience []string
	Expiry   time.Time
}

// Challenge is what the proof of possession signs, as Fulcio and Mosaic's
// CA check it: the email claim for tokens that carry one (email issuers),
// otherwise the subject.
func (t *Token) Challenge() string {
	if t.Email != "" {
		return t.Email
	}
	return t.Subject
}

// ResolveToken returns the identity token named by value: value itself
// when it is a JWT, otherwise the contents of the file value names; when
// value is "", the contents of $SIGSTORE_ID_TOKEN.
func ResolveToken(value string) (string, error) {
	if value == "" {
		value = os.Getenv(TokenEnv)
		if value == "" {
			return "", fmt.Errorf("no identity token: pass one (or a file holding one), or set %s", TokenEnv)
		}
		if !looksLikeJWT(value) {
			return "", fmt.Errorf("%w: %s does not hold a JWT", ErrTokenMalformed, TokenEnv)
		}
		return value, nil
	}
	if looksLikeJWT(value) {
		return value, nil
	}
	f, err := os.Open(value)
	if err != nil {
		return "", fmt.Errorf("the identity token is neither a JWT nor a readable file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the identity token file: %w", err)
	}
	tok := string(bytes.TrimSpace(data))
	if len(data) > maxTokenBytes || !looksLikeJWT(tok) {
		return "", fmt.Errorf("%w: the file %s does not hold a JWT", ErrTokenMalformed, value)
	}
	return tok, nil
}

// looksLikeJWT reports whether s has the shape of a compact JWS: three
// base64url parts, the first two non-empty.
func looksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(s) > maxTokenBytes || len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, p := range parts {
		if strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=") != "" {
			return false
		}
	}
	return true
}

// ParseToken decodes a JWT's claims without verifying it and checks what a
// CA would refuse it for, so that the refusal comes early and says why: the
// audience must include "sigstore" and the token must not have expired at
// now.
func ParseToken(raw string, now time.Time) (*Token, error) {
	raw = strings.TrimSpace(raw)
	if !looksLikeJWT(raw) {
		return nil, fmt.Errorf("%w: want a compact JWT (three base64url parts separated by dots)", ErrTokenMalformed)
	}
	payload := strings.Split(raw, ".")[1]
	data, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: the payload is not base64url: %v", ErrTokenMalformed, err)
	}
	c, err := decodeClaims(data)
	if err != nil {
		return nil, err
	}
	tok := &Token{Raw: raw, Issuer: c.Issuer, Subject: c.Subject, Email: c.Email, Audience: c.Audience}
	switch {
	case tok.Subject == "" && tok.Email == "":
		return nil, fmt.Errorf("%w: it has neither a sub nor an email claim", ErrTokenMalformed)
	case !slices.Contains(tok.Audience, Audience):
		return nil, fmt.Errorf("%w: its audience is %q but Sigstore CAs require %q; get a token issued for audience %q",
			ErrTokenAudience, tok.Audience, Audience, Audience)
	case c.Expiry == nil:
		return nil, fmt.Errorf("%w: it has no exp claim", ErrTokenMalformed)
	}
	if *c.Expiry > maxUnixSeconds || *c.Expiry < 0 {
		return nil, fmt.Errorf("%w: exp %v is out of range", ErrTokenMalformed, *c.Expiry)
	}
	tok.Expiry = time.Unix(int64(*c.Expiry), 0)
	if !now.Before(tok.Expiry) {
		return nil, fmt.Errorf("%w: it expired at %s (now %s); get a fresh token",
			ErrTokenExpired, tok.Expiry.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return tok, nil
}

// claims are the JWT claims ParseToken reads.
type claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Email    string   `json:"email"`
	Audience audience `json:"aud"`
	Expiry   *float64 `json:"exp"`
}

func decodeClaims(data []byte) (*claims, error) {
	var c claims
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: the claims are not a JSON object of the expected types: %v", ErrTokenMalformed, err)
	}
	return &c, nil
}

// audience is the aud claim: one string or an array of them (RFC 7519).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}
