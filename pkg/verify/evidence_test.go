package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/verify"
)

// splitEvidence returns the evidence file of a same-size split view and of
// an inconsistent one, as Remember writes them.
func splitEvidence(t testing.TB) (same, inconsistent []byte, l *splitLog) {
	t.Helper()
	ctx := context.Background()
	l = newSplitLog(t, 20, 4)
	file := func(first, second *verify.Checkpoint, prove verify.ConsistencyProver) []byte {
		m := newMemory(t)
		if _, err := verify.Remember(ctx, m, first, nil); err != nil {
			t.Fatal(err)
		}
		_, err := verify.Remember(ctx, m, second, prove)
		var sv *verify.SplitViewError
		if !errors.As(err, &sv) {
			t.Fatalf("no split view: %v", err)
		}
		b, err := sv.Evidence.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	same = file(l.checkpoint(t, l.a, 9), l.checkpoint(t, l.b, 9), nil)
	inconsistent = file(l.checkpoint(t, l.a, 7), l.checkpoint(t, l.b, 12), prover(l.b))
	return same, inconsistent, l
}

// edit changes an evidence file's JSON fields.
func edit(t testing.TB, file []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(file, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestParseEvidenceErrors: malformed evidence files are refused, saying
// what is wrong.
func TestParseEvidenceErrors(t *testing.T) {
	same, inc, l := splitEvidence(t)
	other := newSplitLog(t, 2, 2)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a JSON object"},
		{"not JSON", []byte("older: x"), "not a JSON object"},
		{"trailing data", append(append([]byte{}, same...), "{}"...), "data after the JSON object"},
		{"unknown field", edit(t, same, func(m map[string]any) { m["note"] = "x" }), `unknown field "note"`},
		{"other format", edit(t, same, func(m map[string]any) { m["format"] = "v2" }), `format "v2", want "mosaic-split-view-evidence/v1"`},
		{"unknown kind", edit(t, same, func(m map[string]any) { m["kind"] = "fork" }), `kind "fork", want`},
		{"bad origin", edit(t, same, func(m map[string]any) { m["origin"] = "a b" }), `origin "a b"`},
		{"no key", edit(t, same, func(m map[string]any) { delete(m, "logPublicKey") }), "logPublicKey"},
		{"short log ID", edit(t, same, func(m map[string]any) { m["logId"] = "AAAA" }), "want the base64 of 32 bytes"},
		{"another key's log ID", edit(t, same, func(m map[string]any) { m["logId"] = b64(other.tlog.LogID) }), "is not the log ID"},
		{"no older", edit(t, same, func(m map[string]any) { m["olderCheckpoint"] = "" }), "olderCheckpoint and newerCheckpoint are required"},
		{"proof on same size", edit(t, same, func(m map[string]any) { m["consistencyProof"] = []string{} }), "carries no consistencyProof"},
		{"no proof", edit(t, inc, func(m map[string]any) { delete(m, "consistencyProof") }), "needs a consistencyProof"},
		{"short hash", edit(t, inc, func(m map[string]any) { m["consistencyProof"] = []string{"AAAA"} }), "consistencyProof[0]"},
		{"long proof", edit(t, inc, func(m map[string]any) { m["consistencyProof"] = make([]string, 65) }), "at most 64"},
		{"huge", append(same, make([]byte, 1<<20)...), "want at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.ParseEvidence(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	_ = l
}

// TestEvidenceDoesNotHold: well-formed evidence that shows no split view
// (a bad signature, checkpoints that agree, a proof that verifies) fails
// Verify.
func TestEvidenceDoesNotHold(t *testing.T) {
	same, inc, l := splitEvidence(t)
	a7, a9, a12 := string(l.checkpoint(t, l.a, 7).Note), string(l.checkpoint(t, l.a, 9).Note), string(l.checkpoint(t, l.a, 12).Note)
	proof, err := l.a.ConsistencyProof(7, 12)
	if err != nil {
		t.Fatal(err)
	}
	var proofB64 []string
	for _, h := range proof {
		proofB64 = append(proofB64, b64(h))
	}
	forged := newSplitLog(t, 12, 0)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"same checkpoint twice", edit(t, same, func(m map[string]any) { m["olderCheckpoint"], m["newerCheckpoint"] = a9, a9 }), "not of one size with two roots"},
		{"sizes differ", edit(t, same, func(m map[string]any) { m["olderCheckpoint"], m["newerCheckpoint"] = a7, a9 }), "not of one size with two roots"},
		{"another key signed", edit(t, same, func(m map[string]any) { m["newerCheckpoint"] = string(forged.checkpoint(t, forged.b, 9).Note) }), "the newer checkpoint"},
		{"a valid proof", edit(t, inc, func(m map[string]any) {
			m["olderCheckpoint"], m["newerCheckpoint"], m["consistencyProof"] = a7, a12, proofB64
		}), "verifies: the checkpoints are consistent"},
		{"older larger", edit(t, inc, func(m map[string]any) { m["olderCheckpoint"], m["newerCheckpoint"] = a12, a7 }), "is not below"},
		{"tampered checkpoint", []byte(strings.Replace(string(same), "\\n9\\n", "\\n10\\n", 1)), "the older checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := verify.ParseEvidence(tc.file)
			if err != nil {
				t.Fatalf("ParseEvidence: %v", err)
			}
			if _, err := ev.Verify(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzEvidence: ParseEvidence and Verify never panic, and what parses
// marshals to a file that parses to the same verdict.
func FuzzEvidence(f *testing.F) {
	same, inc, _ := splitEvidence(f)
	f.Add(same)
	f.Add(inc)
	f.Add([]byte(`{"format":"mosaic-split-view-evidence/v1","kind":"inconsistent","consistencyProof":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := verify.ParseEvidence(data)
		if err != nil {
			return
		}
		_, verr := ev.Verify()
		again, err := ev.Marshal()
		if err != nil {
			t.Fatalf("Marshal of parsed evidence: %v", err)
		}
		ev2, err := verify.ParseEvidence(again)
		if err != nil {
			t.Fatalf("re-parsing: %v\n%s", err, again)
		}
		if _, verr2 := ev2.Verify(); (verr == nil) != (verr2 == nil) {
			t.Fatalf("verdict changed through Marshal: %v then %v", verr, verr2)
		}
	})
}
