package pki_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/mosaiclog/mosaic/internal/pki"
)

// FuzzParseChain checks that ParseChain never panics, and that whatever it
// accepts is a linked chain ending in a self-signed root that parses to the
// same certificates once re-encoded.
func FuzzParseChain(f *testing.F) {
	d := load(f, initDir(f, ""))
	f.Add(chainPEM(d.caChain...))
	f.Add(chainPEM(d.tsaChain...))
	f.Add(chainPEM(d.root))
	f.Add(chainPEM(d.root, d.caChain[0]))
	f.Add([]byte("subject=x\n" + string(chainPEM(d.caChain...)) + "trailer"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, input []byte) {
		chain, err := pki.ParseChain(input)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(chain) == 0 || len(chain) > pki.MaxChainLength {
			t.Fatalf("accepted a chain of %d certificates", len(chain))
		}
		for i := range len(chain) - 1 {
			if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
				t.Fatalf("accepted certificate %d not signed by the next: %v", i+1, err)
			}
		}
		again, err := pki.ParseChain(chainPEM(chain...))
		if err != nil {
			t.Fatalf("re-encoded chain refused: %v", err)
		}
		for i := range chain {
			if !again[i].Equal(chain[i]) {
				t.Fatalf("certificate %d changed on re-encoding", i+1)
			}
		}
	})
}

// FuzzParseSigner checks that ParseSigner never panics, and that a key it
// accepts survives a PKCS#8 round trip.
func FuzzParseSigner(f *testing.F) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pkcs8(f, ec))
	f.Add(pkcs8(f, ed))
	f.Add(pemBlock("EC PRIVATE KEY", sec1))
	f.Add(pemBlock("RSA PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}))
	f.Add(append(pkcs8(f, ec), pkcs8(f, ed)...))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, input []byte) {
		key, err := pki.ParseSigner(input)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again, err := pki.ParseSigner(pkcs8(t, key))
		if err != nil {
			t.Fatalf("re-encoded %T refused: %v", key, err)
		}
		if !again.Public().(publicKey).Equal(key.Public()) {
			t.Fatalf("%T changed on re-encoding", key)
		}
	})
}
