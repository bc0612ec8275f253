package tlog

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// witnessVKey returns a fresh cosignature/v1 verifier key named name.
func witnessVKey(t testing.TB, name string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	cosig, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return cosig
}

func TestParseWitnessPolicy(t *testing.T) {
	k1, k2, k3 := witnessVKey(t, "w1.example"), witnessVKey(t, "w2.example"), witnessVKey(t, "w3.example")
	for _, tc := range []struct {
		name, text string
		want       []string // witnesses reached, in order
		unused     []string
	}{
		{"one witness as quorum", "witness a " + k1 + " https://a.example/w\nquorum a\n", []string{"a"}, nil},
		{"2 of 2", fmt.Sprintf("# both\nwitness a %s https://a.example\nwitness b %s http://127.0.0.1:7380\ngroup g all a b\nquorum g", k1, k2),
			[]string{"a", "b"}, nil},
		{"1 of 2, comments, a log line, CRLF", fmt.Sprintf("log x.example+1234abcd+AAAA\r\nwitness a %s https://a.example # first\r\nwitness b %s https://b.example\r\ngroup g any a b\r\nquorum g\r\n", k1, k2),
			[]string{"a", "b"}, nil},
		{"nested, N of M", fmt.Sprintf("witness a %s https://a.example\nwitness b %s https://b.example\nwitness c %s https://c.example\ngroup g1 1 a b\ngroup g2 2 g1 c\nquorum g2\n", k1, k2, k3),
			[]string{"a", "b", "c"}, nil},
		{"a witness outside the quorum", fmt.Sprintf("witness a %s https://a.example\nwitness b %s https://b.example\nquorum a\n", k1, k2),
			[]string{"a"}, []string{"b"}},
		{"quorum none", fmt.Sprintf("witness a %s https://a.example\nquorum none\n", k1), nil, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseWitnessPolicy([]byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range p.Witnesses {
				got = append(got, w.Name)
				if _, ok := p.Group.Endpoints()[w.URL]; !ok || !strings.HasSuffix(w.URL, "/add-checkpoint") {
					t.Errorf("witness %s: URL %s is not one Tessera posts to", w.Name, w.URL)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || fmt.Sprint(p.Unused) != fmt.Sprint(tc.unused) {
				t.Errorf("witnesses %v unused %v, want %v and %v", got, p.Unused, tc.want, tc.unused)
			}
		})
	}
}

// The meaning is Tessera's: a 2-of-3 group inside a policy is satisfied by
// two cosignatures, not by one.
func TestWitnessPolicyMeaning(t *testing.T) {
	k1, k2 := witnessVKey(t, "w1.example"), witnessVKey(t, "w2.example")
	p, err := ParseWitnessPolicy(fmt.Appendf(nil, "witness a %s https://a.example\nwitness b %s https://b.example\ngroup g all a b\nquorum g\n", k1, k2))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Group.N; got != 2 {
		t.Errorf("group all of 2 has threshold %d", got)
	}
	if !satisfiable(p.Group, func(string) bool { return true }) || satisfiable(p.Group, func(u string) bool { return u == p.Witnesses[0].URL }) {
		t.Error("a 2-of-2 policy is satisfiable by one witness, or not by both")
	}
}

// doubling is n groups g1..gn, each naming the one before twice over
// (through two groups of its own), from a witness a.
func doubling(n int) string {
	var b strings.Builder
	prev := "a"
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "group l%d all %s\ngroup r%d all %s\ngroup g%d all l%d r%d\n", i, prev, i, prev, i, i, i)
		prev = fmt.Sprintf("g%d", i)
	}
	return b.String()
}

