package entry_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

func sha(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// TestIdentityOfTwins: an ECDSA entry and its malleated twin (s → n−s) are
// different leaves with one identity, the SHA-256 of the low-S leaf; so a
// low-S entry keeps the identity it had before (SHA-256 of its leaf).
func TestIdentityOfTwins(t *testing.T) {
	d := newDecoder(t)
	for name, s := range map[string]*mosaictest.Signer{
		"p256": mosaictest.NewSigner(t, mosaictest.ECDSAP256),
		"p384": mosaictest.NewSigner(t, mosaictest.ECDSAP384),
		"p521": mosaictest.NewSigner(t, mosaictest.ECDSAP521),
		"cert": mosaictest.NewCertSigner(t, "twin@example.com"),
	} {
		for _, high := range []bool{false, true} {
			t.Run(name+map[bool]string{false: " low S", true: " high S"}[high], func(t *testing.T) {
				body := s.RequestS(t, []byte("twins"), high)
				e, err := d.Decode(body)
				if err != nil {
					t.Fatal(err)
				}
				twin, err := d.Decode(s.Twin(t, body))
				if err != nil {
					t.Fatalf("the twin does not decode: %v", err)
				}
				if bytes.Equal(e.Body, twin.Body) {
					t.Fatal("the twin's leaf equals the original's")
				}
				if !bytes.Equal(e.Identity, twin.Identity) {
					t.Errorf("identities differ: %x and %x", e.Identity, twin.Identity)
				}
				low := e
				if high {
					low = twin
				}
				if !bytes.Equal(e.Identity, sha(low.Body)) {
					t.Errorf("identity %x is not SHA-256 of the low-S leaf %x", e.Identity, sha(low.Body))
				}
				for _, x := range []*entry.Entry{e, twin} {
					if got := entry.LeafIdentity(x.Body); !bytes.Equal(got, x.Identity) {
						t.Errorf("LeafIdentity(leaf) = %x, the decoder said %x", got, x.Identity)
					}
				}
			})
		}
	}
}

// TestIdentityOfOthers: for every other algorithm, kind or leaf the
// identity is Tessera's, SHA-256 of the leaf.
func TestIdentityOfOthers(t *testing.T) {
	d := newDecoder(t)
	for _, alg := range []mosaictest.Algorithm{mosaictest.Ed25519ph, mosaictest.RSA2048} {
		e, err := d.Decode(mosaictest.NewSigner(t, alg).Request(t, []byte("others")))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Identity, sha(e.Body)) {
			t.Errorf("%s: identity %x, want SHA-256 of the leaf", alg, e.Identity)
		}
	}
	p256 := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	high, err := d.Decode(p256.RequestS(t, []byte("others"), true))
	if err != nil {
		t.Fatal(err)
	}
	for name, leaf := range map[string][]byte{
		"empty":       nil,
		"text":        []byte("leaf 1"),
		"DER":         {0x30, 0x03, 0x02, 0x01, 0x01},
		"prefix only": []byte(`{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{`),
		"cut short":   high.Body[:200],
		"not ECDSA": bytes.Replace(high.Body, []byte(`"keyDetails":"PKIX_ECDSA_P256_SHA_256"`),
			[]byte(`"keyDetails":"PKIX_ED25519_PH"`), 1),
		"bad base64": bytes.Replace(high.Body, []byte(`"content":"`), []byte(`"content":"!`), 1),
	} {
		if got := entry.LeafIdentity(leaf); !bytes.Equal(got, sha(leaf)) {
			t.Errorf("%s: identity %x, want SHA-256 of the leaf", name, got)
		}
	}
}

func BenchmarkLeafIdentity(b *testing.B) {
	s := mosaictest.NewCertSigner(b, "bench@example.com")
	d := newDecoder(b)
	for name, high := range map[string]bool{"low S": false, "high S": true} {
		e, err := d.Decode(s.RequestS(b, []byte("bench"), high))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				entry.LeafIdentity(e.Body)
			}
		})
	}
}
