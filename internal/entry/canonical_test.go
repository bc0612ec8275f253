package entry

import (
	"testing"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// TestCanonicalOutsideShape: what the direct canonical form does not write
// goes through protojson and JCS, which agree with it where both apply.
func TestCanonicalOutsideShape(t *testing.T) {
	key := func(kd v1.PublicKeyDetails, raw []byte) *pb.Signature {
		return &pb.Signature{Content: []byte("sig"), Verifier: &pb.Verifier{
			KeyDetails: kd, Verifier: &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: raw}}}}
	}
	digest := []byte("0123456789abcdef0123456789abcdef")
	p256 := v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	for _, c := range []struct {
		name   string
		digest []byte
		alg    v1.HashAlgorithm
		sig    *pb.Signature
		direct bool
	}{
		{"in shape", digest, v1.HashAlgorithm_SHA2_256, key(p256, []byte("der")), true},
		{"certificate", digest, v1.HashAlgorithm_SHA2_384, &pb.Signature{Content: []byte("s"), Verifier: &pb.Verifier{
			KeyDetails: p256, Verifier: &pb.Verifier_X509Certificate{X509Certificate: &v1.X509Certificate{RawBytes: []byte("c")}}}}, true},
		{"unnamed hash", digest, v1.HashAlgorithm(999), key(p256, []byte("der")), false},
		{"unspecified hash", digest, 0, key(p256, []byte("der")), false},
		{"unnamed key details", digest, v1.HashAlgorithm_SHA2_256, key(v1.PublicKeyDetails(999), []byte("der")), false},
		{"no key bytes", digest, v1.HashAlgorithm_SHA2_256, key(p256, nil), false},
		{"no verifier", digest, v1.HashAlgorithm_SHA2_256, &pb.Signature{Content: []byte("s")}, false},
		{"no digest", nil, v1.HashAlgorithm_SHA2_256, key(p256, []byte("der")), false},
	} {
		_, direct := appendHashedRekord(nil, c.digest, c.alg, c.sig)
		if direct != c.direct {
			t.Errorf("%s: written directly %v, want %v", c.name, direct, c.direct)
		}
		got, err := canonicalHashedRekord(c.digest, c.alg, c.sig)
		ref, refErr := canonicalHashedRekordJCS(c.digest, c.alg, c.sig)
		if err != nil || refErr != nil || string(got) != string(ref) {
			t.Errorf("%s: %s (%v), reference %s (%v)", c.name, got, err, ref, refErr)
		}
	}
}
