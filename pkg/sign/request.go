package sign

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// HashedRekordRequest signs artifact with key and returns the Rekor v2
// request that logs the signature: a hashedrekord v0.0.2 entry whose
// verifier is certDER (a DER certificate for key) or, when certDER is nil,
// key's PKIX public key.
//
// The key's Sigstore algorithm chooses the digest and the signature:
// ECDSA P-256, P-384 and P-521 sign the SHA-256, SHA-384 and SHA-512
// digest (ASN.1 DER); Ed25519 keys sign with Ed25519ph over SHA-512, the
// variant Rekor v2 accepts; RSA keys (2048 to 4096 bits) sign the SHA-256
// digest with PKCS #1 v1.5. The request's Digest and Signature.Content are
// the digest and signature, for a bundle or a timestamp; the request is
// not sent anywhere (see client.AddEntry). Whether certDER certifies key is
// not checked.
func HashedRekordRequest(key crypto.Signer, certDER []byte, artifact io.Reader) (*pb.CreateEntryRequest, error) {
	kd, ad, err := algorithmFor(key.Public())
	if err != nil {
		return nil, err
	}
	h := ad.GetHashType().New()
	if _, err := io.Copy(h, artifact); err != nil {
		return nil, fmt.Errorf("reading the artifact: %w", err)
	}
	digest := h.Sum(nil)
	sig, err := signDigest(key, ad.GetHashType(), digest)
	if err != nil {
		return nil, err
	}
	ver, err := verifier(kd, key.Public(), certDER)
	if err != nil {
		return nil, err
	}
	return &pb.CreateEntryRequest{Spec: &pb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &pb.HashedRekordRequestV002{
			Digest: digest, Signature: &pb.Signature{Content: sig, Verifier: ver},
		},
	}}, nil
}

// verifier is the log's record of who signed: the certificate when there
// is one, otherwise the public key.
func verifier(kd v1.PublicKeyDetails, pub crypto.PublicKey, certDER []byte) (*pb.Verifier, error) {
	if certDER != nil {
		return &pb.Verifier{KeyDetails: kd, Verifier: &pb.Verifier_X509Certificate{
			X509Certificate: &v1.X509Certificate{RawBytes: certDER}}}, nil
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	return &pb.Verifier{KeyDetails: kd, Verifier: &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: der}}}, nil
}
