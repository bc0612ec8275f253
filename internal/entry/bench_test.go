package entry_test

import (
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// BenchmarkDecode decodes, verifies and canonicalises one ECDSA P-256
// hashedrekord request, as every add does (allocs/op is the figure to
// watch; ECDSA verification is most of the time).
func BenchmarkDecode(b *testing.B) {
	d := newDecoder(b)
	body := mosaictest.NewSigner(b, mosaictest.ECDSAP256).Request(b, []byte("benchmark artifact"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
