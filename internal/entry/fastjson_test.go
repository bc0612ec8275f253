package entry_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeCommon holds decodeCommon to protojson: whatever it accepts,
// protojson accepts too and reads as the same message.
func FuzzDecodeCommon(f *testing.F) {
	for _, body := range clientRequests(f, "seed") {
		f.Add(body)
	}
	for _, s := range spellings(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := entry.DecodeCommon(body)
		if !ok {
			return
		}
		slow, err := entry.ProtojsonRequest(body)
		if err != nil {
			t.Fatalf("decodeCommon accepted what protojson refuses (%v): %q", err, body)
		}
		if !proto.Equal(fast, slow) {
			t.Fatalf("decodeCommon read %v, protojson %v, from %q", fast, slow, body)
		}
	})
}

// spellings are requests in the spellings protojson accepts besides the
// common one, and malformed ones.
func spellings(t testing.TB) []string {
	req := string(mosaictest.NewSigner(t, mosaictest.ECDSAP256).Request(t, []byte("spelling")))
	var m pb.CreateEntryRequest
	if err := protojson.Unmarshal([]byte(req), &m); err != nil {
		t.Fatal(err)
	}
	digest := base64.StdEncoding.EncodeToString(m.GetHashedRekordRequestV002().GetDigest())
	urlDigest := base64.RawURLEncoding.EncodeToString(m.GetHashedRekordRequestV002().GetDigest())
	return []string{
		strings.Replace(req, "hashedRekordRequestV002", "hashed_rekord_request_v002", 1),
		strings.Replace(req, "rawBytes", "raw_bytes", 1),
		strings.Replace(req, "keyDetails", "key_details", 1),
		strings.Replace(req, `"PKIX_ECDSA_P256_SHA_256"`, "5", 1),
		strings.Replace(req, digest, urlDigest, 1),
		strings.Replace(req, `"signature"`, `"signature":null,"x"`, 1),
		strings.Replace(req, `{"hashedRekordRequestV002":`, `{"hashedRekordRequestV002":{},"hashedRekordRequestV002":`, 1),
		strings.Replace(req, `"keyDetails"`, `"publicKey":{"rawBytes":"AA=="},"keyDetails"`, 1),
		strings.Replace(req, `"keyDetails"`, `"KeyDetails"`, 1),
		strings.Replace(req, `"PKIX_ECDSA_P256_SHA_256"`, `"NO_SUCH_KEY"`, 1),
		req + " x",
		`{"hashedRekordRequestV002":null}`,
		`{"dsseRequestV002":{}}`,
		`[]`,
		`{}`,
	}
}

// clientRequests are requests as clients send them for artifact: signed
// with a key of each type, and with a certificate.
func clientRequests(t testing.TB, artifact string) [][]byte {
	var bodies [][]byte
	for _, alg := range []mosaictest.Algorithm{mosaictest.ECDSAP256, mosaictest.Ed25519ph, mosaictest.RSA2048} {
		bodies = append(bodies, mosaictest.NewSigner(t, alg).Request(t, []byte(artifact)))
	}
	return append(bodies, mosaictest.NewCertSigner(t, "fuzz@example.com").Request(t, []byte(artifact)))
}

// The requests clients send take the common path.
func TestDecodeCommonTaken(t *testing.T) {
	for _, body := range clientRequests(t, "common") {
		if _, ok := entry.DecodeCommon(body); !ok {
			t.Errorf("decodeCommon declined a client's request: %s", body)
		}
	}
}

// Every other spelling is decided by protojson: the same entry as the
// common spelling where protojson accepts it, protojson's error where not.
func TestDecodeSpellings(t *testing.T) {
	d, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range spellings(t) {
		_, perr := entry.ProtojsonRequest([]byte(body))
		if _, ok := entry.DecodeCommon([]byte(body)); ok && !strings.HasPrefix(body, `{"hashedRekordRequestV002":{"digest"`) {
			t.Errorf("decodeCommon took an uncommon spelling: %s", body)
		}
		e, err := d.Decode([]byte(body))
		switch {
		case perr != nil && (err == nil || !strings.Contains(err.Error(), "malformed request")):
			t.Errorf("%s: protojson refuses it (%v), Decode says %v", body, perr, err)
		case perr == nil && err != nil && strings.Contains(err.Error(), "malformed request"):
			t.Errorf("%s: protojson reads it, Decode says %v", body, err)
		case perr == nil && err == nil:
			ref, rerr := entry.ReferenceLeaf([]byte(body))
			if rerr != nil || !bytes.Equal(ref, e.Body) {
				t.Errorf("%s: leaf %s, reference %s (%v)", body, e.Body, ref, rerr)
			}
		}
	}
}

// BenchmarkParseRequest compares reading a client's request through
// decodeCommon with protojson.
func BenchmarkParseRequest(b *testing.B) {
	body := mosaictest.NewSigner(b, mosaictest.ECDSAP256).Request(b, []byte("benchmark artifact"))
	b.Run("common", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := entry.DecodeCommon(body); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := entry.ProtojsonRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
