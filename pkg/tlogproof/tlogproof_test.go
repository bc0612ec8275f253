package tlogproof_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/tlogproof"
	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

const (
	origin  = "log.example.com"
	witness = "witness.example.com"
	size    = 13 // proofs of 3 and 4 hashes, and an unbalanced right edge
)

// testLog is an in-memory RFC 6962 tree (transparency-dev/merkle's
// reference implementation) of size leaves, and its checkpoint signed by a
// log key and cosigned by a witness.
type testLog struct {
	leaves   [][]byte
	tree     *testonly.Tree
	signer   sumdbnote.Signer
	verifier sumdbnote.Verifier
	cp       []byte
}

func newTestLog(t testing.TB, alg note.Algorithm) *testLog {
	t.Helper()
	key, err := note.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{tree: testonly.New(rfc6962.DefaultHasher)}
	if l.signer, err = note.NewSigner(t.Context(), origin, key); err != nil {
		t.Fatal(err)
	}
	if l.verifier, err = note.NewVerifier(origin, key.Public()); err != nil {
		t.Fatal(err)
	}
	for i := range size {
		leaf := fmt.Appendf(nil, `{"entry":%d}`, i)
		l.leaves = append(l.leaves, leaf)
		l.tree.AppendData(leaf)
	}
	l.cp = l.sign(t, log.Checkpoint{Origin: origin, Size: size, Hash: l.tree.Hash()}, cosigner(t))
	return l
}

