package verify_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/verify"
	"github.com/transparency-dev/tessera"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// policyWitness is a witness with a key for tests: its cosignature/v1
// signer and verifier key.
type policyWitness struct {
	signer sumdbnote.Signer
	vkey   string
}

// policyFixture is a log checkpoint and witnesses that can cosign it.
type policyFixture struct {
	logSigner sumdbnote.Signer
	body      string
	w         map[string]policyWitness
}

func newPolicyFixture(t testing.TB, names ...string) *policyFixture {
	t.Helper()
	skey, _, err := sumdbnote.GenerateKey(rand.Reader, "log.example")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := sumdbnote.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &policyFixture{logSigner: ls, body: "log.example\n5\nKgQ2+1NJx+6kmoQI8nE6Eu+6vl9lDnkHdxAdI1dB4lw=\n", w: map[string]policyWitness{}}
	for _, n := range names {
		s, vkey := newWitness(t, "witness.example/"+n)
		f.w[n] = policyWitness{s, vkey}
	}
	return f
}

// cosigned returns the checkpoint signed by the log and cosigned by the
// named witnesses; a name prefixed with "!" adds that witness's
// cosignature of another checkpoint (a signature that does not verify).
func (f *policyFixture) cosigned(t testing.TB, names ...string) []byte {
	t.Helper()
	signers := []sumdbnote.Signer{f.logSigner}
	var bad []string
	for _, n := range names {
		if strings.HasPrefix(n, "!") {
			other, err := sumdbnote.Sign(&sumdbnote.Note{Text: strings.Replace(f.body, "\n5\n", "\n6\n", 1)}, f.w[n[1:]].signer)
			if err != nil {
				t.Fatal(err)
			}
			_, sigs, _ := strings.Cut(string(other), "\n\n")
			bad = append(bad, sigs)
			continue
		}
		signers = append(signers, f.w[n].signer)
	}
	out, err := sumdbnote.Sign(&sumdbnote.Note{Text: f.body}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, strings.Join(bad, "")...)
}

// policy writes a policy text, with "$name" replaced by that witness's
// verifier key.
func (f *policyFixture) policy(text string) string {
	for n, w := range f.w {
		text = strings.ReplaceAll(text, "$"+n+" ", w.vkey+" ")
	}
	return text
}

// The policies of the agreement and report tests.
var policyTable = []struct {
	name, text string
}{
	{"one witness", "witness a $a https://a.example\nquorum a\n"},
	{"any of two", "witness a $a https://a.example\nwitness b $b https://b.example\ngroup g any a b\nquorum g\n"},
	{"all of two", "witness a $a https://a.example\nwitness b $b https://b.example\ngroup g all a b\nquorum g\n"},
	{"2 of 3", "witness a $a https://a.example\nwitness b $b https://b.example\nwitness c $c https://c.example\ngroup g 2 a b c\nquorum g\n"},
	{"nested", "# two operators\nwitness a $a https://a.example\nwitness b $b https://b.example # b's\nwitness c $c https://c.example\n" +
		"group ab any a b\ngroup top all ab c\nquorum top\n"},
	{"0 of 2", "witness a $a https://a.example\nwitness b $b https://b.example\ngroup g 0 a b\nquorum g\n"},
	{"none", "witness a $a https://a.example\nquorum none\n"},
	{"log line ignored", "log log.example+1234+AAAA\nwitness a $a https://a.example\nquorum a\n"},
	{"last quorum wins", "witness a $a https://a.example\nwitness b $b https://b.example\nquorum a\nquorum b\n"},
	{"unreached witness", "witness a $a https://a.example\nwitness b $b https://b.example\nquorum a\n"},
	{"group all of none", "group g all\nquorum g\n"},
	{"tabs and blank lines", "\n\twitness\ta\t$a https://a.example\n\n  quorum  a  \n"},
}

// The cosignature sets each policy is evaluated on.
var cosignatureSets = [][]string{{}, {"a"}, {"b"}, {"c"}, {"a", "b"}, {"a", "c"}, {"b", "c"}, {"a", "b", "c"}, {"!a"}, {"!a", "b"}, {"a", "!b", "c"}}

