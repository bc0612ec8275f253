package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v4"
)

// MaxConfigBytes bounds a configuration file: settings for every flag fit
// in a few kilobytes.
const MaxConfigBytes = 1 << 20

// A ConfigFile is a command's flags written as a YAML file: one mapping
// whose keys are the flag set's flag names (without dashes) and whose
// values are what the flag would be given, so that every flag is a key
// and a new flag is one at once:
//
//	storage: postgres://mosaic@db/mosaic
//	search-index: false
//	oidc-issuer:            # a repeatable flag takes a list
//	  - https://token.actions.githubusercontent.com
//
// ParseConfig checks the file's shape against the flag set; Apply sets
// the flags. Errors name the file, the line and the key.
type ConfigFile struct {
	path     string
	settings []setting
}

// setting is one key of the file.
type setting struct {
	key    string
	line   int
	values []string // one, or a repeatable flag's list
}

// repeatable is implemented by flag values that take a list (Repeatable).
type repeatable interface{ repeatable() }

// Repeatable is a flag.Value whose every Set calls set, for a flag given
// several times (--oidc-issuer A --oidc-issuer B); in a ConfigFile its key
// takes a list.
type Repeatable func(string) error

func (r Repeatable) Set(s string) error { return r(s) }
func (r Repeatable) String() string     { return "" }
func (Repeatable) repeatable()          {}

// ParseConfig parses data, the file at path, against fs. It refuses what
// is not a mapping, a key that names no flag of fs (with the nearest
// flags) or one of except, a key given twice, a list for a flag that is
// not repeatable, and a value of the wrong type (a bool flag wants true
// or false, an integer flag an integer). Values are not yet given to the
// flags: Apply does that.
func ParseConfig(path string, data []byte, fs *flag.FlagSet, except ...string) (*ConfigFile, error) {
	c := &ConfigFile{path: path}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxConfigBytes)
	}
	dec, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc yaml.Node
	if err := dec.Load(&doc); errors.Is(err, io.EOF) {
		return c, nil // an empty file sets nothing
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Load(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: holds more than one YAML document (---); want one mapping of settings", path)
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return c, nil // only comments
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of settings, one per line (listen: 127.0.0.1:3000), not %s", path, top.Line, kindName(top))
	}
	names, excluded := flagNames(fs), map[string]bool{"help": true}
	for _, e := range except {
		excluded[e] = true
	}
	first := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], resolve(top.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return nil, fmt.Errorf("%s:%d: a key must be a flag name, not %s", path, k.Line, kindName(k))
		}
		f := fs.Lookup(k.Value)
		if f == nil || excluded[k.Value] {
			return nil, fmt.Errorf("%s:%d: %s", path, k.Line, unknownKey(k.Value, names, excluded))
		}
		if l, ok := first[k.Value]; ok {
			return nil, fmt.Errorf("%s:%d: %s is set twice (first on line %d)", path, k.Line, k.Value, l)
		}
		first[k.Value] = k.Line
		values, err := configValues(f, v)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", path, v.Line, k.Value, err)
		}
		c.settings = append(c.settings, setting{key: k.Value, line: v.Line, values: values})
	}
	return c, nil
}

// unknownKey says that key names no flag, with the nearest that do.
func unknownKey(key string, names []string, excluded map[string]bool) string {
	if excluded[key] {
		return fmt.Sprintf("%s cannot be set in a configuration file", key)
	}
	var known []string
	for _, n := range names {
		if !excluded[n] {
			known = append(known, n)
		}
	}
	s := fmt.Sprintf("unknown key %q", key)
	if near := Suggest(key, known); len(near) > 0 {
		s += "; did you mean " + orList("", near) + "?"
	}
	return s
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// configValues checks v against f's type and returns its values as the
// command line would spell them.
func configValues(f *flag.Flag, v *yaml.Node) ([]string, error) {
	if v.Kind == yaml.SequenceNode {
		if _, ok := f.Value.(repeatable); !ok {
			return nil, errors.New("want one value, not a list (only repeatable flags take a list)")
		}
		var out []string
		for _, e := range v.Content {
			e = resolve(e)
			if err := checkScalar(f, e); err != nil {
				return nil, err
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	if err := checkScalar(f, v); err != nil {
		return nil, err
	}
	return []string{v.Value}, nil
}

// checkScalar refuses a node that is not one value of f's type.
func checkScalar(f *flag.Flag, v *yaml.Node) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a value, not %s", kindName(v))
	}
	if v.Tag == "!!null" {
		return errors.New("no value (for an empty string write \"\")")
	}
	want, tag := expected(f)
	if tag != "" && v.Tag != tag {
		return fmt.Errorf("want %s, not %q", want, v.Value)
	}
	return nil
}

// expected describes the values f takes, and the YAML tag they must have
// ("" for any scalar: strings, durations and flags of their own type
// parse their text).
func expected(f *flag.Flag) (want, tag string) {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "true or false", "!!bool"
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "a value", ""
	}
	switch g.Get().(type) {
	case int, int64, uint, uint64:
		return "an integer", "!!int"
	case time.Duration:
		return "a duration such as 30s, 1m or 100ms", ""
	}
	return "a value", ""
}

// kindName names a node's kind for an error.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "that"
}

// Keys is the keys the file sets, in order.
func (c *ConfigFile) Keys() []string {
	keys := make([]string, len(c.settings))
	for i, s := range c.settings {
		keys[i] = s.key
	}
	return keys
}

// Apply sets each flag of fs the file names, except those skip reports
// (set on the command line or from the environment, which win). An
// invalid value is refused naming the file, line and key, and what the
// flag takes.
func (c *ConfigFile) Apply(fs *flag.FlagSet, skip func(name string) bool) error {
	for _, s := range c.settings {
		if skip != nil && skip(s.key) {
			continue
		}
		f := fs.Lookup(s.key)
		if f == nil {
			return fmt.Errorf("%s:%d: unknown key %q", c.path, s.line, s.key)
		}
		for _, v := range s.values {
			if err := fs.Set(s.key, v); err != nil {
				want, _ := expected(f)
				return fmt.Errorf("%s:%d: %s: invalid value %q (want %s): %v", c.path, s.line, s.key, v, want, err)
			}
		}
	}
	return nil
}
