package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// WitnessPolicy says which witnesses must have cosigned a checkpoint
// (C2SP tlog-cosignature, cosignature/v1) for a verifier to accept it.
//
// Its text form is the one Tessera's NewWitnessGroupFromPolicy reads, so a
// log's operator and its verifiers can share one file. One definition a
// line; "#" starts a comment:
//
//	witness NAME VKEY URL            a witness: its signed-note verifier key (type 0x04) and URL
//	group NAME all|any|N MEMBER...   satisfied when all, any one, or N of its members are
//	quorum NAME                      the witness or group that must be satisfied ("none": no witnesses)
//	log ...                          ignored (the log's key comes from the trusted root)
//
// A member is a witness or group defined on an earlier line. Keywords
// (witness, group, any, all, none, quorum, log) are not names. A verifier
// ignores witness URLs; they are required for the file to be Tessera's.
type WitnessPolicy struct {
	// quorum must be satisfied; nil for "quorum none".
	quorum *policyNode
	// witnesses are the witnesses the quorum reaches, in definition order.
	witnesses []*policyNode
}

// policyNode is a witness (verifier set) or a group (members set).
type policyNode struct {
	name     string
	verifier sumdbnote.Verifier // a witness
	n        int                // a group: how many members must be satisfied
	members  []*policyNode
}

// WitnessName names a witness: by its name in the policy and by the name
// of its key (the name its cosignatures carry).
type WitnessName struct {
	Name, KeyName string
}

func (w WitnessName) String() string { return fmt.Sprintf("%s (key %s)", w.Name, w.KeyName) }

// WitnessReport is what a checkpoint's cosignatures show under a policy.
type WitnessReport struct {
	// Satisfied is whether the quorum is met.
	Satisfied bool
	// Cosigned are the witnesses whose cosignature verified; Missing those
	// without a cosignature; Invalid those with a cosignature that does not
	// verify. Each lists the quorum's witnesses in policy order.
	Cosigned, Missing, Invalid []WitnessName
	// Quorum describes the quorum ("group q: 2 of a, b, c").
	Quorum string
}

// policyKeywords are not names (Tessera's list).
var policyKeywords = map[string]bool{"witness": true, "group": true, "any": true, "all": true, "none": true, "quorum": true, "log": true}

