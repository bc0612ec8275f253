package mosaictest

import (
	"crypto/ecdsa"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"testing"
)

// ecdsaSig is the DER form of an ECDSA signature.
type ecdsaSig struct{ R, S *big.Int }

// Twin returns the request body that differs from body (a request this
// ECDSA signer built) only in its signature's s, replaced by n−s and
// re-encoded as DER: an equally valid signature anyone can make from a
// logged one, which the log must treat as the same entry.
func (s *Signer) Twin(t testing.TB, body []byte) []byte {
	t.Helper()
	key, ok := s.Key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("Twin needs an ECDSA signer, not %s", s.KeyDetails)
	}
	return Mutate(t, body, func(hr map[string]any) {
		sig := hr["signature"].(map[string]any)
		der, err := base64.StdEncoding.DecodeString(sig["content"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var rs ecdsaSig
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		rs.S.Sub(key.Curve.Params().N, rs.S)
		if der, err = asn1.Marshal(rs); err != nil {
			t.Fatal(err)
		}
		sig["content"] = base64.StdEncoding.EncodeToString(der)
	})
}

// RequestS builds the request for artifact with a signature whose s is in
// the upper half of the curve's order (high) or the lower half, as Go's
// crypto/ecdsa produces each about half of the time.
func (s *Signer) RequestS(t testing.TB, artifact []byte, high bool) []byte {
	t.Helper()
	key, ok := s.Key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("RequestS needs an ECDSA signer, not %s", s.KeyDetails)
	}
	for range 100 {
		body := s.Request(t, artifact)
		if HighS(t, body, key) == high {
			return body
		}
	}
	t.Fatal("100 signatures, all on the wrong side of n/2")
	return nil
}

// HighS reports whether the signature in a request body has s > n/2.
func HighS(t testing.TB, body []byte, key *ecdsa.PrivateKey) bool {
	t.Helper()
	var high bool
	Mutate(t, body, func(hr map[string]any) {
		der, err := base64.StdEncoding.DecodeString(hr["signature"].(map[string]any)["content"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var rs ecdsaSig
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		high = rs.S.Cmp(new(big.Int).Rsh(key.Curve.Params().N, 1)) > 0
	})
	return high
}
