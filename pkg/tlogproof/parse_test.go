package tlogproof_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/tlogproof"
	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// goodParts is a valid proof of entry 5 in the test log, split into its
// parts so that cases can rebuild it with one part wrong.
type goodParts struct {
	index  string
	hashes []string
	cp     string
}

func (g goodParts) join(header, extra string) []byte {
	s := header + "\n" + extra + "index " + g.index + "\n"
	for _, h := range g.hashes {
		s += h + "\n"
	}
	return []byte(s + "\n" + g.cp)
}

func parts(t testing.TB, l *testLog) goodParts {
	t.Helper()
	p := l.proof(t, 5)
	g := goodParts{index: "5", cp: string(p.Checkpoint)}
	for _, h := range p.Hashes {
		g.hashes = append(g.hashes, base64.StdEncoding.EncodeToString(h))
	}
	return g
}

// Parse refuses each malformed proof with an error naming what is wrong.
func TestParseRefuses(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	g := parts(t, l)
	const header = tlogproof.Header
	with := func(f func(g *goodParts)) []byte {
		c := g
		c.hashes = append([]string(nil), g.hashes...)
		f(&c)
		return c.join(header, "")
	}
	good := string(g.join(header, ""))
	b64 := base64.StdEncoding.EncodeToString
	unsigned := log.Checkpoint{Origin: origin, Size: size, Hash: l.tree.Hash()}.Marshal()
	notCheckpoint, err := sumdbnote.Sign(&sumdbnote.Note{Text: "hello\n"}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	format, checkpoint := tlogproof.CheckFormat, tlogproof.CheckCheckpoint
	for _, tc := range []struct {
		name  string
		in    []byte
		check tlogproof.Check
		want  string
	}{
		{"empty", nil, format, "ends before the header"},
		{"header only", []byte(header + "\n"), format, "ends before the index line"},
		{"header without newline", []byte(header), format, "the first line is"},
		{"JSON", []byte(`{"apiVersion":"0.0.2"}`), format, `the first line is "{\"apiVersion\":\"0.0.2\"}"`},
		{"missing header", []byte(strings.TrimPrefix(good, header+"\n")), format, `first line is "index 5"`},
		{"wrong header", g.join("c2sp.org/tlog-proof@v2", ""), format, "is this a tlog-proof?"},
		{"CRLF", []byte(strings.ReplaceAll(good, "\n", "\r\n")), format, "CRLF"},
		{"CRLF in the head only", []byte(strings.Replace(good, "index 5\n", "index 5\r\n", 1)), format, "CRLF"},
		{"no index", []byte(strings.Replace(good, "index 5\n", "", 1)), format, `want the line "index <N>"`},
		{"leading zero", with(func(g *goodParts) { g.index = "05" }), format, `index "05" has a leading zero`},
		{"plus sign", with(func(g *goodParts) { g.index = "+5" }), format, "not a decimal number"},
		{"negative", with(func(g *goodParts) { g.index = "-5" }), format, "not a decimal number"},
		{"two spaces", with(func(g *goodParts) { g.index = " 5" }), format, "not a decimal number"},
		{"trailing space", with(func(g *goodParts) { g.index = "5 " }), format, "not a decimal number"},
		{"empty index", with(func(g *goodParts) { g.index = "" }), format, "not a decimal number"},
		{"overflow", with(func(g *goodParts) { g.index = "18446744073709551616" }), format, "larger than 2^64-1"},
		{"index at tree size", with(func(g *goodParts) { g.index = "13" }), format, "index 13 is not in the checkpoint's tree of size 13"},
		{"huge index", with(func(g *goodParts) { g.index = "18446744073709551615" }), format, "not in the checkpoint's tree"},
		{"Index capitalised", []byte(strings.Replace(good, "index 5", "Index 5", 1)), format, `want the line "index <N>"`},
		{"bad base64", with(func(g *goodParts) { g.hashes[1] = "!!not base64!!" }), format, "proof hash 1:"},
		{"unpadded base64", with(func(g *goodParts) { g.hashes[0] = strings.TrimRight(g.hashes[0], "=") }), format, "not canonical"},
		{"non-canonical padding bits", with(func(g *goodParts) { g.hashes[0] = g.hashes[0][:42] + "B=" }), format, "not canonical"},
		{"URL base64", with(func(g *goodParts) { g.hashes[0] = "-_" + g.hashes[0][2:] }), format, "not canonical"},
		{"short hash", with(func(g *goodParts) { g.hashes[2] = b64(make([]byte, 31)) }), format, "proof hash 2 is 31 bytes, want 32"},
		{"long hash", with(func(g *goodParts) { g.hashes[2] = b64(make([]byte, 33)) }), format, "proof hash 2 is 33 bytes, want 32"},
		{"too many hashes", with(func(g *goodParts) {
			for len(g.hashes) <= tlogproof.MaxHashes {
				g.hashes = append(g.hashes, g.hashes[0])
			}
		}), format, "more than 64 proof hashes"},
		{"one hash short", with(func(g *goodParts) { g.hashes = g.hashes[1:] }), format, "3 proof hashes do not fit entry 5 of a tree of size 13"},
		{"one hash too many", with(func(g *goodParts) { g.hashes = append(g.hashes, g.hashes[0]) }), format, "5 proof hashes do not fit"},
		{"missing empty line", []byte(strings.Replace(good, "\n\n"+origin, "\n"+origin, 1)), format, "proof hash 4"},
		{"ends before the empty line", []byte(header + "\nindex 5\n" + g.hashes[0] + "\n"), format, "ends before the empty line"},
		{"ends inside a line", []byte(header + "\nindex 5"), format, "ends before the index line"},
		{"no checkpoint", []byte(strings.Join(append([]string{header, "index 5"}, g.hashes...), "\n") + "\n\n"), format, "no checkpoint"},
		{"junk after the checkpoint", []byte(good + "junk\n"), checkpoint, "nothing after them"},
		{"junk line after the checkpoint", []byte(good + "\njunk\n"), checkpoint, "nothing after them"},
		{"no newline at the end", []byte(strings.TrimSuffix(good, "\n")), checkpoint, "signed note"},
		{"CRLF in the checkpoint", []byte(strings.Replace(good, origin+"\n", origin+"\r\n", 1)), checkpoint, "signed note"},
		{"unsigned checkpoint", []byte(strings.Replace(good, g.cp, string(unsigned), 1)), checkpoint, "signed note"},
		{"checkpoint without signatures", []byte(strings.Replace(good, g.cp, string(unsigned)+"\n", 1)), checkpoint, "signed note"},
		{"signed note that is no checkpoint", []byte(strings.Replace(good, g.cp, string(notCheckpoint), 1)), checkpoint, "checkpoint"},
		{"extra twice", g.join(header, "extra AA==\nextra AA==\n"), format, `want the line "index <N>", got "extra AA=="`},
		{"extra without a space", g.join(header, "extra\n"), format, `got "extra"`},
		{"extra not base64", g.join(header, "extra !!\n"), format, "the extra line"},
		{"extra non-canonical", g.join(header, "extra AB==\n"), format, "not canonical"},
		{"extra after the index", []byte(strings.Replace(good, "index 5\n", "index 5\nextra AA==\n", 1)), format, `proof hash 0: "extra AA==" is not canonical`},
		{"too large", append([]byte(good), bytes.Repeat([]byte("x"), tlogproof.MaxSize)...), format, "more than the 1048576 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tlogproof.Parse(tc.in)
			if p != nil {
				t.Errorf("returned a proof with the error")
			}
			wantError(t, err, tc.check, tc.want)
		})
	}
}

