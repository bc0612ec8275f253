// Package jsonobject reads a request body that must be one JSON object into
// its members, refusing a member name given twice, as protojson (and so
// Mosaic's write path) refuses it. encoding/json keeps the last of two
// equal names silently, so that a body could mean one thing to Mosaic and
// another to a proxy or a logger that keeps the first; handlers that
// decode JSON by hand use Members instead.
package jsonobject

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Members decodes data, which must be exactly one JSON object and nothing
// after it, into its members' raw values (null included, as the JSON
// null). rename, when not nil, maps each name before it is recorded, so
// that two spellings of one field count as one name. what names data in
// errors ("request body"). The errors are meant for the client: they say
// what is wrong and name a member given twice ("request body has field
// san twice").
func Members(data []byte, what string, rename func(string) string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is empty; want a JSON object", what)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s must be a JSON object", what)
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s is not valid JSON: %w", what, err)
		}
		name := tok.(string) // object keys are always strings
		if rename != nil {
			name = rename(name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s.%s is not valid JSON: %w", what, clip(name), err)
		}
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("%s has field %s twice", what, clip(name))
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%s is not valid JSON: %w", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s has data after the JSON object", what)
	}
	return members, nil
}

// clip shortens a member name for an error message: names come from the
// client and may be long.
func clip(name string) string {
	const n = 64
	if len(name) > n {
		return name[:n] + "..."
	}
	return name
}
