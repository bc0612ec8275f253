package verify

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// The in-toto Statement types ParseStatement accepts, and the DSSE payload
// type that carries a Statement.
const (
	StatementTypeV01  = "https://in-toto.io/Statement/v0.1"
	StatementTypeV1   = "https://in-toto.io/Statement/v1"
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// Statement is an in-toto attestation Statement: what a DSSE attestation
// says about its subjects.
type Statement struct {
	// Type is StatementTypeV01 or StatementTypeV1.
	Type string
	// Subjects are the artifacts the statement is about, at least one.
	Subjects []Subject
	// PredicateType is the URI (or, from older tools, the name) of the
	// predicate's schema.
	PredicateType string
	// Predicate is the predicate's JSON object, nil when the statement
	// has none.
	Predicate json.RawMessage
}

// Subject is one artifact a Statement is about.
type Subject struct {
	// Name is the artifact's name (a file name for blobs); may be empty in
	// a v1 statement.
	Name string
	// Digest maps a digest algorithm ("sha256", "sha512", ...) to the
	// artifact's digest under it; hex for the SHA-2 algorithms.
	Digest map[string]string
}

// shaDigests are the digest algorithms whose values ParseStatement checks
// (lower-case hex of the right length) and that artifacts are matched on.
var shaDigests = map[string]crypto.Hash{"sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}

// ParseStatement decodes an in-toto Statement strictly: one JSON object
// with no duplicate keys at any depth (a parser differential could make two
// readers see different subjects), _type v0.1 or v1, at least one subject
// each with a digest (SHA-2 digests in lower-case hex of their length; a
// v0.1 subject also with a name), a non-empty predicateType, and a
// predicate that is an object when present. Unknown fields are ignored, as
// the in-toto specification requires. Its errors have Check CheckStatement.
func ParseStatement(data []byte) (*Statement, error) {
	st, err := parseStatement(data)
	if err != nil {
		return nil, &Error{Check: CheckStatement, Err: err}
	}
	return st, nil
}

func parseStatement(data []byte) (*Statement, error) {
	if err := checkJSONObject(data); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	// Fields are read by their exact names: encoding/json's
	// case-insensitive matching would read "Subject" as "subject".
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	st := &Statement{}
	if err := stringField(top, "_type", &st.Type); err != nil {
		return nil, err
	}
	if st.Type != StatementTypeV01 && st.Type != StatementTypeV1 {
		return nil, fmt.Errorf("_type %q is not an in-toto statement type (want %q or %q)", st.Type, StatementTypeV1, StatementTypeV01)
	}
	if err := stringField(top, "predicateType", &st.PredicateType); err != nil {
		return nil, err
	}
	var subjects []map[string]json.RawMessage
	if raw, ok := top["subject"]; !ok || json.Unmarshal(raw, &subjects) != nil || len(subjects) == 0 {
		return nil, errors.New("the statement has no subject (want a non-empty list of objects)")
	}
	for i, s := range subjects {
		sub, err := parseSubject(s, st.Type == StatementTypeV01)
		if err != nil {
			return nil, fmt.Errorf("subject[%d]: %w", i, err)
		}
		st.Subjects = append(st.Subjects, sub)
	}
	if p, ok := top["predicate"]; ok {
		if p[0] != '{' {
			return nil, fmt.Errorf("the predicate is %s, not a JSON object", jsonKind(p))
		}
		st.Predicate = p
	}
	return st, nil
}

// stringField reads the non-empty string member key of obj into v.
func stringField(obj map[string]json.RawMessage, key string, v *string) error {
	raw, ok := obj[key]
	if !ok {
		return fmt.Errorf("no %s", key)
	}
	if err := json.Unmarshal(raw, v); err != nil || *v == "" {
		return fmt.Errorf("%s is %s, want a non-empty string", key, abbreviate(raw))
	}
	return nil
}

// abbreviate quotes a JSON value for a message, cut to a readable length.
func abbreviate(raw json.RawMessage) string {
	const max = 80
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}

func parseSubject(obj map[string]json.RawMessage, v01 bool) (Subject, error) {
	var sub Subject
	if _, ok := obj["name"]; ok {
		if err := stringField(obj, "name", &sub.Name); err != nil && (v01 || string(obj["name"]) != `""`) {
			return Subject{}, err
		}
	} else if v01 {
		return Subject{}, errors.New("no name (a v0.1 statement's subjects need one)")
	}
	raw, ok := obj["digest"]
	if !ok {
		return Subject{}, errors.New("no digest")
	}
	if err := json.Unmarshal(raw, &sub.Digest); err != nil || len(sub.Digest) == 0 {
		return Subject{}, fmt.Errorf("digest is %s, want a non-empty object of strings", abbreviate(raw))
	}
	for alg, v := range sub.Digest {
		h, sha := shaDigests[alg]
		switch {
		case alg == "" || v == "":
			return Subject{}, fmt.Errorf("digest has an empty algorithm or value (%q: %q)", alg, v)
		case !sha:
			continue
		case len(v) != 2*h.Size() || strings.ToLower(v) != v:
			return Subject{}, fmt.Errorf("digest %s is %q, want %d lower-case hex digits", alg, v, 2*h.Size())
		}
		if _, err := hex.DecodeString(v); err != nil {
			return Subject{}, fmt.Errorf("digest %s is %q, not hex", alg, v)
		}
	}
	return sub, nil
}

// jsonKind names the kind of a JSON value for messages.
func jsonKind(v json.RawMessage) string {
	switch v[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// checkJSONObject requires data to be exactly one JSON object, with no
// duplicate key in any object within it.
func checkJSONObject(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := checkObject(dec, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// checkObject reads an object's members after its '{' and checks that no
// key repeats, recursing into values; path names the object in errors.
func checkObject(dec *json.Decoder, path string) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("duplicate key %q in %s", key, objectName(path))
		}
		seen[key] = true
		if err := checkValue(dec, path+"."+key); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

func checkValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, path)
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return fmt.Errorf("invalid JSON: %w", err)
		}
	}
	return nil
}

func objectName(path string) string {
	if path == "" {
		return "the statement"
	}
	return strings.TrimPrefix(path, ".")
}

// matchSubject finds the subject that is the artifact: every SHA-2 digest
// the subject lists that the artifact can be checked against must match,
// and there must be at least one; when name is set the subject must also
// carry that name. It returns the subject and the artifact's digest under
// the strongest algorithm compared.
func matchSubject(st *Statement, a Artifact, name string) (*Subject, crypto.Hash, []byte, error) {
	if !a.set {
		return nil, 0, nil, errors.New("no artifact given (want its bytes or its digest)")
	}
	var misses []string
	for i := range st.Subjects {
		s := &st.Subjects[i]
		h, d, why := subjectDigest(s, a)
		if why != "" {
			misses = append(misses, fmt.Sprintf("%s (%s)", subjectLabel(s), why))
			continue
		}
		if name != "" && s.Name != name {
			misses = append(misses, fmt.Sprintf("%s (the digest matches but the name is not %q)", subjectLabel(s), name))
			continue
		}
		return s, h, d, nil
	}
	return nil, 0, nil, fmt.Errorf("the artifact is none of the statement's %d subject(s): %s", len(st.Subjects), strings.Join(misses, "; "))
}

// subjectDigest compares s with a under every SHA-2 algorithm both have;
// it returns the strongest compared digest, or why s is not a.
func subjectDigest(s *Subject, a Artifact) (crypto.Hash, []byte, string) {
	algs := make([]string, 0, len(s.Digest))
	for alg := range s.Digest {
		if _, ok := shaDigests[alg]; ok {
			algs = append(algs, alg)
		}
	}
	if len(algs) == 0 {
		return 0, nil, "it lists no sha256, sha384 or sha512 digest"
	}
	sort.Slice(algs, func(i, j int) bool { return shaDigests[algs[i]] < shaDigests[algs[j]] })
	var best crypto.Hash
	var bestDigest []byte
	for _, alg := range algs {
		h := shaDigests[alg]
		if a.data == nil && a.hash != h {
			continue
		}
		d, err := a.digestFor(h)
		if err != nil {
			return 0, nil, err.Error()
		}
		if want, _ := hex.DecodeString(s.Digest[alg]); !bytes.Equal(d, want) {
			return 0, nil, fmt.Sprintf("its %s is %s, the artifact's %x", alg, s.Digest[alg], d)
		}
		best, bestDigest = h, d
	}
	if best == 0 {
		return 0, nil, fmt.Sprintf("it lists %s, but the artifact is given by its %v digest", strings.Join(algs, ", "), a.hash)
	}
	return best, bestDigest, ""
}

func subjectLabel(s *Subject) string {
	algs := make([]string, 0, len(s.Digest))
	for alg := range s.Digest {
		algs = append(algs, alg)
	}
	slices.Sort(algs)
	if s.Name == "" {
		return "unnamed subject with " + strings.Join(algs, ", ")
	}
	return fmt.Sprintf("%q", s.Name)
}
