package sign_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/sign"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// TestNewStatement: the statement names the artifact by SHA-256, reads
// back with verify.ParseStatement, and a predicate that is not a JSON
// object is refused.
func TestNewStatement(t *testing.T) {
	artifact := []byte("artifact")
	sub, err := sign.ArtifactSubject("a.bin", bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(artifact)
	if sub.Name != "a.bin" || sub.Digest["sha256"] != hex.EncodeToString(sum[:]) || len(sub.Digest) != 1 {
		t.Fatalf("subject %+v", sub)
	}
	raw, err := sign.NewStatement("https://example.com/p/v1", []byte(" {\"k\": [1, 2]}\n"), sub)
	if err != nil {
		t.Fatal(err)
	}
	st, err := verify.ParseStatement(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if st.Type != verify.StatementTypeV1 || st.PredicateType != "https://example.com/p/v1" || string(st.Predicate) != `{"k":[1,2]}` ||
		len(st.Subjects) != 1 || st.Subjects[0].Name != "a.bin" {
		t.Errorf("statement %s parsed as %+v", raw, st)
	}
	for name, tc := range map[string]struct {
		typ, predicate string
		subjects       []sign.Subject
		want           string
	}{
		"list predicate":    {"https://example.com/p/v1", "[1]", []sign.Subject{sub}, "not a JSON object"},
		"string predicate":  {"https://example.com/p/v1", `"x"`, []sign.Subject{sub}, "not a JSON object"},
		"invalid predicate": {"https://example.com/p/v1", "{", []sign.Subject{sub}, "not a JSON object"},
		"empty predicate":   {"https://example.com/p/v1", "", []sign.Subject{sub}, "not a JSON object"},
		"no type":           {"", "{}", []sign.Subject{sub}, "predicateType"},
		"no subject":        {"https://example.com/p/v1", "{}", nil, "no subject"},
		"bad digest":        {"https://example.com/p/v1", "{}", []sign.Subject{{Name: "x", Digest: map[string]string{"sha256": "ab"}}}, "hex digits"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := sign.NewStatement(tc.typ, []byte(tc.predicate), tc.subjects...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestAttestRefusesBeforeSending: an Ed25519 key or a statement verifiers
// would refuse is refused before any service is contacted (the log URL
// does not answer).
func TestAttestRefusesBeforeSending(t *testing.T) {
	s, err := sign.New(sign.Config{LogURLs: []string{"http://127.0.0.1:1"}, CAURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` +
		strings.Repeat("ab", 32) + `"}}],"predicateType":"t"}`)
	ctx := context.Background()
	if _, err := s.AttestWithKey(ctx, ed, good); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("Ed25519 key: %v", err)
	}
	edSigner, err := sign.New(sign.Config{LogURLs: []string{"http://127.0.0.1:1"}, CAURL: "http://127.0.0.1:1", KeyAlgorithm: sign.Ed25519})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edSigner.AttestKeyless(ctx, "token", good); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("keyless Ed25519: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestWithKey(ctx, key, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)); err == nil || !strings.Contains(err.Error(), "in-toto statement") {
		t.Errorf("bad statement: %v", err)
	}
}
