package note_test

import (
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// testLog is a log key and a signed checkpoint of size 3 by it.
type testLog struct {
	key      crypto.Signer
	signer   sumdbnote.Signer
	verifier sumdbnote.Verifier
	pemKey   []byte
	vkey     string
	cp       []byte
}

func newTestLog(t *testing.T, alg note.Algorithm) *testLog {
	t.Helper()
	key, err := note.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(t.Context(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := note.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := note.VerifierKey(origin, key.Public()) // none for ECDSA
	l := &testLog{key: key, signer: s, verifier: v, pemKey: pemKey, vkey: vkey}
	l.cp = l.sign(t, log.Checkpoint{Origin: origin, Size: 3, Hash: make([]byte, 32)})
	return l
}

func (l *testLog) sign(t *testing.T, cp log.Checkpoint) []byte {
	t.Helper()
	return sign(t, l.signer, string(cp.Marshal()))
}

func TestVerifyCheckpoint(t *testing.T) {
	for _, alg := range []note.Algorithm{note.Ed25519, note.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			l := newTestLog(t, alg)
			cp, err := note.VerifyCheckpoint(l.cp, origin, l.verifier)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Origin != origin || cp.Size != 3 || len(cp.Hash) != 32 {
				t.Errorf("checkpoint %+v", cp)
			}
			other := newTestLog(t, alg)
			for name, raw := range map[string][]byte{
				"changed body":   []byte(strings.Replace(string(l.cp), "\n3\n", "\n4\n", 1)),
				"other key":      other.cp,
				"short root":     l.sign(t, log.Checkpoint{Origin: origin, Size: 1, Hash: []byte{1}}),
				"not a note":     []byte("hello"),
				"unsigned":       log.Checkpoint{Origin: origin, Size: 3, Hash: make([]byte, 32)}.Marshal(),
				"empty":          nil,
				"signature only": []byte("\n— " + origin + " AAAA\n"),
			} {
				_, err := note.VerifyCheckpoint(raw, origin, l.verifier)
				var ce *note.CheckpointError
				var oe *note.OriginError
				if !errors.As(err, &ce) || errors.As(err, &oe) {
					t.Errorf("%s: %v, want a CheckpointError that is not an OriginError", name, err)
					continue
				}
				if !strings.HasPrefix(err.Error(), `the checkpoint of log "`+origin+`" does not verify: `) {
					t.Errorf("%s: %q does not name the log", name, err)
				}
			}
			if _, err := note.VerifyCheckpoint(l.cp, origin, nil); err == nil {
				t.Error("a checkpoint verified without a verifier")
			}
		})
	}
}

// A checkpoint of another origin says both origins, not that no signature
// verifies, whichever key the caller holds.
func TestVerifyCheckpointOrigin(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	const want = `the checkpoint is signed for origin "log.example.com", you asked for "127.0.0.1"`
	for _, tc := range []struct {
		name, origin string
		v            sumdbnote.Verifier
	}{
		{"its key", "127.0.0.1", mustVerifier(t, "127.0.0.1", l.pemKey)},
		{"the origin's vkey", "127.0.0.1", l.verifier},
	} {
		_, err := note.VerifyCheckpoint(l.cp, tc.origin, tc.v)
		var oe *note.OriginError
		var ce *note.CheckpointError
		if !errors.As(err, &oe) || !errors.As(err, &ce) {
			t.Fatalf("%s: %v, want an OriginError inside a CheckpointError", tc.name, err)
		}
		if err.Error() != want {
			t.Errorf("%s: %q, want %q", tc.name, err, want)
		}
		if oe.Got != origin || oe.Want != "127.0.0.1" {
			t.Errorf("%s: %+v", tc.name, oe)
		}
	}
}

func mustVerifier(t *testing.T, origin string, pemKey []byte) sumdbnote.Verifier {
	t.Helper()
	v, _, err := note.LogVerifier("", origin, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseCheckpoint(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	cp, err := note.ParseCheckpoint(l.cp)
	if err != nil || cp.Origin != origin || cp.Size != 3 {
		t.Fatalf("ParseCheckpoint: %+v, %v", cp, err)
	}
	for _, raw := range []string{"", "hello", origin + "\n3\n", origin + "\nx\nAAAA\n\n— sig\n", "\n\n"} {
		if _, err := note.ParseCheckpoint([]byte(raw)); err == nil {
			t.Errorf("ParseCheckpoint(%q) accepted", raw)
		}
	}
}

func TestLogVerifier(t *testing.T) {
	l := newTestLog(t, note.Ed25519)
	for _, tc := range []struct {
		name, vkey, origin string
		pem                []byte
		err                string
	}{
		{name: "vkey", vkey: l.vkey},
		{name: "public key", origin: origin, pem: l.pemKey},
		{name: "both", vkey: l.vkey, pem: l.pemKey, err: "not both"},
		{name: "neither", err: "no log verifier"},
		{name: "bad vkey", vkey: origin + "+00+AAAA", err: "parsing verifier key"},
		{name: "key without origin", pem: l.pemKey, err: "needs the log's origin"},
		{name: "bad PEM", origin: origin, pem: []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), err: "PUBLIC KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, gotOrigin, err := note.LogVerifier(tc.vkey, tc.origin, tc.pem)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gotOrigin != origin {
				t.Errorf("origin %q", gotOrigin)
			}
			if cp, err := note.VerifyCheckpoint(l.cp, gotOrigin, v); err != nil || cp.Size != 3 {
				t.Errorf("checkpoint does not verify: %v", err)
			}
		})
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte(origin + "\n3\nAAAA\n\n— " + origin + " AAAA\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cp, err := note.ParseCheckpoint(raw)
		if err == nil && cp.Origin == "" {
			t.Errorf("accepted a checkpoint without an origin: %q", raw)
		}
	})
}
