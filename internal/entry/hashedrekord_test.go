package entry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

func newDecoder(t testing.TB) *entry.Decoder {
	t.Helper()
	d, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDecodeValid(t *testing.T) {
	d := newDecoder(t)
	signers := map[string]*mosaictest.Signer{
		"ecdsa-p256": mosaictest.NewSigner(t, mosaictest.ECDSAP256),
		"ecdsa-p384": mosaictest.NewSigner(t, mosaictest.ECDSAP384),
		"ecdsa-p521": mosaictest.NewSigner(t, mosaictest.ECDSAP521),
		"ed25519ph":  mosaictest.NewSigner(t, mosaictest.Ed25519ph),
		"rsa-2048":   mosaictest.NewSigner(t, mosaictest.RSA2048),
		"cert":       mosaictest.NewCertSigner(t, "signer@example.com"),
	}
	for name, s := range signers {
		t.Run(name, func(t *testing.T) {
			req := s.RequestProto(t, []byte("artifact "+name))
			body, _ := protojson.Marshal(req)
			e, err := d.Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if e.Kind != "hashedrekord" || e.Version != "0.0.2" {
				t.Errorf("kind/version = %s/%s", e.Kind, e.Version)
			}
			// The leaf must be what sigstore-go rebuilds from a bundle, and
			// what rekor-tiles itself would log for this request.
			hr := req.GetHashedRekordRequestV002()
			want, err := hashedrekord.ToEntryHash(hr.GetDigest(), hr.GetSignature())
			if err != nil {
				t.Fatal(err)
			}
			if got := rfc6962.DefaultHasher.HashLeaf(e.Body); !bytes.Equal(got, want) {
				t.Errorf("leaf hash %x, sigstore-go rebuilds %x; body %s", got, want, e.Body)
			}
			reg, _ := signature.NewAlgorithmRegistryConfig(entry.DefaultAlgorithms)
			ref, err := hashedrekord.ToLogEntry(hr, reg)
			if err != nil {
				t.Fatalf("rekor-tiles rejects what Mosaic accepts: %v", err)
			}
			refJSON, _ := protojson.Marshal(ref)
			var a, b any
			_ = json.Unmarshal(refJSON, &a)
			_ = json.Unmarshal(e.Body, &b)
			if !jsonEqual(a, b) {
				t.Errorf("Mosaic's entry differs from rekor-tiles':\n%s\n%s", e.Body, refJSON)
			}
			// Byte for byte what protojson and a JCS canonicaliser make.
			if ref, err := entry.ReferenceLeaf(body); err != nil || !bytes.Equal(ref, e.Body) {
				t.Errorf("leaf differs from the protojson+JCS reference (%v):\n%s\n%s", err, e.Body, ref)
			}
			// Equal input, equal bytes.
			again, err := d.Decode(body)
			if err != nil || !bytes.Equal(again.Body, e.Body) {
				t.Errorf("decoding the same request twice gave different leaves")
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestCanonicalBodyShape(t *testing.T) {
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	body := s.Request(t, []byte("x"))
	e, err := newDecoder(t).Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	prefix := `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":"`
	if !strings.HasPrefix(string(e.Body), prefix) {
		t.Errorf("canonical body %s\ndoes not start with %s", e.Body, prefix)
	}
	if bytes.ContainsAny(e.Body, " \n\t") {
		t.Errorf("canonical body has white space: %s", e.Body)
	}
}

// mutate decodes a valid request into a generic JSON tree, applies f and
// re-encodes it, so each bad input differs from a good one in one place.
func mutate(t *testing.T, s *mosaictest.Signer, f func(hr map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.Request(t, []byte("artifact")), &m); err != nil {
		t.Fatal(err)
	}
	f(m["hashedRekordRequestV002"].(map[string]any))
	out, _ := json.Marshal(m)
	return out
}

func sigOf(hr map[string]any) map[string]any   { return hr["signature"].(map[string]any) }
func verOf(hr map[string]any) map[string]any   { return sigOf(hr)["verifier"].(map[string]any) }
func b64(b []byte) string                      { return base64.StdEncoding.EncodeToString(b) }
func digestOf(s string) []byte                 { d := sha256.Sum256([]byte(s)); return d[:] }
func repeat(n int) string                      { return b64(bytes.Repeat([]byte{0x30}, n)) }
func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }

func TestDecodeBadInputs(t *testing.T) {
	d := newDecoder(t)
	p256 := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	p384 := mosaictest.NewSigner(t, mosaictest.ECDSAP384)
	other := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	cert := mosaictest.NewCertSigner(t, "a@example.com")
	tests := []struct {
		name    string
		body    []byte
		limit   bool // a *LimitError rather than an *InvalidError
		message string
	}{
		{"not json", []byte("{"), false, "malformed request"},
		{"json array", []byte("[]"), false, "malformed request"},
		{"empty object", []byte("{}"), false, "request must contain hashedRekordRequestV002"},
		{"unknown oneof", []byte(`{"intotoRequestV002":{}}`), false, "malformed request"},
		{"unknown field", mutate(t, p256, set("extra", 1)), false, "malformed request"},
		{"dsse", []byte(`{"dsseRequestV002":{}}`), false, "dsseRequestV002 entries are not accepted"},
		{"missing digest", mutate(t, p256, func(hr map[string]any) { delete(hr, "digest") }), false, "digest is missing"},
		{"digest bad base64", mutate(t, p256, set("digest", "!!!not base64")), false, "malformed request"},
		{"digest too short", mutate(t, p256, set("digest", b64([]byte("short")))), false, "digest is 5 bytes"},
		{"sha384 digest for p256", mutate(t, p256, set("digest", b64(make([]byte, 48)))), false, "digest is 48 bytes"},
		{"missing signature", mutate(t, p256, func(hr map[string]any) { delete(hr, "signature") }), false, "signature is missing"},
		{"missing signature content", mutate(t, p256, func(hr map[string]any) { delete(sigOf(hr), "content") }), false, "signature.content is missing"},
		{"signature bad base64", mutate(t, p256, func(hr map[string]any) { sigOf(hr)["content"] = "@@@" }), false, "malformed request"},
		{"signature over other digest", mutate(t, p256, set("digest", b64(digestOf("other")))), false, "signature does not verify"},
		{"signature by other key", mutate(t, p256, func(hr map[string]any) {
			verOf(hr)["publicKey"] = map[string]any{"rawBytes": b64(other.PublicKeyDER)}
		}), false, "signature does not verify"},
		{"missing verifier", mutate(t, p256, func(hr map[string]any) { delete(sigOf(hr), "verifier") }), false, "signature.verifier is missing"},
		{"missing key details", mutate(t, p256, func(hr map[string]any) { delete(verOf(hr), "keyDetails") }), false, "keyDetails is missing"},
		{"unknown key details", mutate(t, p256, func(hr map[string]any) { verOf(hr)["keyDetails"] = "NOT_AN_ALGORITHM" }), false, "malformed request"},
		{"unsupported algorithm (RSA-PSS)", mutate(t, p256, func(hr map[string]any) { verOf(hr)["keyDetails"] = "PKIX_RSA_PSS_2048_SHA256" }), false, "unsupported signing algorithm PKIX_RSA_PSS_2048_SHA256"},
		{"unsupported algorithm (pure Ed25519)", mutate(t, p256, func(hr map[string]any) { verOf(hr)["keyDetails"] = "PKIX_ED25519" }), false, "unsupported signing algorithm PKIX_ED25519"},
		{"key details mismatch", mutate(t, p256, func(hr map[string]any) { verOf(hr)["keyDetails"] = "PKIX_ECDSA_P384_SHA_384" }), false, "does not match the submitted"},
		{"p384 key called p256", mutate(t, p384, func(hr map[string]any) { verOf(hr)["keyDetails"] = "PKIX_ECDSA_P256_SHA_256" }), false, "does not match the submitted"},
		{"no key or certificate", mutate(t, p256, func(hr map[string]any) { delete(verOf(hr), "publicKey") }), false, "must contain publicKey or x509Certificate"},
		{"empty key", mutate(t, p256, func(hr map[string]any) { verOf(hr)["publicKey"] = map[string]any{} }), false, "publicKey.rawBytes is missing"},
		{"garbage key", mutate(t, p256, func(hr map[string]any) { verOf(hr)["publicKey"] = map[string]any{"rawBytes": repeat(64)} }), false, "not a PKIX DER public key"},
		{"garbage certificate", mutate(t, cert, func(hr map[string]any) {
			verOf(hr)["x509Certificate"] = map[string]any{"rawBytes": repeat(300)}
		}), false, "not a DER X.509 certificate"},
		{"empty certificate", mutate(t, cert, func(hr map[string]any) { verOf(hr)["x509Certificate"] = map[string]any{} }), false, "x509Certificate.rawBytes is missing"},
		{"oversized key", mutate(t, p256, func(hr map[string]any) {
			verOf(hr)["publicKey"] = map[string]any{"rawBytes": repeat(entry.DefaultLimits.MaxKeyBytes + 1)}
		}), true, "exceeds the limit of 2048 bytes (max-key-bytes)"},
		{"oversized certificate", mutate(t, cert, func(hr map[string]any) {
			verOf(hr)["x509Certificate"] = map[string]any{"rawBytes": repeat(entry.DefaultLimits.MaxCertificateBytes + 1)}
		}), true, "(max-certificate-bytes)"},
		{"oversized signature", mutate(t, p256, func(hr map[string]any) { sigOf(hr)["content"] = repeat(2000) }), true, "signature: 2000 bytes exceeds the limit of 1024 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := d.Decode(tc.body)
			if err == nil {
				t.Fatalf("Decode accepted a bad request: %s", e.Body)
			}
			var invalid *entry.InvalidError
			var limit *entry.LimitError
			if tc.limit && !errors.As(err, &limit) {
				t.Fatalf("error %T %q, want *LimitError", err, err)
			}
			if !tc.limit && !errors.As(err, &invalid) {
				t.Fatalf("error %T %q, want *InvalidError", err, err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	only, err := entry.ParseAlgorithms("ecdsa-sha2-256-nistp256")
	if err != nil {
		t.Fatal(err)
	}
	d, err := entry.NewDecoder(entry.DefaultLimits, only)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(mosaictest.NewSigner(t, mosaictest.ECDSAP256).Request(t, []byte("a"))); err != nil {
		t.Errorf("allowed algorithm refused: %v", err)
	}
	_, err = d.Decode(mosaictest.NewSigner(t, mosaictest.Ed25519ph).Request(t, []byte("a")))
	if err == nil || !strings.Contains(err.Error(), "unsupported signing algorithm PKIX_ED25519_PH (allowed: ecdsa-sha2-256-nistp256)") {
		t.Errorf("algorithm outside the allow-list: err = %v", err)
	}
	for _, bad := range []string{"", "  ,", "rsa-sign-pkcs1-1024-sha1", "nope"} {
		if _, err := entry.ParseAlgorithms(bad); err == nil {
			t.Errorf("ParseAlgorithms(%q) accepted", bad)
		}
	}
}

// The enum names in requests must match protobuf-specs exactly.
func TestKeyDetailsNames(t *testing.T) {
	for _, a := range entry.DefaultAlgorithms {
		if _, ok := v1.PublicKeyDetails_value[a.String()]; !ok {
			t.Errorf("%v has no protobuf name", a)
		}
	}
	var req pb.CreateEntryRequest
	if err := protojson.Unmarshal([]byte(`{"hashedRekordRequestV002":{"signature":{"verifier":{"keyDetails":"PKIX_ED25519_PH"}}}}`), &req); err != nil {
		t.Fatal(err)
	}
}
