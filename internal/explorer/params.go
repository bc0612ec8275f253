package explorer

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// paramError says which query parameter is wrong and how; its message is
// shown to the reader as it is (html/template escapes it).
type paramError struct {
	Param string
	Msg   string
}

func (e *paramError) Error() string { return fmt.Sprintf("%s: %s", e.Param, e.Msg) }

func paramErrorf(param, format string, args ...any) error {
	return &paramError{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// maxTextParam bounds a SAN or issuer (as the search API does).
const maxTextParam = 4096

// maxTokenParam bounds a page token.
const maxTokenParam = 512

// parseUint reads a log index or tree size: decimal digits, no sign, no
// leading zeros, within uint64.
func parseUint(param, s string) (uint64, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, paramErrorf(param, "missing; give a decimal number")
	case len(s) > 20:
		return 0, paramErrorf(param, "%q is too long for a log position (at most 20 digits)", clip(s))
	case strings.TrimLeft(s, "0123456789") != "":
		return 0, paramErrorf(param, "%q is not a decimal number", clip(s))
	case len(s) > 1 && s[0] == '0':
		return 0, paramErrorf(param, "%q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, paramErrorf(param, "%q is out of range", s)
	}
	return n, nil
}

// searchParams are a search as the form sends it; empty fields are unset.
type searchParams struct {
	Digest, Fingerprint, SAN, Issuer string
	Token                            string
}

// empty reports whether no criterion is set.
func (p searchParams) empty() bool {
	return p.Digest == "" && p.Fingerprint == "" && p.SAN == "" && p.Issuer == ""
}

// query is p as URL parameters (for links to the next page and to watch).
func (p searchParams) query() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"digest", p.Digest}, {"fingerprint", p.Fingerprint}, {"san", p.SAN}, {"issuer", p.Issuer}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	return v
}

// digestHexLen is the hex length of each digest algorithm hashedrekord allows.
var digestHexLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// parseSearch reads the search form. A digest or fingerprint without an
// algorithm prefix is taken as SHA-256; both come back as "<alg>:<hex>" in
// lower case.
func parseSearch(q url.Values) (searchParams, error) {
	var p searchParams
	get := func(name string) (string, error) {
		vs := q[name]
		if len(vs) > 1 {
			return "", paramErrorf(name, "given %d times; give it once", len(vs))
		}
		if len(vs) == 0 {
			return "", nil
		}
		return strings.TrimSpace(vs[0]), nil
	}
	var err error
	if p.Digest, err = get("digest"); err != nil {
		return p, err
	}
	if p.Digest, err = parseHash("digest", p.Digest, digestHexLen); err != nil {
		return p, err
	}
	if p.Fingerprint, err = get("fingerprint"); err != nil {
		return p, err
	}
	if p.Fingerprint, err = parseHash("fingerprint", p.Fingerprint, map[string]int{"sha256": 64}); err != nil {
		return p, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"san", &p.SAN}, {"issuer", &p.Issuer}} {
		if *f.dst, err = get(f.name); err != nil {
			return p, err
		}
		if err := checkText(f.name, *f.dst); err != nil {
			return p, err
		}
	}
	if p.Token, err = get("page"); err != nil {
		return p, err
	}
	if len(p.Token) > maxTokenParam || strings.TrimLeft(p.Token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=") != "" {
		return p, paramErrorf("page", "not a page token from a previous page; follow the page's own link")
	}
	return p, nil
}

// parseHash reads "<alg>:<hex>" (alg one of hexLen's) or bare hex of the
// first length SHA-256 has.
func parseHash(param, s string, hexLen map[string]int) (string, error) {
	if s == "" {
		return "", nil
	}
	s = strings.ToLower(s)
	alg, h, ok := strings.Cut(s, ":")
	if !ok {
		alg, h = "sha256", s
	}
	want, known := hexLen[alg]
	if !known {
		return "", paramErrorf(param, "unknown algorithm %q; use %s", clip(alg), algList(hexLen))
	}
	if strings.TrimLeft(h, "0123456789abcdef") != "" {
		return "", paramErrorf(param, "%q is not hexadecimal", clip(h))
	}
	if len(h) != want {
		return "", paramErrorf(param, "a %s value has %d hex digits, not %d", alg, want, len(h))
	}
	return alg + ":" + h, nil
}

func algList(hexLen map[string]int) string {
	var names []string
	for _, a := range []string{"sha256", "sha384", "sha512"} {
		if _, ok := hexLen[a]; ok {
			names = append(names, a)
		}
	}
	return strings.Join(names, ", ")
}

// checkText refuses a SAN or issuer that cannot be one: too long, not
// UTF-8, or with control characters.
func checkText(param, s string) error {
	switch {
	case len(s) > maxTextParam:
		return paramErrorf(param, "%d bytes is over the limit of %d", len(s), maxTextParam)
	case !utf8.ValidString(s):
		return paramErrorf(param, "not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return paramErrorf(param, "contains control characters")
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:n] + "…"
}
