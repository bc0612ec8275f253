package verify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/verify"
)

const (
	hexA = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	// cosignStatement is the shape of what cosign v3.1.3 attest-blob signs
	// (protojson, in-toto v0.1, custom predicate).
	cosignStatement = `{"_type":"https://in-toto.io/Statement/v0.1", "predicateType":"https://cosign.sigstore.dev/attestation/v1", ` +
		`"subject":[{"name":"release.tar.gz", "digest":{"sha256":"` + hexA + `"}}], ` +
		`"predicate":{"Data":"hello", "Timestamp":"2026-01-02T03:04:05Z"}}`
	v1Statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + hexA + `","gitCommit":"abc"}},` +
		`{"digest":{"sha512":"` + hexA + hexA + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{}}}`
)

func TestParseStatement(t *testing.T) {
	st, err := verify.ParseStatement([]byte(cosignStatement))
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != verify.StatementTypeV01 || st.PredicateType != "https://cosign.sigstore.dev/attestation/v1" ||
		len(st.Subjects) != 1 || st.Subjects[0].Name != "release.tar.gz" || st.Subjects[0].Digest["sha256"] != hexA ||
		!json.Valid(st.Predicate) || !strings.Contains(string(st.Predicate), `"Data"`) {
		t.Errorf("cosign statement parsed as %+v", st)
	}
	st, err = verify.ParseStatement([]byte(v1Statement))
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != verify.StatementTypeV1 || len(st.Subjects) != 2 || st.Subjects[1].Name != "" || st.Subjects[0].Digest["gitCommit"] != "abc" {
		t.Errorf("v1 statement parsed as %+v", st)
	}
	noPredicate := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexA + `"}}],"predicateType":"x","extra":[1]}`
	if st, err := verify.ParseStatement([]byte(noPredicate)); err != nil || st.Predicate != nil {
		t.Errorf("statement without predicate: %+v, %v", st, err)
	}
}

// TestParseStatementErrors: every bad statement is refused with a typed
// error naming what is wrong.
func TestParseStatementErrors(t *testing.T) {
	good := map[string]any{}
	if err := json.Unmarshal([]byte(cosignStatement), &good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(cosignStatement), &m)
		f(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	subject := func(m map[string]any) map[string]any { return m["subject"].([]any)[0].(map[string]any) }
	digest := func(m map[string]any) map[string]any { return subject(m)["digest"].(map[string]any) }
	tests := []struct{ name, in, want string }{
		{"empty", "", "invalid JSON"},
		{"not JSON", "statement", "invalid JSON"},
		{"a list", "[]", "not a JSON object"},
		{"null", "null", "not a JSON object"},
		{"truncated", cosignStatement[:len(cosignStatement)/2], "invalid JSON"},
		{"trailing data", cosignStatement + "{}", "data after"},
		{"duplicate _type", `{"_type":"https://in-toto.io/Statement/v1","_type":"x"}`, `duplicate key "_type"`},
		{"duplicate subject", strings.Replace(cosignStatement, `"subject":`, `"subject":[],"subject":`, 1), `duplicate key "subject"`},
		{"duplicate digest algorithm", strings.Replace(cosignStatement, `{"sha256":`, `{"sha256":"00","sha256":`, 1), `duplicate key "sha256" in subject[0].digest`},
		{"no _type", edit(func(m map[string]any) { delete(m, "_type") }), "no _type"},
		{"_type case-folded", strings.Replace(cosignStatement, `"_type"`, `"_TYPE"`, 1), "no _type"},
		{"unknown _type", edit(func(m map[string]any) { m["_type"] = "https://in-toto.io/Statement/v2" }), "not an in-toto statement type"},
		{"_type not a string", edit(func(m map[string]any) { m["_type"] = 1 }), "_type is 1"},
		{"no subject", edit(func(m map[string]any) { delete(m, "subject") }), "no subject"},
		{"Subject case-folded", strings.Replace(cosignStatement, `"subject"`, `"Subject"`, 1), "no subject"},
		{"empty subject list", edit(func(m map[string]any) { m["subject"] = []any{} }), "no subject"},
		{"subject not a list", edit(func(m map[string]any) { m["subject"] = map[string]any{} }), "no subject"},
		{"subject of strings", edit(func(m map[string]any) { m["subject"] = []any{"a"} }), "no subject"},
		{"v0.1 subject without name", edit(func(m map[string]any) { delete(subject(m), "name") }), "subject[0]: no name"},
		{"v0.1 subject with empty name", edit(func(m map[string]any) { subject(m)["name"] = "" }), "subject[0]: name"},
		{"name not a string", edit(func(m map[string]any) { subject(m)["name"] = 7 }), "subject[0]: name is 7"},
		{"no digest", edit(func(m map[string]any) { delete(subject(m), "digest") }), "subject[0]: no digest"},
		{"empty digest", edit(func(m map[string]any) { subject(m)["digest"] = map[string]any{} }), "subject[0]: digest is {}"},
		{"digest of numbers", edit(func(m map[string]any) { digest(m)["sha256"] = 1 }), "want a non-empty object of strings"},
		{"short sha256", edit(func(m map[string]any) { digest(m)["sha256"] = hexA[:62] }), "want 64 lower-case hex digits"},
		{"upper-case sha256", edit(func(m map[string]any) { digest(m)["sha256"] = strings.ToUpper(hexA) }), "lower-case hex"},
		{"sha256 not hex", edit(func(m map[string]any) { digest(m)["sha256"] = strings.Repeat("g", 64) }), "not hex"},
		{"sha512 of sha256 length", edit(func(m map[string]any) { digest(m)["sha512"] = hexA }), "want 128"},
		{"empty digest value", edit(func(m map[string]any) { digest(m)["gitCommit"] = "" }), "empty algorithm or value"},
		{"no predicateType", edit(func(m map[string]any) { delete(m, "predicateType") }), "no predicateType"},
		{"empty predicateType", edit(func(m map[string]any) { m["predicateType"] = "" }), "predicateType is \"\""},
		{"predicate a string", edit(func(m map[string]any) { m["predicate"] = "legacy" }), "the predicate is a string"},
		{"predicate null", edit(func(m map[string]any) { m["predicate"] = nil }), "the predicate is null"},
		{"predicate a list", edit(func(m map[string]any) { m["predicate"] = []any{} }), "the predicate is a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := verify.ParseStatement([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed %+v", st)
			}
			wantCheck(t, err, verify.CheckStatement)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// FuzzStatement parses arbitrary statements: nothing may panic, every
// error is typed, and what parses has what verification relies on.
func FuzzStatement(f *testing.F) {
	for _, s := range []string{cosignStatement, v1Statement, "{}", `{"a":{"a":1,"b":[{"c":2}]}}`, `{"_type":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := verify.ParseStatement(data)
		checkTyped(t, err)
		if err != nil {
			return
		}
		if len(st.Subjects) == 0 || st.PredicateType == "" || (st.Type != verify.StatementTypeV1 && st.Type != verify.StatementTypeV01) {
			t.Fatalf("parsed an incomplete statement %+v", st)
		}
		for _, s := range st.Subjects {
			if len(s.Digest) == 0 {
				t.Fatalf("subject without digest %+v", s)
			}
		}
		if st.Predicate != nil && (!json.Valid(st.Predicate) || st.Predicate[0] != '{') {
			t.Fatalf("predicate %q is not an object", st.Predicate)
		}
	})
}
