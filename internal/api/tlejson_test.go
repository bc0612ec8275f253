package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// sampleLogEntry is an add's answer as createEntry builds it.
func sampleLogEntry() *rekorpb.TransparencyLogEntry {
	h := bytes.Repeat([]byte{0xfb}, 32)
	return &rekorpb.TransparencyLogEntry{
		LogIndex:    123456,
		LogId:       &v1.LogId{KeyId: bytes.Repeat([]byte{0xff, 0x3e}, 16)},
		KindVersion: &rekorpb.KindVersion{Kind: "hashedrekord", Version: "0.0.2"},
		InclusionProof: &rekorpb.InclusionProof{
			LogIndex: 123456, RootHash: h, TreeSize: 123500, Hashes: [][]byte{h, h[:31], h},
			Checkpoint: &rekorpb.Checkpoint{Envelope: "log.example.org\n123500\n+/v=\n\n— log.example.org AbCd+/==\n"},
		},
		CanonicalizedBody: []byte(`{"apiVersion":"0.0.2","kind":"hashedrekord"}`),
	}
}

// checkLikeProtojson fails unless the direct encoding of m is what
// protojson writes: the same JSON value (protojson varies its whitespace
// on purpose), and read back by protojson, strictly, the same message.
func checkLikeProtojson(t *testing.T, m *rekorpb.TransparencyLogEntry) {
	t.Helper()
	got, ok := appendLogEntry(nil, m)
	if !ok {
		t.Fatalf("not written directly: %v", m)
	}
	want, err := responseJSON.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("direct encoding is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("direct encoding differs from protojson:\n%s\n%s", got, want)
	}
	var back rekorpb.TransparencyLogEntry
	if err := protojson.Unmarshal(got, &back); err != nil {
		t.Fatalf("protojson does not read the direct encoding: %v", err)
	}
	if !proto.Equal(&back, m) {
		t.Fatalf("read back as %v, want %v", &back, m)
	}
}

func TestLogEntryJSON(t *testing.T) {
	full := sampleLogEntry()
	for name, edit := range map[string]func(m *rekorpb.TransparencyLogEntry){
		"add answer":      func(*rekorpb.TransparencyLogEntry) {},
		"index 0":         func(m *rekorpb.TransparencyLogEntry) { m.LogIndex, m.InclusionProof.LogIndex = 0, 0 },
		"no kind":         func(m *rekorpb.TransparencyLogEntry) { m.KindVersion = nil },
		"no log ID":       func(m *rekorpb.TransparencyLogEntry) { m.LogId = nil },
		"empty log ID":    func(m *rekorpb.TransparencyLogEntry) { m.LogId = &v1.LogId{} },
		"no hashes":       func(m *rekorpb.TransparencyLogEntry) { m.InclusionProof.Hashes = nil },
		"no checkpoint":   func(m *rekorpb.TransparencyLogEntry) { m.InclusionProof.Checkpoint = nil },
		"no proof":        func(m *rekorpb.TransparencyLogEntry) { m.InclusionProof = nil },
		"integrated time": func(m *rekorpb.TransparencyLogEntry) { m.IntegratedTime = -5 },
		"escapes in checkpoint": func(m *rekorpb.TransparencyLogEntry) {
			m.InclusionProof.Checkpoint.Envelope = "q\"b\\s\b\f\r\t\x00\x1f\x7f<&>\u2028é"
		},
		"escapes in kind": func(m *rekorpb.TransparencyLogEntry) { m.KindVersion.Kind = "a\"\n" },
	} {
		t.Run(name, func(t *testing.T) {
			m := proto.Clone(full).(*rekorpb.TransparencyLogEntry)
			edit(m)
			checkLikeProtojson(t, m)
		})
	}
}

// TestLogEntryJSONOutsideShape: what the direct form does not write goes
// to protojson (which refuses a string that is not UTF-8).
func TestLogEntryJSONOutsideShape(t *testing.T) {
	m := sampleLogEntry()
	m.InclusionPromise = &rekorpb.InclusionPromise{SignedEntryTimestamp: []byte("set")}
	if _, ok := appendLogEntry(nil, m); ok {
		t.Error("an inclusion promise was written directly")
	}
	out, err := marshalLogEntry(m)
	if err != nil || !strings.Contains(string(out), `"signedEntryTimestamp"`) {
		t.Errorf("with an inclusion promise: %s, %v", out, err)
	}
	m = sampleLogEntry()
	m.InclusionProof.Checkpoint.Envelope = "bad \xff"
	if _, ok := appendLogEntry(nil, m); ok {
		t.Error("a checkpoint that is not UTF-8 was written directly")
	}
	if _, err := marshalLogEntry(m); err == nil {
		t.Error("a checkpoint that is not UTF-8 was encoded")
	}
}

func FuzzLogEntryJSON(f *testing.F) {
	f.Add(int64(7), "log.example.org\n8\nroot=\n\n— sig\n", "hashedrekord", []byte("body"), []byte("h"), 2)
	f.Add(int64(-1), "\x00\"\\", "", []byte{}, []byte{}, 0)
	f.Fuzz(func(t *testing.T, index int64, envelope, kind string, body, hash []byte, hashes int) {
		m := sampleLogEntry()
		m.LogIndex, m.InclusionProof.TreeSize = index, index+1
		m.InclusionProof.Checkpoint.Envelope, m.KindVersion.Kind, m.CanonicalizedBody = envelope, kind, body
		m.InclusionProof.Hashes = nil
		for range hashes % 40 {
			m.InclusionProof.Hashes = append(m.InclusionProof.Hashes, hash)
		}
		if _, ok := appendLogEntry(nil, m); !ok {
			return // not UTF-8: protojson's to refuse
		}
		checkLikeProtojson(t, m)
	})
}

// BenchmarkLogEntryJSON: an add's answer through protojson and directly.
func BenchmarkLogEntryJSON(b *testing.B) {
	m := sampleLogEntry()
	for i := range 15 {
		m.InclusionProof.Hashes = append(m.InclusionProof.Hashes, bytes.Repeat([]byte{byte(i)}, 32))
	}
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := responseJSON.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalLogEntry(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
