package monitor

import (
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
)

const (
	hex64  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hex96  = hex64 + "0123456789abcdef0123456789abcdef"
	hex128 = hex64 + hex64
)

func TestParseWatchList(t *testing.T) {
	good := `
identities:
  - san: alice@example.com
    issuer: https://accounts.example.com
  - sanRegexp: '.*@example\.org'
    issuerRegexp: 'https://(a|b)\.example'
  - san: https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main
issuers: [https://token.actions.githubusercontent.com]
fingerprints: ["SHA256:` + strings.ToUpper(hex64) + `"]
digests: [sha256:` + hex64 + `, sha384:` + hex96 + `, sha512:` + hex128 + `]
`
	wl, err := ParseWatchList([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(wl.Identities) != 3 || len(wl.Issuers) != 1 || len(wl.Digests) != 3 {
		t.Errorf("parsed %+v", wl)
	}
	if wl.Fingerprints[0] != "sha256:"+hex64 {
		t.Errorf("fingerprint not normalised: %q", wl.Fingerprints[0])
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"only comments", "# nothing\n", "no documents"},
		{"no rules", "identities: []\n", "no rules"},
		{"unknown top-level key", "identity:\n  - san: a\n", "identity"},
		{"unknown identity key", "identities:\n  - san: a\n    subject: b\n", "subject"},
		{"duplicate key", "issuers: [a]\nissuers: [b]\n", "issuers"},
		{"not a mapping", "- san: a\n", "cannot"},
		{"wrong type", "issuers: {a: b}\n", "cannot"},
		{"two documents", "issuers: [a]\n---\nissuers: [b]\n", "document"},
		{"identity without san", "identities:\n  - issuer: https://i\n", "exactly one of san and sanRegexp"},
		{"san and sanRegexp", "identities:\n  - san: a\n    sanRegexp: b\n", "exactly one of san and sanRegexp"},
		{"issuer and issuerRegexp", "identities:\n  - san: a\n    issuer: x\n    issuerRegexp: y\n", "at most one of issuer"},
		{"bad regexp", "identities:\n  - sanRegexp: '(a'\n", "identities[0]: sanRegexp"},
		{"bad issuer regexp", "identities:\n  - san: a\n  - san: b\n    issuerRegexp: '[z-a]'\n", "identities[1]: issuerRegexp"},
		{"huge regexp", "identities:\n  - sanRegexp: '" + strings.Repeat("a", 2000) + "'\n", "longer than"},
		{"empty issuer", "issuers: ['']\n", "issuers[0] is empty"},
		{"fingerprint without algorithm", "fingerprints: [" + hex64 + "]\n", "fingerprints[0]"},
		{"fingerprint sha512", "fingerprints: [sha512:" + hex128 + "]\n", "unsupported algorithm"},
		{"short fingerprint", "fingerprints: [sha256:abcd]\n", "64 hex digits"},
		{"non-hex digest", "digests: [sha256:" + strings.Repeat("g", 64) + "]\n", "digests[0]"},
		{"digest md5", "digests: ['md5:" + hex64[:32] + "']\n", "unsupported algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWatchList([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWatchListMatch(t *testing.T) {
	wl := mustWatch(t, `
identities:
  - san: alice@example.com
    issuer: https://a.example
  - sanRegexp: '.*@example\.org'
  - sanRegexp: 'repo'   # anchored: matches only "repo"
issuers: [https://b.example]
fingerprints: [sha256:`+hex64+`]
digests: [sha256:`+hex64+`]
`)
	for _, tc := range []struct {
		name  string
		facts entry.Facts
		want  []Match
	}{
		{"nothing", entry.Facts{Digest: "sha256:00"}, nil},
		{"identity", entry.Facts{SANs: []string{"alice@example.com"}, Issuer: "https://a.example"},
			[]Match{{"identities[0]", "alice@example.com"}}},
		{"identity, other issuer", entry.Facts{SANs: []string{"alice@example.com"}, Issuer: "https://b.example"},
			[]Match{{"issuers[0]", "alice@example.com"}}},
		{"regexp, second SAN", entry.Facts{SANs: []string{"x@example.com", "bob@example.org"}},
			[]Match{{"identities[1]", "bob@example.org"}}},
		{"regexp suffix only", entry.Facts{SANs: []string{"bob@example.org.evil"}}, nil},
		{"anchored regexp", entry.Facts{SANs: []string{"my-repo"}}, nil},
		{"key fingerprint", entry.Facts{KeyFingerprint: "sha256:" + hex64}, []Match{{"fingerprints[0]", ""}}},
		{"certificate fingerprint", entry.Facts{CertFingerprint: "sha256:" + hex64}, []Match{{"fingerprints[0]", ""}}},
		{"digest and SAN", entry.Facts{Digest: "sha256:" + hex64, SANs: []string{"bob@example.org"}},
			[]Match{{"identities[1]", "bob@example.org"}, {"digests[0]", "bob@example.org"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wl.Match(&tc.facts)
			if len(got) != len(tc.want) {
				t.Fatalf("matches %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("match %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func FuzzParseWatchList(f *testing.F) {
	for _, s := range []string{
		"identities:\n  - san: a\n    issuer: b\n",
		"identities:\n  - sanRegexp: '.*'\n    issuerRegexp: 'x|y'\n",
		"issuers: [a, b]\nfingerprints: [sha256:" + hex64 + "]\ndigests: [sha512:" + hex128 + "]\n",
		"a: &a [*a, *a]\n",
		"{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wl, err := ParseWatchList(data)
		if err != nil {
			if wl != nil {
				t.Fatal("a watch list and an error")
			}
			return
		}
		// A parsed list matches without panicking, and its hashes are
		// normalised.
		wl.Match(&entry.Facts{SANs: []string{"a", "b@c"}, Issuer: "b", Digest: "sha256:" + hex64})
		for _, fp := range wl.Fingerprints {
			if _, err := checkHash(fp, map[string]int{"sha256": 64}); err != nil || fp != strings.ToLower(fp) {
				t.Fatalf("fingerprint %q kept un-normalised", fp)
			}
		}
	})
}