// ParseWitnessPolicy reads a witness policy (see WitnessPolicy). It
// accepts exactly the policies Tessera v1.0.4's NewWitnessGroupFromPolicy
// accepts; its errors name the line and what is wrong.
func ParseWitnessPolicy(text []byte) (*WitnessPolicy, error) {
	p := &policyParser{nodes: map[string]*policyNode{}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if err := p.line(fields); err != nil {
			return nil, fmt.Errorf("witness policy line %d: %w", lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the witness policy: %w", err)
	}
	return p.finish()
}

// policyParser holds the definitions read so far.
type policyParser struct {
	nodes  map[string]*policyNode
	order  []*policyNode // witnesses in definition order
	quorum string        // the last quorum line's name
}

func (p *policyParser) line(fields []string) error {
	switch fields[0] {
	case "log":
		return nil
	case "witness":
		return p.witness(fields)
	case "group":
		return p.group(fields)
	case "quorum":
		if len(fields) != 2 {
			return fmt.Errorf("want 'quorum NAME', got %q", strings.Join(fields, " "))
		}
		p.quorum = fields[1]
		return nil
	}
	return fmt.Errorf("unknown keyword %q (want witness, group, quorum or log)", fields[0])
}

func (p *policyParser) witness(fields []string) error {
	if len(fields) != 4 {
		return fmt.Errorf("want 'witness NAME VKEY URL', got %d fields", len(fields))
	}
	name, vkey, rawURL := fields[1], fields[2], fields[3]
	if err := p.newName(name); err != nil {
		return err
	}
	if _, err := url.Parse(rawURL); err != nil {
		return fmt.Errorf("witness %q: bad URL: %w", name, err)
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return fmt.Errorf("witness %q: %q is not a cosignature/v1 verifier key: %w", name, vkey, err)
	}
	n := &policyNode{name: name, verifier: v}
	p.nodes[name] = n
	p.order = append(p.order, n)
	return nil
}

func (p *policyParser) group(fields []string) error {
	if len(fields) < 3 {
		return fmt.Errorf("want 'group NAME all|any|N MEMBER...', got %q", strings.Join(fields, " "))
	}
	name, threshold, memberNames := fields[1], fields[2], fields[3:]
	if err := p.newName(name); err != nil {
		return err
	}
	g := &policyNode{name: name}
	switch threshold {
	case "any":
		g.n = 1
	case "all":
		g.n = len(memberNames)
	default:
		n, err := strconv.ParseUint(threshold, 10, 8)
		if err != nil {
			return fmt.Errorf("group %q: threshold %q is not all, any or a number 0-255", name, threshold)
		}
		g.n = int(n)
	}
	if g.n > len(memberNames) {
		return fmt.Errorf("group %q: threshold %d with only %d members", name, g.n, len(memberNames))
	}
	for _, m := range memberNames {
		if policyKeywords[m] {
			return fmt.Errorf("group %q: member %q is a keyword, not a name", name, m)
		}
		node, ok := p.nodes[m]
		if !ok {
			return fmt.Errorf("group %q: member %q is not defined on an earlier line", name, m)
		}
		g.members = append(g.members, node)
	}
	p.nodes[name] = g
	return nil
}

// newName checks that name may name a new witness or group.
func (p *policyParser) newName(name string) error {
	if policyKeywords[name] {
		return fmt.Errorf("%q is a keyword, not a name", name)
	}
	if _, dup := p.nodes[name]; dup {
		return fmt.Errorf("%q is defined twice", name)
	}
	return nil
}

func (p *policyParser) finish() (*WitnessPolicy, error) {
	switch {
	case p.quorum == "":
		return nil, errors.New("the witness policy has no quorum line (want 'quorum NAME', or 'quorum none')")
	case p.quorum == "none":
		return &WitnessPolicy{}, nil
	case policyKeywords[p.quorum]:
		return nil, fmt.Errorf("witness policy: quorum %q is a keyword, not a name", p.quorum)
	}
	q, ok := p.nodes[p.quorum]
	if !ok {
		return nil, fmt.Errorf("witness policy: the quorum %q is not defined", p.quorum)
	}
	if q.verifier != nil { // a lone witness is a group of one
		q = &policyNode{name: q.name, n: 1, members: []*policyNode{q}}
	}
	wp := &WitnessPolicy{quorum: q}
	reached := map[*policyNode]bool{}
	q.walk(reached)
	for _, w := range p.order {
		if reached[w] {
			wp.witnesses = append(wp.witnesses, w)
		}
	}
	return wp, nil
}

// walk marks n and every node below it.
func (n *policyNode) walk(seen map[*policyNode]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	for _, m := range n.members {
		m.walk(seen)
	}
}

// ThresholdWitnessPolicy is the policy "threshold of these witnesses"
// (signed-note verifier keys; each witness is named by its key's name).
func ThresholdWitnessPolicy(threshold int, vkeys []string) (*WitnessPolicy, error) {
	if threshold < 0 || threshold > len(vkeys) {
		return nil, fmt.Errorf("witness threshold %d with %d witness keys", threshold, len(vkeys))
	}
	ws, err := parseWitnesses(vkeys)
	if err != nil {
		return nil, err
	}
	if threshold == 0 {
		return &WitnessPolicy{}, nil
	}
	g := &policyNode{name: "witnesses", n: threshold}
	wp := &WitnessPolicy{quorum: g}
	for _, w := range ws {
		n := &policyNode{name: w.name, verifier: w.verifier}
		g.members = append(g.members, n)
		wp.witnesses = append(wp.witnesses, n)
	}
	return wp, nil
}

// Requires reports whether the policy asks for any cosignature.
func (wp *WitnessPolicy) Requires() bool { return wp != nil && wp.quorum != nil && wp.quorum.n > 0 }

// Check evaluates the cosignatures on a signed checkpoint (whose log
// signature the caller has verified) as Tessera does: a witness counts when
// its cosignature verifies and no signature of its key fails to.
func (wp *WitnessPolicy) Check(signed []byte) *WitnessReport {
	r := &WitnessReport{Satisfied: true, Quorum: "none"}
	if wp == nil || wp.quorum == nil {
		return r
	}
	cosigned := map[*policyNode]bool{}
	for _, w := range wp.witnesses {
		name := WitnessName{Name: w.name, KeyName: w.verifier.Name()}
		_, err := sumdbnote.Open(signed, sumdbnote.VerifierList(w.verifier))
		var invalid *sumdbnote.InvalidSignatureError
		switch {
		case err == nil:
			cosigned[w] = true
			r.Cosigned = append(r.Cosigned, name)
		case errors.As(err, &invalid):
			r.Invalid = append(r.Invalid, name)
		default:
			r.Missing = append(r.Missing, name)
		}
	}
	r.Satisfied = wp.quorum.satisfied(cosigned)
	r.Quorum = wp.quorum.describe()
	return r
}

// satisfied reports whether enough of n's members are satisfied.
func (n *policyNode) satisfied(cosigned map[*policyNode]bool) bool {
	if n.verifier != nil {
		return cosigned[n]
	}
	count := 0
	for _, m := range n.members {
		if m.satisfied(cosigned) {
			count++
		}
	}
	return count >= n.n
}

// describe says what a group needs: "group q: 2 of a, b, c".
func (n *policyNode) describe() string {
	names := make([]string, len(n.members))
	for i, m := range n.members {
		names[i] = m.name
	}
	return fmt.Sprintf("group %s: %d of %s", n.name, n.n, strings.Join(names, ", "))
}

// Verify checks that the quorum cosigned the signed checkpoint. When it did
// not, the error (Check CheckWitnessCosignatures) names the quorum and the
// witnesses whose cosignature is missing or invalid.
func (wp *WitnessPolicy) Verify(signed []byte) (*WitnessReport, error) {
	r := wp.Check(signed)
	if r.Satisfied {
		return r, nil
	}
	return r, &Error{Check: CheckWitnessCosignatures, Err: &QuorumError{Report: r}}
}

// QuorumError is a checkpoint that lacks a witness policy's quorum.
type QuorumError struct {
	Report *WitnessReport
}

// Error names the quorum, the witnesses that cosigned, and those missing
// or invalid.
func (e *QuorumError) Error() string {
	r := e.Report
	msg := fmt.Sprintf("the checkpoint lacks the witness quorum (%s); cosigned by %s", r.Quorum, names(r.Cosigned))
	if len(r.Missing) > 0 {
		msg += "; missing cosignatures from " + names(r.Missing)
	}
	if len(r.Invalid) > 0 {
		msg += "; invalid cosignatures from " + names(r.Invalid)
	}
	return msg
}

func names(ws []WitnessName) string {
	if len(ws) == 0 {
		return "none"
	}
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.String()
	}
	return strings.Join(s, ", ")
}