func TestParseWitnessPolicyRefusals(t *testing.T) {
	k1, k2 := witnessVKey(t, "w1.example"), witnessVKey(t, "w2.example")
	_, plain, err := note.GenerateKey(rand.Reader, "plain.example")
	if err != nil {
		t.Fatal(err)
	}
	wa := "witness a " + k1 + " https://a.example"
	for _, tc := range []struct {
		name, text string
		line       int
		want       string
	}{
		{"empty", "", 0, "must define a quorum"},
		{"no quorum", wa + "\n", 0, "quorum NAME"},
		{"unknown keyword", wa + "\nwitnes b " + k2 + " https://b.example\nquorum a\n", 2, `unknown keyword: "witnes"`},
		{"witness without URL", "# c\n\nwitness a " + k1 + "\nquorum a\n", 3, "invalid witness definition"},
		{"bad vkey", "witness a w1.example+00000000+AAAA https://a.example\nquorum a\n", 1, "invalid witness config"},
		{"bad key algorithm", "witness a " + strings.Replace(plain, "+A", "+B", 1) + " https://a.example\nquorum a\n", 1, "witness"},
		{"duplicate name", wa + "\n" + wa + "\nquorum a\n", 2, "duplicate component name"},
		{"group threshold too high", wa + "\ngroup g 2 a\nquorum g\n", 2, "cannot have threshold 2"},
		{"group threshold not a number", wa + "\ngroup g two a\nquorum g\n", 2, "invalid threshold"},
		{"group of an unknown member", wa + "\ngroup g any a b\nquorum g\n", 2, `unknown component "b"`},
		{"keyword as a name", "witness quorum " + k1 + " https://a.example\nquorum quorum\n", 1, "invalid witness name"},
		{"unknown quorum", wa + "\nquorum b\n", 2, `quorum component "b" not found`},
		{"quorum with two names", wa + "\nquorum a a\n", 2, "invalid quorum definition"},
		{"relative URL", "witness a " + k1 + " a.example/w\nquorum a\n", 1, `URL "a.example/w": want an http:// or https:// URL`},
		{"ftp URL", "witness a " + k1 + " ftp://a.example\nquorum a\n", 1, "want an http:// or https:// URL"},
		{"URL with a password", "witness a " + k1 + " https://u:p@a.example\nquorum a\n", 1, "no user"},
		{"two witnesses, one URL", wa + "\nwitness b " + k2 + " https://a.example\ngroup g all a b\nquorum g\n", 2, "has the URL of witness a (line 1)"},
		{"two witnesses, one key", wa + "\nwitness b " + k1 + " https://b.example\ngroup g all a b\nquorum g\n", 2, "has the key of witness a (line 1)"},
		{"a member named twice", wa + "\ngroup g all a a\nquorum g\n", 2, "group g names a twice"},
		{"exponential groups", wa + "\n" + doubling(12) + "quorum g12\n", 1 + 3*9, "group g9 expands to more than 1024 witnesses and groups"},
		{"exponential empty groups", "group e 0\n" + strings.ReplaceAll(doubling(12), " a\n", " e\n") + "quorum g12\n", 1 + 3*9, "group g9 expands"},
		{"not UTF-8", wa + "\n# \xff\nquorum a\n", 2, "not valid UTF-8"},
		{"too large", strings.Repeat("#\n", MaxWitnessPolicyBytes), 0, "more than the 65536 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWitnessPolicy([]byte(tc.text))
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PolicyError", err)
			}
			if pe.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q (line %d), want line %d and %q", err, pe.Line, tc.line, tc.want)
			}
			if tc.line > 0 && !strings.HasPrefix(err.Error(), fmt.Sprintf("witness policy line %d: ", tc.line)) {
				t.Errorf("%q does not start with its line", err)
			}
		})
	}
}

// FuzzWitnessPolicy: no input panics; what is accepted Tessera accepts too,
// every witness reached is one Tessera contacts, and a refusal names a line
// of the input.
func FuzzWitnessPolicy(f *testing.F) {
	k1, k2 := witnessVKey(f, "w1.example"), witnessVKey(f, "w2.example")
	f.Add("witness a " + k1 + " https://a.example\nquorum a\n")
	f.Add(fmt.Sprintf("witness a %s https://a.example\nwitness b %s http://b.example:80/p\ngroup g 1 a b\ngroup h all g\nquorum h # x\n", k1, k2))
	f.Add("log l\nquorum none\n")
	f.Add("group g any\nquorum g")
	f.Add("witness a " + k1 + "\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParseWitnessPolicy([]byte(text))
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Line < 0 || pe.Line > strings.Count(text, "\n")+1 {
				t.Fatalf("refusal %v does not name a line of the input", err)
			}
			return
		}
		if _, err := tessera.NewWitnessGroupFromPolicy([]byte(text)); err != nil {
			t.Fatalf("accepted a policy Tessera refuses: %v", err)
		}
		eps := p.Group.Endpoints()
		if len(eps) != len(p.Witnesses) {
			t.Fatalf("Tessera contacts %d witnesses, the policy lists %d", len(eps), len(p.Witnesses))
		}
		for _, w := range p.Witnesses {
			if _, ok := eps[w.URL]; !ok {
				t.Fatalf("witness %s at %s is not one Tessera contacts", w.Name, w.URL)
			}
		}
	})
}