// Marshal refuses what Parse would refuse, so a proof it writes always
// reads back.
func TestMarshalRefuses(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	for _, tc := range []struct {
		name string
		edit func(p *tlogproof.Proof)
		want string
	}{
		{"short hash", func(p *tlogproof.Proof) { p.Hashes[0] = p.Hashes[0][:31] }, "proof hash 0 is 31 bytes"},
		{"index out of the tree", func(p *tlogproof.Proof) { p.Index = size }, "not in the checkpoint's tree"},
		{"proof of another index", func(p *tlogproof.Proof) { p.Index = 12 }, "do not fit entry 12"},
		{"no checkpoint", func(p *tlogproof.Proof) { p.Checkpoint = nil }, "no checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := l.proof(t, 5)
			tc.edit(p)
			_, err := p.Marshal()
			var pe *tlogproof.Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Marshal: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParse: Parse never panics, its errors are typed, and whatever it
// accepts Marshal writes back byte for byte.
func FuzzParse(f *testing.F) {
	l := newTestLog(f, note.Ed25519)
	g := parts(f, l)
	f.Add(g.join(tlogproof.Header, ""))
	f.Add(g.join(tlogproof.Header, "extra YXBwIGRhdGE=\n"))
	f.Add(g.join(tlogproof.Header, "extra \n"))
	f.Add([]byte(tlogproof.Header + "\n"))
	f.Add([]byte(strings.Replace(string(g.join(tlogproof.Header, "")), "index 5", "index 05", 1)))
	f.Add([]byte(tlogproof.Header + "\nindex 0\n\n" + origin + "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— " + origin + " AAAAAAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := tlogproof.Parse(data)
		if err != nil {
			var pe *tlogproof.Error
			if p != nil || !errors.As(err, &pe) {
				t.Fatalf("proof %v with error %T %v", p, err, err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("Parse accepted what Marshal refuses: %v\n%q", err, data)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("Marshal(Parse(x)) != x:\n%q\n%q", out, data)
		}
	})
}
