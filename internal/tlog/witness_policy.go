package tlog

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera"
)

// A witness policy file names the witnesses a log's checkpoints are sent to
// and the quorum of their cosignatures a checkpoint needs. Its format is the
// one tessera.NewWitnessGroupFromPolicy parses (Sigsum's policy format with
// C2SP cosignature/v1 verifier keys), which rekor-tiles reads too:
//
//	# comments run to the end of a line
//	witness NAME VKEY URL          a witness, reached at URL + "/add-checkpoint"
//	group NAME all|any|N MEMBER... satisfied by N (all, 1) of its members
//	quorum NAME|none               the component a checkpoint must satisfy
//	log ...                        for verifiers; a log ignores it
//
// ParseWitnessPolicy leaves the grammar and its meaning to Tessera, so a
// file means to mosaicd what it means to Tessera, and adds what an operator
// needs when one is wrong: the line at fault, and the mistakes Tessera
// lets through that would only show once a checkpoint is to be witnessed.

// MaxWitnessPolicyBytes bounds a witness policy file.
const MaxWitnessPolicyBytes = 64 << 10

// WitnessPolicy is a checked witness policy.
type WitnessPolicy struct {
	// Group is the policy as Tessera evaluates it.
	Group tessera.WitnessGroup
	// Witnesses are the witnesses the quorum reaches, in file order:
	// the ones each checkpoint is sent to. Empty with "quorum none".
	Witnesses []PolicyWitness
	// Unused names the witnesses the file defines but the quorum does
	// not reach: they are not contacted.
	Unused []string
}

// PolicyWitness is one witness of a policy.
type PolicyWitness struct {
	// Name is its name in the policy file.
	Name string
	// KeyName is the name in its verifier key, which its cosignature
	// lines carry.
	KeyName string
	// VKey is its cosignature/v1 verifier key.
	VKey string
	// URL is its add-checkpoint endpoint (the policy's URL +
	// "/add-checkpoint"), where Tessera posts checkpoints.
	URL string
	// Line is its line in the policy file.
	Line int
}

// PolicyError is a witness policy that cannot be used, and where.
type PolicyError struct {
	// Line is the 1-based line at fault, or 0 for the file as a whole.
	Line int
	Err  error
}

func (e *PolicyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("witness policy: %v", e.Err)
	}
	return fmt.Sprintf("witness policy line %d: %v", e.Line, e.Err)
}

func (e *PolicyError) Unwrap() error { return e.Err }

// ParseWitnessPolicy parses and checks a witness policy file. A refusal is a
// *PolicyError naming the line at fault. Beyond Tessera's own checks it
// refuses a witness URL that is not an absolute http(s) URL, two witnesses
// with one URL (Tessera would send to one of them only) and two with one key
// (one witness would count twice towards a quorum).
func ParseWitnessPolicy(text []byte) (*WitnessPolicy, error) {
	if len(text) > MaxWitnessPolicyBytes {
		return nil, &PolicyError{Err: fmt.Errorf("%d bytes, more than the %d allowed", len(text), MaxWitnessPolicyBytes)}
	}
	lines := strings.Split(string(text), "\n")
	for i, l := range lines {
		if !utf8.ValidString(l) {
			return nil, &PolicyError{Line: i + 1, Err: errors.New("not valid UTF-8")}
		}
	}
	group, err := tessera.NewWitnessGroupFromPolicy(text)
	if err != nil {
		return nil, locate(lines, err)
	}
	// Before anything walks the groups (Endpoints, Satisfied): walking
	// them costs as much as their expansion.
	if err := checkGroups(lines); err != nil {
		return nil, err
	}
	witnesses, err := policyWitnesses(lines)
	if err != nil {
		return nil, err
	}
	p := &WitnessPolicy{Group: group}
	reached := group.Endpoints()
	for _, w := range witnesses {
		if _, ok := reached[w.URL]; ok {
			p.Witnesses = append(p.Witnesses, w)
		} else {
			p.Unused = append(p.Unused, w.Name)
		}
	}
	return p, nil
}

