package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/oidc"
)

// TestIdentityClaimsRefused: whatever the verifier returns, the CA issues
// no certificate whose email, URI, username, subject or issuer holds a
// control, separator or invisible formatting character; it answers 400
// naming the claim, and logs nothing.
func TestIdentityClaimsRefused(t *testing.T) {
	e := newTestEnv(t, true, nil)
	e.verifier.errs["verifier-refuses"] = &oidc.TokenError{Reason: oidc.ReasonInvalidClaim, Msg: "the token's email claim contains a control character"}
	key := newECKey(t, elliptic.P256())
	for _, c := range []struct{ name, char string }{
		{"LF", "\n"}, {"CR", "\r"}, {"NUL", "\x00"}, {"DEL", "\x7f"}, {"NEL", "\u0085"},
		{"line separator", "\u2028"}, {"RLO", "\u202e"}, {"ZWSP", "\u200b"},
	} {
		ids := map[string]*oidc.Identity{
			"email": {Issuer: testIssuer, SANKind: oidc.SANEmail, SAN: "alice" + c.char + "@example.com", Subject: "1", Challenge: "x"},
			"sub": {Issuer: testIssuer, SANKind: oidc.SANURI, SAN: "spiffe://example.org/ci" + c.char,
				Subject: "spiffe://example.org/ci", Challenge: "x"},
			"username": {Issuer: testIssuer, SANKind: oidc.SANOtherName, SAN: "bob" + c.char + "!example.com", Subject: "bob", Challenge: "x"},
			"iss":      {Issuer: testIssuer + c.char, SANKind: oidc.SANEmail, SAN: "alice@example.com", Subject: "1", Challenge: "x"},
		}
		// The token's subject too, which goes into its own extension.
		subject := *ids["email"]
		subject.SAN, subject.Subject = "alice@example.com", "12"+c.char+"3"
		for claim, id := range ids {
			token := claim + "-" + c.name
			e.verifier.ids[token] = id
			t.Run(token, func(t *testing.T) { refusedFor(t, e, key, token, "the token's "+claim+" claim contains ") })
		}
		e.verifier.ids["subject-"+c.name] = &subject
		t.Run("subject-"+c.name, func(t *testing.T) { refusedFor(t, e, key, "subject-"+c.name, "the token's sub claim contains ") })
	}
	t.Run("verifier refuses", func(t *testing.T) {
		refusedFor(t, e, key, "verifier-refuses", "the token's email claim contains a control character")
	})
	if n := len(e.certLog.precerts); n != 0 {
		t.Errorf("%d precertificates logged for refused identities", n)
	}
}

// refusedFor posts a request with token, whose identity's challenge is
// "x", and wants a 400 InvalidArgument whose message says want.
func refusedFor(t *testing.T, e *testEnv, key *ecdsa.PrivateKey, token, want string) {
	t.Helper()
	resp, b := e.post(t, keyRequest(t, key, "x"), token)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
	}
	if code, msg := errorBody(t, b); code != 3 || !strings.Contains(msg, want) {
		t.Errorf("refusal code %d %q, want InvalidArgument saying %q", code, msg, want)
	}
}
