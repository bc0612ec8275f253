package soak

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

func TestLedger(t *testing.T) {
	l := newLedger()
	a, b := leafHash([]byte("a")), leafHash([]byte("b"))
	if !l.record(3, a, []byte("req a")) || !l.record(1, b, []byte("req b")) {
		t.Fatal("first acknowledgements refused")
	}
	if !l.record(3, a, []byte("req a")) {
		t.Error("the same entry acknowledged twice at one index is no conflict")
	}
	if l.record(3, b, []byte("req b")) {
		t.Error("another entry at an acknowledged index was not reported")
	}
	if got := l.acks(); len(got) != 2 || got[0].index != 1 || got[1].index != 3 || got[1].leaf != a {
		t.Errorf("acks = %+v", got)
	}
	for range 20 {
		r, ok := l.pick()
		if !ok || (r.index == 3) != (string(r.body) == "req a") {
			t.Fatalf("pick = %+v, %v", r, ok)
		}
	}
}

func TestLedgerPoolIsBounded(t *testing.T) {
	l := newLedger()
	for i := range maxResubmittable + 1000 {
		l.record(uint64(i), leafHash([]byte(fmt.Sprint(i))), []byte(fmt.Sprint(i)))
	}
	if len(l.pool) != maxResubmittable || len(l.acks()) != maxResubmittable+1000 {
		t.Errorf("pool %d, acks %d", len(l.pool), len(l.acks()))
	}
}

// TestCheckAcks checks the read-back accounting on a real tree: each
// acknowledged entry is verified, lost (beyond the tree or another leaf at
// its index) or a proof failure, exactly one of them.
func TestCheckAcks(t *testing.T) {
	tree := testonly.New(rfc6962.DefaultHasher)
	var leaves [][32]byte
	for i := range 10 {
		data := []byte(fmt.Sprintf("entry %d", i))
		tree.AppendData(data)
		leaves = append(leaves, leafHash(data))
	}
	cp := &log.Checkpoint{Size: tree.Size(), Hash: tree.Hash()}
	prove := func(i uint64) ([][]byte, error) { return tree.InclusionProof(i, cp.Size) }
	badProof := func(i uint64) ([][]byte, error) {
		p, err := prove(i)
		if len(p) > 0 {
			p[0] = make([]byte, 32)
		}
		return p, err
	}
	noProof := func(uint64) ([][]byte, error) { return nil, errors.New("tile missing") }
	for _, tc := range []struct {
		name  string
		acks  []ack
		prove func(uint64) ([][]byte, error)
		want  ReadBack
	}{
		{"all there", []ack{{0, leaves[0]}, {5, leaves[5]}, {9, leaves[9]}}, prove, ReadBack{Verified: 3}},
		{"beyond the tree", []ack{{10, leafHash([]byte("x"))}, {2, leaves[2]}}, prove, ReadBack{Verified: 1, Lost: 1, Beyond: 1}},
		{"another leaf", []ack{{4, leaves[3]}}, prove, ReadBack{Lost: 1, WrongLeaf: 1}},
		{"bad proof", []ack{{4, leaves[4]}}, badProof, ReadBack{ProofFailures: 1}},
		{"no proof", []ack{{4, leaves[4]}}, noProof, ReadBack{ProofFailures: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rb ReadBack
			checkAcks(&rb, tc.acks, cp, leaves, tc.prove)
			if rb != tc.want {
				t.Errorf("got %+v, want %+v", rb, tc.want)
			}
		})
	}
}

func TestHoldTally(t *testing.T) {
	var h holdTally
	h.opened()
	h.opened()
	h.closed(holdEnd{status: 408, closedByServer: true, held: 15 * time.Second})
	h.opened()
	h.closed(holdEnd{held: 30 * time.Second})
	h.closed(holdEnd{closedByServer: true, held: time.Second})
	want := HoldStats{Started: 3, Status: map[int]int64{408: 1}, ClosedByServer: 2, HeldToLimit: 1,
		Longest: Seconds(30 * time.Second), PeakOpen: 2}
	if got := h.stats(); fmt.Sprint(got) != fmt.Sprint(want) || h.open.Load() != 0 {
		t.Errorf("got %+v (open %d), want %+v", got, h.open.Load(), want)
	}
}

func TestLatencies(t *testing.T) {
	var l latencies
	if p50, p99, m := l.summary(); p50 != 0 || p99 != 0 || m != 0 {
		t.Error("empty summary not zero")
	}
	for i := 100; i >= 1; i-- {
		l.observe(time.Duration(i) * time.Millisecond)
	}
	p50, p99, m := l.summary()
	if p50 != Seconds(50*time.Millisecond) || p99 != Seconds(99*time.Millisecond) || m != Seconds(100*time.Millisecond) {
		t.Errorf("p50 %v p99 %v max %v", p50, p99, m)
	}
}
