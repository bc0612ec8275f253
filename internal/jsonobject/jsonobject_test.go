package jsonobject

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     map[string]string // nil: an error containing msg
		msg      string
	}{
		{"object", `{"a":"x","b":1}`, map[string]string{"a": `"x"`, "b": "1"}, ""},
		{"empty object", ` { } `, map[string]string{}, ""},
		{"null member kept", `{"a":null}`, map[string]string{"a": "null"}, ""},
		{"nested values raw", `{"a":{"b":[1, 2]}}`, map[string]string{"a": `{"b":[1, 2]}`}, ""},
		{"empty", ``, nil, "body is empty; want a JSON object"},
		{"white space", " \n", nil, "body is empty"},
		{"null", `null`, nil, "body must be a JSON object"},
		{"array", `[{"a":1}]`, nil, "body must be a JSON object"},
		{"string", `"a"`, nil, "body must be a JSON object"},
		{"not JSON", `a=b`, nil, "body is not valid JSON"},
		{"truncated", `{"a":`, nil, "not valid JSON"},
		{"unclosed", `{"a":1`, nil, "body is not valid JSON"},
		{"bad value", `{"a":tru}`, nil, "body.a is not valid JSON"},
		{"trailing comma", `{"a":1,}`, nil, "not valid JSON"},
		{"trailing data", `{"a":1} x`, nil, "body has data after the JSON object"},
		{"two objects", `{"a":1}{"a":2}`, nil, "body has data after the JSON object"},
		{"duplicate", `{"san":"a","san":"b"}`, nil, "body has field san twice"},
		{"duplicate null", `{"san":null,"san":"b"}`, nil, "body has field san twice"},
		{"duplicate escaped", `{"san":"a","s\u0061n":"b"}`, nil, "body has field san twice"},
		{"duplicate apart", `{"san":"a","b":1,"san":"a"}`, nil, "body has field san twice"},
		{"duplicate long name clipped", `{"` + strings.Repeat("n", 500) + `":1,"` + strings.Repeat("n", 500) + `":1}`, nil,
			"body has field " + strings.Repeat("n", 64) + "... twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Members([]byte(c.in), "body", nil)
			if c.want == nil {
				if err == nil || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("Members(%q) = %v, %v; want an error containing %q", c.in, got, err, c.msg)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("Members(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
			for k, v := range c.want {
				if string(got[k]) != v {
					t.Errorf("member %s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

// TestMembersRename: two spellings that rename to one name are one field.
func TestMembersRename(t *testing.T) {
	lower := strings.ToLower
	if _, err := Members([]byte(`{"San":"a","sAN":"b"}`), "body", lower); err == nil || !strings.Contains(err.Error(), "field san twice") {
		t.Errorf("two spellings of one name: %v, want field san twice", err)
	}
	m, err := Members([]byte(`{"San":"a"}`), "body", lower)
	if err != nil || string(m["san"]) != `"a"` {
		t.Errorf("renamed member: %v, %v", m, err)
	}
}

// FuzzMembers checks Members against encoding/json: whatever Members
// accepts is one valid JSON object with the same members, and a valid JSON
// object is refused only for a name given twice.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":"x","b":1}`, `{}`, `{"a":null}`, `{"a":1,"a":2}`, `{"a":{"a":1,"a":2}}`,
		`[1]`, `{"a":1} {}`, `{"\u0061":1,"a":2}`, ` {"a" : [ {"b":"c"} ] } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Members(data, "body", nil)
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal(data, &ref)
		isObject := refErr == nil && ref != nil
		if err != nil {
			if isObject && !strings.Contains(err.Error(), "twice") {
				t.Fatalf("Members refused the object %q: %v", data, err)
			}
			return
		}
		if !isObject {
			t.Fatalf("Members accepted %q, which encoding/json does not decode as an object: %v", data, refErr)
		}
		if len(got) != len(ref) {
			t.Fatalf("%q: %d members, encoding/json found %d names", data, len(got), len(ref))
		}
		for k, v := range ref {
			if !bytes.Equal(compact(t, got[k]), compact(t, v)) {
				t.Fatalf("%q: member %q is %s, encoding/json read %s", data, k, got[k], v)
			}
		}
	})
}

func compact(t *testing.T, v []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("compacting %q: %v", v, err)
	}
	return b.Bytes()
}
