package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzParseSearchRequest checks parseSearchRequest alone: it never panics,
// its refusals are short messages, and what it accepts is a JSON object of
// known fields, each once, that reads back to the same query when encoded
// again.
func FuzzParseSearchRequest(f *testing.F) {
	for _, s := range []string{
		`{"san":"a@example.com","oidcIssuer":"https://issuer","pageSize":10,"pageToken":"AQAAAAAAAAABAAAAAAAAAAAA"}`,
		`{"digest":"sha256:` + strings.Repeat("ab", 32) + `"}`,
		`{"publicKeyFingerprint":null,"pageSize":null}`,
		`{"san":"a","san":"b"}`, `{"san":"a","s\u0061n":"b"}`, `{"Digest":"x"}`, `{"pageSize":1e3}`,
		`[]`, `null`, `{} {}`, ``, `{"san":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := parseSearchRequest(body)
		if err != nil {
			if msg := err.Error(); msg == "" || len(msg) > 300 {
				t.Fatalf("refusal of %q: a message of %d bytes", body, len(msg))
			}
			return
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
			t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
		}
		for name := range fields {
			if !slices.Contains(searchFields, name) {
				t.Fatalf("accepted %q with the unknown field %q", body, name)
			}
		}
		again, err := json.Marshal(map[string]any{"digest": q.Digest, "publicKeyFingerprint": q.PublicKeyFingerprint,
			"san": q.SAN, "oidcIssuer": q.OIDCIssuer, "pageSize": q.PageSize, "pageToken": q.PageToken})
		if err != nil {
			t.Fatal(err)
		}
		q2, err := parseSearchRequest(again)
		if err != nil || q2 != q {
			t.Fatalf("%q read as %+v; encoded again as %s it reads as %+v, %v", body, q, again, q2, err)
		}
	})
}
