package oidc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// unprintable are characters no certificate identity may hold, each put
// in the middle of an otherwise good value.
var unprintable = []struct{ name, char string }{
	{"LF", "\n"}, {"CR", "\r"}, {"NUL", "\x00"}, {"TAB", "\t"}, {"ESC", "\x1b"}, {"DEL", "\x7f"},
	{"NEL (C1)", "\u0085"}, {"CSI (C1)", "\u009b"}, {"line separator", "\u2028"}, {"paragraph separator", "\u2029"},
	{"right-to-left override", "\u202e"}, {"zero-width space", "\u200b"}, {"zero-width joiner", "\u200d"},
	{"byte-order mark", "\ufeff"}, {"soft hyphen", "\u00ad"}, {"isolate", "\u2066"},
}

func TestCheckClaim(t *testing.T) {
	for _, ok := range []string{"alice@example.com", "spiffe://example.org/ci", "Jürgen Groß", "repo:octo/x:ref:refs/heads/main", "1234567890"} {
		if err := CheckClaim("sub", ok); err != nil {
			t.Errorf("CheckClaim(%q): %v", ok, err)
		}
	}
	for _, c := range unprintable {
		err := CheckClaim("email", "alice"+c.char+"@example.com")
		var te *TokenError
		if !errors.As(err, &te) || te.Reason != ReasonInvalidClaim {
			t.Errorf("%s: %v, want an invalid_claim TokenError", c.name, err)
			continue
		}
		if !strings.Contains(te.Msg, "email claim contains") || !strings.Contains(te.Msg, "at byte 5") {
			t.Errorf("%s: message %q does not name the claim and where", c.name, te.Msg)
		}
		if strings.Contains(te.Msg, c.char) {
			t.Errorf("%s: message %q echoes the character", c.name, te.Msg)
		}
	}
	if err := CheckClaim("sub", "ab\xffc"); err == nil || !strings.Contains(err.Error(), "sub claim is not valid UTF-8 (at byte 2)") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if err := CheckClaim("sub", "a\uFFFDb"); err != nil {
		t.Errorf("an encoded U+FFFD is valid UTF-8: %v", err)
	}
}

// TestVerifyRefusesUnprintableClaims: a genuine token whose email or
// subject (email, URI and username issuers) holds a control, separator or
// invisible formatting character yields no identity.
func TestVerifyRefusesUnprintableClaims(t *testing.T) {
	ti := newTestIssuer(t)
	issuers := map[string]IssuerConfig{
		TypeEmail:    {URL: ti.srv.URL},
		TypeURI:      {URL: ti.srv.URL, Type: TypeURI},
		TypeUsername: {URL: ti.srv.URL, Type: TypeUsername, Domain: "example.com"},
	}
	for _, place := range []struct {
		typ, claim, good string
		prefix           int // bytes before the bad character
	}{
		{TypeEmail, "email", "alice@example.com", 5},
		{TypeEmail, "sub", "12345", 5},
		{TypeURI, "sub", "spiffe://example.org/ci", 23},
		{TypeUsername, "sub", "alice", 5},
	} {
		v, err := NewVerifier([]IssuerConfig{issuers[place.typ]})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range unprintable {
			t.Run(place.typ+" "+place.claim+" "+c.name, func(t *testing.T) {
				bad := place.good[:place.prefix] + c.char + place.good[place.prefix:]
				id, err := v.Verify(context.Background(), sign(t, ti.key, jose.RS256, ti.claims(func(m map[string]any) {
					m[place.claim] = bad
				})))
				var te *TokenError
				if !errors.As(err, &te) || te.Reason != ReasonInvalidClaim {
					t.Fatalf("got identity %+v, error %v; want an invalid_claim refusal", id, err)
				}
				if !strings.Contains(te.Msg, "the token's "+place.claim+" claim") {
					t.Errorf("message %q does not name the %s claim", te.Msg, place.claim)
				}
			})
		}
	}
	v, err := NewVerifier([]IssuerConfig{issuers[TypeEmail]})
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"alice example@example.com", "@example.com", "alice@", "alice", "älice@example.com"} {
		_, err := v.Verify(context.Background(), sign(t, ti.key, jose.RS256, ti.claims(func(m map[string]any) { m["email"] = email })))
		var te *TokenError
		if !errors.As(err, &te) || te.Reason != ReasonInvalidClaim || !strings.Contains(te.Msg, "email claim") {
			t.Errorf("email %q: %v, want an invalid_claim refusal naming the email claim", email, err)
		}
	}
}

// FuzzCheckClaim: whatever CheckClaim accepts is valid UTF-8 without
// control, separator or formatting characters.
func FuzzCheckClaim(f *testing.F) {
	for _, c := range unprintable {
		f.Add("a" + c.char + "b")
	}
	f.Add("alice@example.com")
	f.Add("ab\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if CheckClaim("sub", s) != nil {
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("accepted invalid UTF-8 %q", s)
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp) {
				t.Fatalf("accepted %U in %q", r, s)
			}
		}
	})
}
