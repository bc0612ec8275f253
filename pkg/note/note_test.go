package note_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

const origin = "log.example.com"

func sign(t *testing.T, s sumdbnote.Signer, text string) []byte {
	t.Helper()
	msg, err := sumdbnote.Sign(&sumdbnote.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestSignVerify(t *testing.T) {
	for _, alg := range []note.Algorithm{note.Ed25519, note.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			l := newTestLog(t, alg)
			key, v := l.key, l.verifier
			msg := sign(t, l.signer, origin+"\n1\nAAAA\n")
			if _, err := sumdbnote.Open(msg, sumdbnote.VerifierList(v)); err != nil {
				t.Fatalf("own signature does not verify: %v", err)
			}
			// Mangling: a changed body, a changed signature byte, another
			// origin or another key must all fail.
			body := bytes.Replace(msg, []byte("\n1\n"), []byte("\n2\n"), 1)
			if _, err := sumdbnote.Open(body, sumdbnote.VerifierList(v)); err == nil {
				t.Error("a changed body verified")
			}
			sig := flipSignatureByte(t, msg)
			if _, err := sumdbnote.Open(sig, sumdbnote.VerifierList(v)); err == nil {
				t.Error("a changed signature verified")
			}
			other, _ := note.NewVerifier("other.example.com", key.Public())
			if _, err := sumdbnote.Open(msg, sumdbnote.VerifierList(other)); err == nil {
				t.Error("verified under another origin")
			}
			k2, _ := note.GenerateKey(alg)
			v2, _ := note.NewVerifier(origin, k2.Public())
			if _, err := sumdbnote.Open(msg, sumdbnote.VerifierList(v2)); err == nil {
				t.Error("verified with another key")
			}
		})
	}
}

// flipSignatureByte changes one byte of the decoded signature and
// re-encodes it. Flipping a base64 character instead can land in padding
// bits the decoder ignores, which leaves the signature unchanged.
func flipSignatureByte(t *testing.T, msg []byte) []byte {
	t.Helper()
	text := string(msg)
	i := strings.LastIndex(text, "\n\n")
	line := strings.TrimSuffix(text[i+2:], "\n")
	prefix, b64, ok := strings.Cut(line, " ")
	if !ok || strings.Count(text[i+2:], "\n") != 1 {
		t.Fatalf("unexpected signature block %q", text[i+2:])
	}
	name, b64, ok := strings.Cut(b64, " ")
	if !ok {
		t.Fatalf("unexpected signature line %q", line)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x01
	return []byte(text[:i+2] + prefix + " " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n")
}

// Log IDs follow the formulas Rekor v2 and sigstore-go use, computed here
// independently of the code under test.
func TestLogID(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	want := sha256.Sum256(append(append([]byte(origin+"\n"), 0x01), pub...))
	got, err := note.LogID(origin, pub)
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Errorf("Ed25519 log ID %x, want %x (%v)", got, want, err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(ec.Public())
	wantEC := sha256.Sum256(der)
	gotEC, err := note.LogID(origin, ec.Public())
	if err != nil || !bytes.Equal(gotEC, wantEC[:]) {
		t.Errorf("ECDSA log ID %x, want %x (%v)", gotEC, wantEC, err)
	}
}

// The vkey string works with the standard signed-note verifier (what
// Tessera's tools and witnesses use) and matches our signatures.
func TestVerifierKey(t *testing.T) {
	key, _ := note.GenerateKey(note.Ed25519)
	vkey, err := note.VerifierKey(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vkey, origin+"+") {
		t.Errorf("vkey %q does not start with the origin", vkey)
	}
	std, err := sumdbnote.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(t.Context(), origin, key)
	if _, err := sumdbnote.Open(sign(t, s, origin+"\n5\nAAAA\n"), sumdbnote.VerifierList(std)); err != nil {
		t.Errorf("standard verifier rejects our signature: %v", err)
	}
	ec, _ := note.GenerateKey(note.ECDSAP256)
	if _, err := note.VerifierKey(origin, ec.Public()); err == nil {
		t.Error("a vkey for an ECDSA key")
	}
}

func TestKeyFiles(t *testing.T) {
	key, _ := note.GenerateKey(note.Ed25519)
	pemBytes, err := note.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := note.ParsePrivateKey(pemBytes)
	if err != nil || !key.Public().(ed25519.PublicKey).Equal(back.Public()) {
		t.Fatalf("round trip: %v", err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	ecDER, _ := x509.MarshalECPrivateKey(p384)
	bad := map[string][]byte{
		"empty":      nil,
		"not PEM":    []byte("hello"),
		"RSA key":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}),
		"P-384 key":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}),
		"SEC1 block": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"garbage":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("xx")}),
	}
	for name, b := range bad {
		if _, err := note.ParsePrivateKey(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := note.GenerateKey("rsa"); err == nil {
		t.Error("GenerateKey(rsa) accepted")
	}
}

func TestOrigin(t *testing.T) {
	for url, want := range map[string]string{
		"https://log.example.com":            "log.example.com",
		"http://127.0.0.1:3000":              "127.0.0.1",
		"https://log.example.com:8443/path/": "log.example.com",
	} {
		if got, err := note.OriginFromURL(url); err != nil || got != want {
			t.Errorf("OriginFromURL(%q) = %q, %v; want %q", url, got, err, want)
		}
	}
	for _, bad := range []string{"", "log.example.com", "::"} {
		if _, err := note.OriginFromURL(bad); err == nil {
			t.Errorf("OriginFromURL(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "a b", "a+b"} {
		if note.ValidOrigin(bad) == nil {
			t.Errorf("ValidOrigin(%q) accepted", bad)
		}
	}
}