// locate finds the line of a policy that Tessera refused with err: the
// first line whose prefix of the file Tessera refuses, completed with
// "quorum none". (Tessera reads a policy line by line and stops at the
// first bad one, so the prefixes it refuses are exactly those that reach
// that line, and a binary search finds it.) A file whose every line is
// fine is wrong in its quorum: that is blamed on its last quorum line.
func locate(lines []string, err error) error {
	refused := func(n int) error {
		prefix := strings.Join(lines[:n], "\n") + "\nquorum none\n"
		_, err := tessera.NewWitnessGroupFromPolicy([]byte(prefix))
		return err
	}
	if refused(len(lines)) == nil {
		for i := len(lines) - 1; i >= 0; i-- {
			if f := strings.Fields(uncomment(lines[i])); len(f) > 0 && f[0] == "quorum" {
				return &PolicyError{Line: i + 1, Err: err}
			}
		}
		return &PolicyError{Err: fmt.Errorf("%w (add a line 'quorum NAME', or 'quorum none')", err)}
	}
	lo, hi := 1, len(lines) // refused(hi) != nil; find the least such n
	for lo < hi {
		mid := (lo + hi) / 2
		if refused(mid) != nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return &PolicyError{Line: lo, Err: refused(lo)}
}

// maxPolicyNodes bounds the size of a policy's groups expanded into a
// tree. A group that names a group twice (through two groups of its own),
// itself naming one twice, and so on, expands exponentially, and Tessera
// walks the whole expansion whenever it evaluates the policy.
const maxPolicyNodes = 1024

// checkGroups refuses, in a policy Tessera accepted, a group naming one
// member twice (one cosignature would count twice towards its threshold)
// and groups expanding to more than maxPolicyNodes witnesses and groups.
func checkGroups(lines []string) error {
	nodes := map[string]int{}
	for i, l := range lines {
		f := strings.Fields(uncomment(l))
		switch {
		case len(f) == 4 && f[0] == "witness":
			nodes[f[1]] = 1
		case len(f) >= 3 && f[0] == "group":
			n, seen := 1, map[string]bool{}
			for _, m := range f[3:] {
				if seen[m] {
					return &PolicyError{Line: i + 1, Err: fmt.Errorf("group %s names %s twice: one cosignature would count twice", f[1], m)}
				}
				seen[m] = true
				n = min(n+nodes[m], maxPolicyNodes+1)
			}
			if n > maxPolicyNodes {
				return &PolicyError{Line: i + 1, Err: fmt.Errorf("group %s expands to more than %d witnesses and groups (groups naming the same groups over and over)", f[1], maxPolicyNodes)}
			}
			nodes[f[1]] = n
		}
	}
	return nil
}

// uncomment drops a line's comment, as Tessera does.
func uncomment(line string) string {
	line, _, _ = strings.Cut(line, "#")
	return line
}

// policyWitnesses returns the witness lines of a policy Tessera accepted,
// refusing URLs and keys that Tessera accepts but cannot use.
func policyWitnesses(lines []string) ([]PolicyWitness, error) {
	var ws []PolicyWitness
	byURL, byKey := map[string]PolicyWitness{}, map[string]PolicyWitness{}
	for i, l := range lines {
		f := strings.Fields(uncomment(l))
		if len(f) != 4 || f[0] != "witness" {
			continue
		}
		w, err := policyWitness(f[1], f[2], f[3], i+1)
		if err != nil {
			return nil, &PolicyError{Line: i + 1, Err: err}
		}
		if o, ok := byURL[w.URL]; ok {
			return nil, &PolicyError{Line: w.Line, Err: fmt.Errorf("witness %s has the URL of witness %s (line %d): give each witness its own", w.Name, o.Name, o.Line)}
		}
		if o, ok := byKey[w.VKey]; ok {
			return nil, &PolicyError{Line: w.Line, Err: fmt.Errorf("witness %s has the key of witness %s (line %d): one witness would count twice", w.Name, o.Name, o.Line)}
		}
		byURL[w.URL], byKey[w.VKey] = w, w
		ws = append(ws, w)
	}
	return ws, nil
}

// policyWitness checks one witness line's URL and reads its key's name.
func policyWitness(name, vkey, rawURL string, line int) (PolicyWitness, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return PolicyWitness{}, fmt.Errorf("witness %s: URL %q: want an http:// or https:// URL with a host and no user, query or fragment", name, rawURL)
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return PolicyWitness{}, fmt.Errorf("witness %s: verifier key %q: %w", name, vkey, err)
	}
	// Tessera posts to the same URL (tessera.NewWitness).
	tw, err := tessera.NewWitness(vkey, u)
	if err != nil {
		return PolicyWitness{}, fmt.Errorf("witness %s: %w", name, err)
	}
	return PolicyWitness{Name: name, KeyName: v.Name(), VKey: vkey, URL: tw.URL, Line: line}, nil
}