// TestWitnessPolicyAgreesWithTessera: every policy of the table parses,
// and its verdict on every set of cosignatures is Tessera's.
func TestWitnessPolicyAgreesWithTessera(t *testing.T) {
	f := newPolicyFixture(t, "a", "b", "c")
	for _, tc := range policyTable {
		t.Run(tc.name, func(t *testing.T) {
			text := f.policy(tc.text)
			ours, err := verify.ParseWitnessPolicy([]byte(text))
			if err != nil {
				t.Fatalf("ParseWitnessPolicy: %v\n%s", err, text)
			}
			theirs, err := tessera.NewWitnessGroupFromPolicy([]byte(text))
			if err != nil {
				t.Fatalf("tessera: %v", err)
			}
			for _, set := range cosignatureSets {
				cp := f.cosigned(t, set...)
				got, want := ours.Check(cp).Satisfied, theirs.Satisfied(cp)
				if got != want {
					t.Errorf("cosigned by %v: satisfied %v, Tessera says %v", set, got, want)
				}
			}
		})
	}
}

// TestWitnessPolicyErrors: every policy Tessera refuses is refused, with
// a message naming the line and the problem.
func TestWitnessPolicyErrors(t *testing.T) {
	f := newPolicyFixture(t, "a", "b")
	for _, tc := range []struct{ text, want string }{
		{"", "no quorum line"},
		{"# only a comment\n", "no quorum line"},
		{"witness a $a https://a.example\n", "no quorum line"},
		{"quorum\n", "line 1: want 'quorum NAME'"},
		{"quorum a b\n", "line 1: want 'quorum NAME'"},
		{"quorum a\n", `the quorum "a" is not defined`},
		{"quorum all\n", `quorum "all" is a keyword`},
		{"witnesses a $a https://a.example\nquorum a\n", `line 1: unknown keyword "witnesses"`},
		{"witness a $a\nquorum a\n", "line 1: want 'witness NAME VKEY URL', got 3 fields"},
		{"witness a $a https://a.example extra\nquorum a\n", "got 5 fields"},
		{"witness any $a https://a.example\nquorum any\n", `"any" is a keyword`},
		{"witness a notakey https://a.example\nquorum a\n", `witness "a": "notakey" is not a cosignature/v1 verifier key`},
		{"witness a $a https://a.example\nwitness a $b https://b.example\nquorum a\n", `line 2: "a" is defined twice`},
		{"witness a $a http://[::1\nquorum a\n", `witness "a": bad URL`},
		{"witness a $a https://a.example\ngroup g\nquorum g\n", "line 2: want 'group NAME all|any|N MEMBER...'"},
		{"witness a $a https://a.example\ngroup g 2 a\nquorum g\n", `group "g": threshold 2 with only 1 members`},
		{"witness a $a https://a.example\ngroup g any\nquorum g\n", `group "g": threshold 1 with only 0 members`},
		{"witness a $a https://a.example\ngroup g -1 a\nquorum g\n", `threshold "-1" is not all, any or a number`},
		{"witness a $a https://a.example\ngroup g 256 a\nquorum g\n", `threshold "256"`},
		{"witness a $a https://a.example\ngroup g one a\nquorum g\n", `threshold "one"`},
		{"witness a $a https://a.example\ngroup g any b\nquorum g\n", `member "b" is not defined on an earlier line`},
		{"group g any a\nwitness a $a https://a.example\nquorum g\n", `line 1: group "g": member "a" is not defined`},
		{"witness a $a https://a.example\ngroup g any log\nquorum g\n", `member "log" is a keyword`},
		{"witness a $a https://a.example\ngroup a any a\nquorum a\n", `"a" is defined twice`},
		{"witness a $a https://a.example\nquorum a\n" + strings.Repeat("#", 70000) + "\n", "reading the witness policy"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			text := f.policy(tc.text)
			_, err := verify.ParseWitnessPolicy([]byte(text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if _, terr := tessera.NewWitnessGroupFromPolicy([]byte(text)); terr == nil {
				t.Errorf("Tessera accepts the policy we refuse")
			}
		})
	}
}

// TestWitnessPolicyReport: a checkpoint that lacks the quorum fails, the
// error naming the quorum and every witness missing or invalid.
func TestWitnessPolicyReport(t *testing.T) {
	f := newPolicyFixture(t, "a", "b", "c")
	wp, err := verify.ParseWitnessPolicy([]byte(f.policy(policyTable[3].text))) // 2 of 3
	if err != nil {
		t.Fatal(err)
	}
	if !wp.Requires() {
		t.Error("a 2-of-3 policy requires no cosignature")
	}
	r, err := wp.Verify(f.cosigned(t, "a", "b"))
	if err != nil || !r.Satisfied || fmt.Sprint(r.Cosigned) != "[a (key witness.example/a) b (key witness.example/b)]" {
		t.Errorf("a and b cosigned: %v, report %+v", err, r)
	}
	r, err = wp.Verify(f.cosigned(t, "a", "!c"))
	var qe *verify.QuorumError
	if !errors.As(err, &qe) || r.Satisfied {
		t.Fatalf("a alone satisfies 2 of 3: %v", err)
	}
	wantCheck(t, err, verify.CheckWitnessCosignatures)
	want := "witness cosignatures: the checkpoint lacks the witness quorum (group g: 2 of a, b, c); cosigned by a (key witness.example/a); " +
		"missing cosignatures from b (key witness.example/b); invalid cosignatures from c (key witness.example/c)"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	// The unreached witness b is neither missing nor cosigned.
	one, err := verify.ParseWitnessPolicy([]byte(f.policy(policyTable[9].text)))
	if err != nil {
		t.Fatal(err)
	}
	r = one.Check(f.cosigned(t, "b"))
	if r.Satisfied || fmt.Sprint(r.Missing) != "[a (key witness.example/a)]" || len(r.Cosigned) != 0 {
		t.Errorf("policy 'quorum a' on a checkpoint cosigned by b: %+v", r)
	}
	none, err := verify.ParseWitnessPolicy([]byte("quorum none\n"))
	if err != nil || none.Requires() || !none.Check([]byte("not even a note")).Satisfied {
		t.Errorf("quorum none: %v", err)
	}
}

// TestThresholdWitnessPolicy: Policy.Witnesses with a threshold is the
// group "threshold of them".
func TestThresholdWitnessPolicy(t *testing.T) {
	f := newPolicyFixture(t, "a", "b")
	wp, err := verify.ThresholdWitnessPolicy(2, []string{f.w["a"].vkey, f.w["b"].vkey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wp.Verify(f.cosigned(t, "a", "b")); err != nil {
		t.Error(err)
	}
	_, err = wp.Verify(f.cosigned(t, "b"))
	if err == nil || !strings.Contains(err.Error(), "missing cosignatures from witness.example/a (key witness.example/a)") {
		t.Errorf("b alone: %v", err)
	}
	for _, bad := range []struct {
		n    int
		keys []string
	}{{3, []string{f.w["a"].vkey}}, {-1, nil}, {1, []string{"nope"}}} {
		if _, err := verify.ThresholdWitnessPolicy(bad.n, bad.keys); err == nil {
			t.Errorf("threshold %d of %q accepted", bad.n, bad.keys)
		}
	}
}

// FuzzWitnessPolicy: the parser never panics and accepts exactly what
// Tessera's accepts.
func FuzzWitnessPolicy(f *testing.F) {
	fx := newPolicyFixture(f, "a", "b", "c")
	for _, tc := range policyTable {
		f.Add(fx.policy(tc.text))
	}
	f.Add("witness a x y\nquorum a")
	f.Add("group g 3\nquorum g")
	f.Fuzz(func(t *testing.T, text string) {
		ours, err := verify.ParseWitnessPolicy([]byte(text))
		_, terr := tessera.NewWitnessGroupFromPolicy([]byte(text))
		if (err == nil) != (terr == nil) {
			t.Fatalf("we say %v, Tessera says %v, on\n%q", err, terr, text)
		}
		if err == nil {
			_ = ours.Check(fx.cosigned(t, "a"))
		}
	})
}
