package sign

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func jwt(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestParseToken(t *testing.T) {
	exp := now.Add(time.Minute).Unix()
	good := func(extra string) string {
		return jwt(`{"iss":"https://i","sub":"s-1","aud":"sigstore","exp":` + itoa(exp) + extra + `}`)
	}
	for _, tc := range []struct {
		name      string
		raw       string
		want      error
		challenge string
	}{
		{"subject", good(""), nil, "s-1"},
		{"email wins", good(`,"email":"a@example.com"`), nil, "a@example.com"},
		{"audience array", jwt(`{"sub":"s","aud":["x","sigstore"],"exp":` + itoa(exp) + `}`), nil, "s"},
		{"padded payload", strings.Replace(good(""), ".c2ln", "", 1) + "==.c2ln", nil, "s-1"},
		{"fractional exp", jwt(`{"sub":"s","aud":"sigstore","exp":` + itoa(exp) + `.5}`), nil, "s"},
		{"whitespace around", " " + good("") + "\n", nil, "s-1"},
		{"other audience", jwt(`{"sub":"s","aud":"other","exp":` + itoa(exp) + `}`), ErrTokenAudience, ""},
		{"audience array without sigstore", jwt(`{"sub":"s","aud":["a","b"],"exp":` + itoa(exp) + `}`), ErrTokenAudience, ""},
		{"no audience", jwt(`{"sub":"s","exp":` + itoa(exp) + `}`), ErrTokenAudience, ""},
		{"expired", jwt(`{"sub":"s","aud":"sigstore","exp":` + itoa(now.Unix()) + `}`), ErrTokenExpired, ""},
		{"no exp", jwt(`{"sub":"s","aud":"sigstore"}`), ErrTokenMalformed, ""},
		{"string exp", jwt(`{"sub":"s","aud":"sigstore","exp":"soon"}`), ErrTokenMalformed, ""},
		{"huge exp", jwt(`{"sub":"s","aud":"sigstore","exp":1e300}`), ErrTokenMalformed, ""},
		{"negative exp", jwt(`{"sub":"s","aud":"sigstore","exp":-5}`), ErrTokenMalformed, ""},
		{"numeric aud", jwt(`{"sub":"s","aud":5,"exp":` + itoa(exp) + `}`), ErrTokenMalformed, ""},
		{"no subject", jwt(`{"aud":"sigstore","exp":` + itoa(exp) + `}`), ErrTokenMalformed, ""},
		{"payload not JSON", jwt(`not json`), ErrTokenMalformed, ""},
		{"payload an array", jwt(`[1]`), ErrTokenMalformed, ""},
		{"two parts", "a.b", ErrTokenMalformed, ""},
		{"four parts", "a.b.c.d", ErrTokenMalformed, ""},
		{"bad alphabet", "a.b+c.d", ErrTokenMalformed, ""},
		{"payload not base64", "a.b.c", ErrTokenMalformed, ""},
		{"empty", "", ErrTokenMalformed, ""},
		{"huge", strings.Repeat("a", maxTokenBytes) + ".b.c", ErrTokenMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseToken(tc.raw, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err == nil && tok.Challenge() != tc.challenge {
				t.Errorf("challenge %q, want %q", tok.Challenge(), tc.challenge)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestResolveToken(t *testing.T) {
	tok := jwt(`{"sub":"s"}`)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a token"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TokenEnv, "")
	if _, err := ResolveToken(""); err == nil || !strings.Contains(err.Error(), TokenEnv) {
		t.Errorf("no token anywhere: %v, want an error naming %s", err, TokenEnv)
	}
	for _, tc := range []struct {
		name, value, env string
		ok               bool
	}{
		{"explicit", tok, "", true},
		{"file", file, "", true},
		{"environment", "", tok, true},
		{"environment garbage", "", "garbage", false},
		{"missing file", filepath.Join(dir, "missing"), "", false},
		{"file of garbage", garbage, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(TokenEnv, tc.env)
			got, err := ResolveToken(tc.value)
			if (err == nil) != tc.ok || (tc.ok && got != tok) {
				t.Errorf("ResolveToken(%q) = %q, %v", tc.value, got, err)
			}
		})
	}
}

// FuzzParseToken: any input yields a token or a typed error, never a panic.
func FuzzParseToken(f *testing.F) {
	f.Add(jwt(`{"sub":"s","aud":"sigstore","exp":1900000000}`))
	f.Add(jwt(`{"aud":["sigstore"],"email":"a@b","exp":1e10}`))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := ParseToken(raw, now)
		if err == nil {
			if tok.Challenge() == "" || !tok.Expiry.After(now) {
				t.Errorf("accepted token with challenge %q expiry %s", tok.Challenge(), tok.Expiry)
			}
			return
		}
		if !errors.Is(err, ErrTokenMalformed) && !errors.Is(err, ErrTokenAudience) && !errors.Is(err, ErrTokenExpired) {
			t.Errorf("untyped error %v", err)
		}
	})
}
