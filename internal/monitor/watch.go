package monitor

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/mosaiclog/mosaic/internal/entry"
)

// WatchList says which entries to report. It is read from YAML:
//
//	identities:                      # a SAN, and optionally its OIDC issuer
//	  - san: alice@example.com
//	    issuer: https://accounts.google.com
//	  - sanRegexp: '.*@example\.com'  # whole-string (anchored) RE2
//	    issuerRegexp: 'https://token\.actions\.githubusercontent\.com'
//	issuers:                         # any certificate from these issuers
//	  - https://accounts.example.com
//	fingerprints:                    # key or certificate: sha256 of the DER
//	  - sha256:0123...
//	digests:                         # artifact digests
//	  - sha256:abcd...
//
// Unknown or duplicate keys are errors.
type WatchList struct {
	Identities   []Identity `yaml:"identities"`
	Issuers      []string   `yaml:"issuers"`
	Fingerprints []string   `yaml:"fingerprints"`
	Digests      []string   `yaml:"digests"`
}

// Identity matches certificates by subject alternative name and, when an
// issuer is given, OIDC issuer. Exactly one of SAN and SANRegexp is set,
// at most one of Issuer and IssuerRegexp. Regular expressions must match
// the whole value.
type Identity struct {
	SAN          string `yaml:"san"`
	SANRegexp    string `yaml:"sanRegexp"`
	Issuer       string `yaml:"issuer"`
	IssuerRegexp string `yaml:"issuerRegexp"`

	san, issuer *regexp.Regexp // compiled by ParseWatchList
}

// Match is one watch-list rule an entry matched.
type Match struct {
	// Rule names the rule by its place in the list, e.g. "identities[0]".
	Rule string
	// SAN is the subject alternative name an identity rule matched, or
	// the certificate's first SAN for other rules ("" if none).
	SAN string
}

const (
	maxRegexpLen      = 1024
	maxWatchListBytes = 1 << 20
)

// LoadWatchList reads and parses a watch-list file.
func LoadWatchList(path string) (*WatchList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading watch list: %w", err)
	}
	wl, err := ParseWatchList(data)
	if err != nil {
		return nil, fmt.Errorf("watch list %s: %w", path, err)
	}
	return wl, nil
}

// ParseWatchList parses and checks a YAML watch list. Fingerprints and
// digests are normalised to lower case.
func ParseWatchList(data []byte) (*WatchList, error) {
	if strings.TrimSpace(string(data)) == "" {
		return nil, errors.New("the watch list is empty")
	}
	if len(data) > maxWatchListBytes {
		return nil, fmt.Errorf("the watch list is %d bytes; the limit is %d", len(data), maxWatchListBytes)
	}
	var wl WatchList
	if err := yaml.Load(data, &wl, yaml.WithKnownFields(), yaml.WithUniqueKeys()); err != nil {
		// The YAML package lists every error; the first few say enough.
		return nil, fmt.Errorf("parsing watch list YAML: %s", clipN(err.Error(), 500))
	}
	if len(wl.Identities)+len(wl.Issuers)+len(wl.Fingerprints)+len(wl.Digests) == 0 {
		return nil, errors.New("the watch list has no rules (want identities, issuers, fingerprints or digests)")
	}
	for i := range wl.Identities {
		if err := wl.Identities[i].compile(); err != nil {
			return nil, fmt.Errorf("identities[%d]: %w", i, err)
		}
	}
	for i, is := range wl.Issuers {
		if strings.TrimSpace(is) == "" {
			return nil, fmt.Errorf("issuers[%d] is empty", i)
		}
	}
	for i, fp := range wl.Fingerprints {
		norm, err := checkHash(fp, map[string]int{"sha256": 64})
		if err != nil {
			return nil, fmt.Errorf("fingerprints[%d]: %w", i, err)
		}
		wl.Fingerprints[i] = norm
	}
	for i, d := range wl.Digests {
		norm, err := checkHash(d, map[string]int{"sha256": 64, "sha384": 96, "sha512": 128})
		if err != nil {
			return nil, fmt.Errorf("digests[%d]: %w", i, err)
		}
		wl.Digests[i] = norm
	}
	return &wl, nil
}

func (id *Identity) compile() error {
	switch {
	case (id.SAN == "") == (id.SANRegexp == ""):
		return errors.New("give exactly one of san and sanRegexp")
	case id.Issuer != "" && id.IssuerRegexp != "":
		return errors.New("give at most one of issuer and issuerRegexp")
	}
	var err error
	if id.SANRegexp != "" {
		if id.san, err = anchored(id.SANRegexp); err != nil {
			return fmt.Errorf("sanRegexp: %w", err)
		}
	}
	if id.IssuerRegexp != "" {
		if id.issuer, err = anchored(id.IssuerRegexp); err != nil {
			return fmt.Errorf("issuerRegexp: %w", err)
		}
	}
	return nil
}

// anchored compiles expr to match whole strings only.
func anchored(expr string) (*regexp.Regexp, error) {
	if len(expr) > maxRegexpLen {
		return nil, fmt.Errorf("longer than %d bytes", maxRegexpLen)
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// checkHash checks "<alg>:<hex>" for an algorithm in lens (hex length).
func checkHash(s string, lens map[string]int) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	alg, hexPart, ok := strings.Cut(s, ":")
	n, known := lens[alg]
	switch {
	case !ok:
		return "", fmt.Errorf("%q: want <algorithm>:<hex>, e.g. sha256:0123...", clip(s))
	case !known:
		return "", fmt.Errorf("%q: unsupported algorithm %q", clip(s), clip(alg))
	case len(hexPart) != n || strings.Trim(hexPart, "0123456789abcdef") != "":
		return "", fmt.Errorf("%q: want %d hex digits after %s:", clip(s), n, alg)
	}
	return s, nil
}

func clip(s string) string { return clipN(s, 80) }

func clipN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Match returns the rules f matches, in list order.
func (wl *WatchList) Match(f *entry.Facts) []Match {
	if wl == nil || f == nil {
		return nil
	}
	first := ""
	if len(f.SANs) > 0 {
		first = f.SANs[0]
	}
	var out []Match
	for i := range wl.Identities {
		if san, ok := wl.Identities[i].match(f); ok {
			out = append(out, Match{Rule: fmt.Sprintf("identities[%d]", i), SAN: san})
		}
	}
	for i, is := range wl.Issuers {
		if f.Issuer != "" && f.Issuer == is {
			out = append(out, Match{Rule: fmt.Sprintf("issuers[%d]", i), SAN: first})
		}
	}
	for i, fp := range wl.Fingerprints {
		if fp == f.KeyFingerprint || fp == f.CertFingerprint {
			out = append(out, Match{Rule: fmt.Sprintf("fingerprints[%d]", i), SAN: first})
		}
	}
	for i, d := range wl.Digests {
		if d == f.Digest {
			out = append(out, Match{Rule: fmt.Sprintf("digests[%d]", i), SAN: first})
		}
	}
	return out
}

// match reports the first SAN of f the identity matches, with its issuer.
func (id *Identity) match(f *entry.Facts) (string, bool) {
	switch {
	case id.Issuer != "" && f.Issuer != id.Issuer:
		return "", false
	case id.issuer != nil && !id.issuer.MatchString(f.Issuer):
		return "", false
	}
	for _, san := range f.SANs {
		if (id.san == nil && san == id.SAN) || (id.san != nil && id.san.MatchString(san)) {
			return san, true
		}
	}
	return "", false
}
