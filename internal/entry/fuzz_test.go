package entry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// FuzzDecode checks that no input makes the decoder panic or misbehave: it
// either returns a typed client error, or an entry whose leaf is canonical
// JSON (byte for byte what protojson and a JCS canonicaliser make) and
// identical on a second decode, with the identity LeafIdentity
// computes from the leaf alone. Seeds: testdata/fuzz/FuzzDecode
// (valid requests of every key type, and near misses) plus fresh requests.
func FuzzDecode(f *testing.F) {
	for _, body := range clientRequests(f, "seed") {
		f.Add(body)
	}
	p256 := mosaictest.NewSigner(f, mosaictest.ECDSAP256)
	high := p256.RequestS(f, []byte("seed"), true)
	f.Add(high)
	f.Add(p256.Twin(f, high))
	d, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := d.Decode(body)
		if err != nil {
			var invalid *entry.InvalidError
			var limit *entry.LimitError
			if !errors.As(err, &invalid) && !errors.As(err, &limit) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if !json.Valid(e.Body) {
			t.Fatalf("leaf is not JSON: %q", e.Body)
		}
		again, err := d.Decode(body)
		if err != nil || !bytes.Equal(again.Body, e.Body) {
			t.Fatalf("second decode differs: %v", err)
		}
		if ref, err := entry.ReferenceLeaf(body); err != nil || !bytes.Equal(ref, e.Body) {
			t.Fatalf("leaf differs from the protojson+JCS reference (%v):\n%s\n%s", err, e.Body, ref)
		}
		if !bytes.Equal(e.Identity, entry.LeafIdentity(e.Body)) {
			t.Fatalf("identity %x, LeafIdentity says %x", e.Identity, entry.LeafIdentity(e.Body))
		}
		if len(e.Body) > 65535 {
			t.Fatalf("leaf of %d bytes cannot be stored in an entry bundle", len(e.Body))
		}
	})
}
