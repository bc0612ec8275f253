package entry

import (
	"bytes"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
)

// LeafIdentity is the identity under which the log deduplicates the leaf:
// SHA-256 of the leaf with its ECDSA signature, if it has one, normalised to
// low S. An ECDSA signature (r, s) verifies exactly when (r, n−s) does, so
// anyone can make a second, equally valid entry from a logged one; the two
// must be one entry. The logged leaf keeps its signature as submitted (Go's
// crypto/ecdsa produces high S half of the time, and sigstore-go compares the
// logged signature with the bundle's byte for byte), so the normalisation
// lives in the identity only. For every other leaf (other algorithms, other
// kinds, anything that is not a hashedrekord leaf this package produced) it
// is SHA-256 of the leaf, which is Tessera's identity (tessera.NewEntry).
//
// It reads only the leaf's first few hundred bytes (the signature comes
// before the verifier in the canonical JSON) and allocates only for a
// high-S signature, so it is cheap enough for the sequencing path.
func LeafIdentity(leaf []byte) []byte {
	if start, end, curve, ok := ecdsaSignature(leaf); ok {
		if low, ok := lowS(leaf[start:end], curve); ok {
			h := sha256.New()
			h.Write(leaf[:start])
			h.Write(low)
			h.Write(leaf[end:])
			return h.Sum(nil)
		}
	}
	id := sha256.Sum256(leaf)
	return id[:]
}

// The canonical (JCS) hashedrekord v0.0.2 leaf, as canonicalHashedRekord
// writes it: keys sorted, so the data object comes first, then the
// signature's content, then its verifier's keyDetails.
const (
	hashedRekordLeafPrefix = `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{`
	signatureContentKey    = `},"signature":{"content":"`
	verifierKeyDetailsKey  = `","verifier":{"keyDetails":"`
)

// ecdsaCurves maps the keyDetails of ECDSA algorithms to their curves.
var ecdsaCurves = map[string]elliptic.Curve{
	"PKIX_ECDSA_P256_SHA_256":      elliptic.P256(),
	"PKIX_ECDSA_P256_HMAC_SHA_256": elliptic.P256(),
	"PKIX_ECDSA_P384_SHA_384":      elliptic.P384(),
	"PKIX_ECDSA_P384_SHA_256":      elliptic.P384(),
	"PKIX_ECDSA_P521_SHA_512":      elliptic.P521(),
	"PKIX_ECDSA_P521_SHA_256":      elliptic.P521(),
}

// ecdsaSignature finds the base64 signature content of a canonical
// hashedrekord leaf whose keyDetails name an ECDSA algorithm: leaf[start:end]
// is the base64 text.
func ecdsaSignature(leaf []byte) (start, end int, curve elliptic.Curve, ok bool) {
	if !bytes.HasPrefix(leaf, []byte(hashedRekordLeafPrefix)) {
		return 0, 0, nil, false
	}
	// The data object holds only an enum name and base64: no '}' inside.
	dataEnd := len(hashedRekordLeafPrefix) + bytes.IndexByte(leaf[len(hashedRekordLeafPrefix):], '}')
	if dataEnd < len(hashedRekordLeafPrefix) || !bytes.HasPrefix(leaf[dataEnd:], []byte(signatureContentKey)) {
		return 0, 0, nil, false
	}
	start = dataEnd + len(signatureContentKey)
	n := bytes.IndexByte(leaf[start:], '"')
	if n < 0 {
		return 0, 0, nil, false
	}
	end = start + n
	if !bytes.HasPrefix(leaf[end:], []byte(verifierKeyDetailsKey)) {
		return 0, 0, nil, false
	}
	kd := leaf[end+len(verifierKeyDetailsKey):]
	if n = bytes.IndexByte(kd, '"'); n < 0 {
		return 0, 0, nil, false
	}
	curve, ok = ecdsaCurves[string(kd[:n])]
	return start, end, curve, ok
}

// lowS returns the base64 of the DER ECDSA signature sig64 (base64) with s
// replaced by n−s when s > n/2. ok is false when sig64 is already low S or
// is not a DER signature crypto/ecdsa would accept, which then keeps its
// bytes as its identity.
func lowS(sig64 []byte, curve elliptic.Curve) (low []byte, ok bool) {
	der := make([]byte, base64.StdEncoding.DecodedLen(len(sig64)))
	n, err := base64.StdEncoding.Decode(der, sig64)
	if err != nil {
		return nil, false
	}
	// encoding/asn1 takes only minimal DER, as crypto/ecdsa's VerifyASN1
	// does, so a signature the decoder accepted parses here.
	var sig ecdsaSig
	rest, err := asn1.Unmarshal(der[:n], &sig)
	if err != nil || len(rest) > 0 || sig.R == nil || sig.S == nil {
		return nil, false
	}
	order := curve.Params().N
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.S.Cmp(order) >= 0 || sig.S.Cmp(new(big.Int).Rsh(order, 1)) <= 0 {
		return nil, false
	}
	sig.S.Sub(order, sig.S)
	out, err := asn1.Marshal(sig)
	if err != nil {
		return nil, false
	}
	return base64.StdEncoding.AppendEncode(nil, out), true
}

// ecdsaSig is the DER form of an ECDSA signature (RFC 3279 section 2.2.3).
type ecdsaSig struct{ R, S *big.Int }