// cosigner is a witness's cosignature/v1 signer.
func cosigner(t testing.TB) sumdbnote.Signer {
	t.Helper()
	skey, _, err := sumdbnote.GenerateKey(rand.Reader, witness)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sign signs cp's body with the log key and the extra signers.
func (l *testLog) sign(t testing.TB, cp log.Checkpoint, extra ...sumdbnote.Signer) []byte {
	t.Helper()
	msg, err := sumdbnote.Sign(&sumdbnote.Note{Text: string(cp.Marshal())}, append([]sumdbnote.Signer{l.signer}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// proof is the tlog-proof of entry index against l's checkpoint.
func (l *testLog) proof(t testing.TB, index uint64) *tlogproof.Proof {
	t.Helper()
	hashes, err := l.tree.InclusionProof(index, size)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tlogproof.New(index, hashes, l.cp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func marshal(t testing.TB, p *tlogproof.Proof) []byte {
	t.Helper()
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The file is byte for byte the format of c2sp.org/tlog-proof, spelled out
// here without Marshal.
func TestMarshalFormat(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	hashes, err := l.tree.InclusionProof(5, size)
	if err != nil {
		t.Fatal(err)
	}
	want := "c2sp.org/tlog-proof@v1\nindex 5\n"
	for _, h := range hashes {
		want += base64.StdEncoding.EncodeToString(h) + "\n"
	}
	want += "\n" + string(l.cp)
	p := l.proof(t, 5)
	if got := string(marshal(t, p)); got != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
	p.Extra = []byte("app data")
	want = strings.Replace(want, "\nindex", "\nextra YXBwIGRhdGE=\nindex", 1)
	if got := string(marshal(t, p)); got != want {
		t.Errorf("Marshal with extra:\n%s\nwant:\n%s", got, want)
	}
}

// Every entry's proof, for an Ed25519 and an ECDSA log key, round-trips
// through Marshal and Parse byte for byte and verifies with the log's
// verifier, naming the witness's cosignature as unchecked.
func TestRoundTrip(t *testing.T) {
	for _, alg := range []note.Algorithm{note.Ed25519, note.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			l := newTestLog(t, alg)
			for i := range uint64(size) {
				data := marshal(t, l.proof(t, i))
				p, err := tlogproof.Parse(data)
				if err != nil {
					t.Fatalf("entry %d: %v\n%s", i, err, data)
				}
				if again := marshal(t, p); !bytes.Equal(again, data) {
					t.Fatalf("entry %d: Marshal(Parse(x)) differs:\n%s\nwant\n%s", i, again, data)
				}
				got, err := tlogproof.Verify(data, l.leaves[i], origin, l.verifier)
				if err != nil {
					t.Fatalf("entry %d: %v", i, err)
				}
				if got.Index != i || got.Size != size || got.Origin != origin || !bytes.Equal(got.RootHash, l.tree.Hash()) ||
					!bytes.Equal(got.LeafHash, l.tree.LeafHash(i)) || !slices.Equal(got.OtherSignatures, []string{witness}) {
					t.Errorf("entry %d: verified %+v", i, got)
				}
			}
		})
	}
}

// Extra data (even empty) round-trips and does not change what verifies.
func TestExtra(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	for _, extra := range [][]byte{{}, []byte("vrf proof"), bytes.Repeat([]byte{0xff}, 1000)} {
		p := l.proof(t, 7)
		p.Extra = extra
		data := marshal(t, p)
		back, err := tlogproof.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if back.Extra == nil || !bytes.Equal(back.Extra, extra) {
			t.Errorf("extra %q came back as %q", extra, back.Extra)
		}
		if _, err := back.Verify(l.leaves[7], origin, l.verifier); err != nil {
			t.Error(err)
		}
	}
}

// A one-entry tree has an empty proof.
func TestSingleEntry(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	cp := l.sign(t, log.Checkpoint{Origin: origin, Size: 1, Hash: l.tree.HashAt(1)})
	data := []byte("c2sp.org/tlog-proof@v1\nindex 0\n\n" + string(cp))
	if _, err := tlogproof.Verify(data, l.leaves[0], origin, l.verifier); err != nil {
		t.Fatal(err)
	}
}

// wantError fails unless err is a *tlogproof.Error of check whose message
// holds want.
func wantError(t *testing.T, err error, check tlogproof.Check, want string) {
	t.Helper()
	var pe *tlogproof.Error
	switch {
	case err == nil:
		t.Errorf("accepted; want %s error %q", check, want)
	case !errors.As(err, &pe):
		t.Errorf("untyped error %T: %v", err, err)
	case pe.Check != check || !strings.Contains(err.Error(), want):
		t.Errorf("got %s error %q; want %s error containing %q", pe.Check, err, check, want)
	}
}

// A flipped byte in the leaf, a proof hash, the checkpoint body or the
// log's signature is refused by the check it breaks; so are another
// origin and another key.
func TestVerifyRefuses(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	const index = 5
	good := marshal(t, l.proof(t, index))
	leaf := l.leaves[index]
	other, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	otherV, err := note.NewVerifier(origin, other.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		proof  []byte
		leaf   []byte
		origin string
		v      sumdbnote.Verifier
		check  tlogproof.Check
		want   string
	}{
		{"leaf byte", good, flip(leaf, 3), origin, l.verifier, tlogproof.CheckInclusion, "the leaf is not entry 5"},
		{"another entry's leaf", good, l.leaves[index+1], origin, l.verifier, tlogproof.CheckInclusion, "not the checkpoint's root"},
		{"proof hash byte", flipHash(t, l.proof(t, index), 2), leaf, origin, l.verifier, tlogproof.CheckInclusion, "a proof hash is wrong"},
		{"proof hash character", flipLine(t, good, 3), leaf, origin, l.verifier, tlogproof.CheckInclusion, "a proof hash is wrong"},
		{"checkpoint root", flipCheckpointRoot(t, good), leaf, origin, l.verifier, tlogproof.CheckCheckpoint, "does not verify"},
		{"log signature byte", flipSignature(t, good), leaf, origin, l.verifier, tlogproof.CheckCheckpoint, "does not verify"},
		{"another origin", good, leaf, "other.example.com", l.verifier, tlogproof.CheckCheckpoint, `signed for origin "log.example.com"`},
		{"another key", good, leaf, origin, otherV, tlogproof.CheckCheckpoint, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlogproof.Verify(tc.proof, tc.leaf, tc.origin, tc.v)
			wantError(t, err, tc.check, tc.want)
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// flipHash flips a byte of proof hash i and re-encodes the proof.
func flipHash(t *testing.T, p *tlogproof.Proof, i int) []byte {
	p.Hashes[i] = flip(p.Hashes[i], 10)
	return marshal(t, p)
}

// flipLine swaps the first character of line n (a base64 line) for
// another base64 letter.
func flipLine(t *testing.T, data []byte, n int) []byte {
	t.Helper()
	lines := bytes.SplitAfter(bytes.Clone(data), []byte("\n"))
	lines[n][0] = otherLetter(lines[n][0])
	return bytes.Join(lines, nil)
}

// otherLetter is a base64 letter other than c.
func otherLetter(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// flipCheckpointRoot changes the first character of the checkpoint's root
// hash line, which stays valid base64 of 32 bytes.
func flipCheckpointRoot(t *testing.T, data []byte) []byte {
	t.Helper()
	i := bytes.Index(data, []byte("\n\n"+origin+"\n"))
	if i < 0 {
		t.Fatal("no checkpoint")
	}
	j := i + len("\n\n"+origin+"\n")
	j += bytes.IndexByte(data[j:], '\n') + 1 // past the size line
	c := bytes.Clone(data)
	c[j] = otherLetter(c[j])
	return c
}

// flipSignature flips a byte of the log's signature (the first signature
// line) and re-encodes it: flipping a base64 character could land in
// padding bits.
func flipSignature(t *testing.T, data []byte) []byte {
	t.Helper()
	s := string(data)
	start := strings.Index(s, "\n— "+origin+" ") + len("\n— "+origin+" ")
	end := start + strings.IndexByte(s[start:], '\n')
	sig, err := base64.StdEncoding.DecodeString(s[start:end])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s[:start] + base64.StdEncoding.EncodeToString(flip(sig, 20)) + s[end:])
}
