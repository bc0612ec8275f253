package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/mosaiclog/mosaic/internal/jsonobject"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// signingRequest is a parsed CreateSigningCertificateRequest: a key and
// either a proof of possession or a CSR vouching for it.
type signingRequest struct {
	// token is credentials.oidcIdentityToken; empty when the body has none
	// (clients may send it as a Bearer token instead).
	token string
	key   crypto.PublicKey
	// Exactly one of proof and csr is set. proof is the key's signature
	// over the identity's challenge; csr's own signature is the proof.
	proof []byte
	csr   *x509.CertificateRequest
}

// parseSigningRequest decodes the protojson form of Fulcio's
// CreateSigningCertificateRequest. Field names may be lowerCamelCase or the
// proto's snake_case; unknown fields are ignored, as Fulcio's gateway does;
// null means absent. Its errors name the offending field and are meant for
// the client. It checks encodings only: key strength and signatures are
// checked later.
func parseSigningRequest(body []byte) (*signingRequest, error) {
	top, err := decodeObject(body, "request body")
	if err != nil {
		return nil, err
	}
	req := &signingRequest{}
	if raw, ok := top["credentials"]; ok {
		creds, err := decodeObject(raw, "credentials")
		if err != nil {
			return nil, err
		}
		if req.token, err = stringField(creds, "oidcIdentityToken", "credentials.oidcIdentityToken"); err != nil {
			return nil, err
		}
	}
	pkr, hasPKR := top["publicKeyRequest"]
	csr, hasCSR := top["certificateSigningRequest"]
	switch {
	case hasPKR && hasCSR:
		return nil, errors.New("the request has both publicKeyRequest and certificateSigningRequest; send one")
	case hasPKR:
		req.key, req.proof, err = parsePublicKeyRequest(pkr)
	case hasCSR:
		req.csr, err = parseCSRField(csr)
		if err == nil {
			req.key = req.csr.PublicKey
		}
	default:
		return nil, errors.New("the request has neither publicKeyRequest nor certificateSigningRequest")
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

func parsePublicKeyRequest(raw json.RawMessage) (crypto.PublicKey, []byte, error) {
	pkr, err := decodeObject(raw, "publicKeyRequest")
	if err != nil {
		return nil, nil, err
	}
	rawKey, ok := pkr["publicKey"]
	if !ok {
		return nil, nil, errors.New("publicKeyRequest.publicKey is missing")
	}
	pk, err := decodeObject(rawKey, "publicKeyRequest.publicKey")
	if err != nil {
		return nil, nil, err
	}
	// algorithm is ignored, as Fulcio ignores it (the key says what it is);
	// only its JSON type is checked.
	if alg, ok := pk["algorithm"]; ok {
		var v any
		if err := json.Unmarshal(alg, &v); err != nil {
			return nil, nil, fmt.Errorf("publicKeyRequest.publicKey.algorithm: %w", err)
		}
		switch v.(type) {
		case string, float64:
		default:
			return nil, nil, errors.New("publicKeyRequest.publicKey.algorithm must be an enum name or number")
		}
	}
	content, err := stringField(pk, "content", "publicKeyRequest.publicKey.content")
	if err != nil {
		return nil, nil, err
	}
	if content == "" {
		return nil, nil, errors.New("publicKeyRequest.publicKey.content is missing; want a PEM or base64 DER public key")
	}
	key, err := parsePublicKey(content)
	if err != nil {
		return nil, nil, fmt.Errorf("publicKeyRequest.publicKey.content: %w", err)
	}
	proof, err := bytesField(pkr, "proofOfPossession", "publicKeyRequest.proofOfPossession")
	if err != nil {
		return nil, nil, err
	}
	if len(proof) == 0 {
		return nil, nil, errors.New("publicKeyRequest.proofOfPossession is missing; want the key's base64 signature over the token's subject (or email)")
	}
	return key, proof, nil
}

// parsePublicKey reads a PEM public key (PKIX or PKCS#1 RSA) or the base64
// of a DER PKIX one.
func parsePublicKey(content string) (crypto.PublicKey, error) {
	if strings.Contains(content, "-----BEGIN") {
		key, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(content))
		if err != nil {
			return nil, fmt.Errorf("not a PEM public key: %w", err)
		}
		return key, nil
	}
	der, err := decodeBase64(content)
	if err != nil {
		return nil, errors.New("neither PEM nor base64: want a PEM or base64 DER public key")
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a DER SubjectPublicKeyInfo: %w", err)
	}
	return key, nil
}

// parseCSRField reads certificateSigningRequest: protojson bytes (base64)
// holding a PEM CSR, as Fulcio documents; a DER CSR is also accepted.
func parseCSRField(raw json.RawMessage) (*x509.CertificateRequest, error) {
	data, err := bytesValue(raw, "certificateSigningRequest")
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errors.New("certificateSigningRequest is empty; want the base64 of a PEM CSR")
	}
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("certificateSigningRequest holds a PEM %q block, want CERTIFICATE REQUEST", block.Type)
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("certificateSigningRequest is not a PKCS#10 CSR: %w", err)
	}
	return csr, nil
}

// decodeObject decodes a JSON object into its members, with snake_case
// names turned into lowerCamelCase and null members left out. A name given
// twice (in either form) is an error, as in protojson.
func decodeObject(data []byte, what string) (map[string]json.RawMessage, error) {
	members, err := jsonobject.Members(data, what, lowerCamel)
	if err != nil {
		return nil, err
	}
	for name, v := range members {
		if string(v) == "null" {
			delete(members, name)
		}
	}
	return members, nil
}

// lowerCamel maps a proto field name to its JSON name ("proof_of_possession"
// to "proofOfPossession"); a lowerCamelCase name is unchanged.
func lowerCamel(name string) string {
	if !strings.Contains(name, "_") {
		return name
	}
	parts := strings.Split(name, "_")
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1:] {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// stringField returns the string member name of obj, "" when absent.
func stringField(obj map[string]json.RawMessage, name, path string) (string, error) {
	raw, ok := obj[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s must be a string", path)
	}
	return s, nil
}

// bytesField returns the protojson bytes member name of obj, nil when absent.
func bytesField(obj map[string]json.RawMessage, name, path string) ([]byte, error) {
	raw, ok := obj[name]
	if !ok {
		return nil, nil
	}
	return bytesValue(raw, path)
}

// bytesValue decodes a protojson bytes value: a base64 string, standard or
// URL alphabet, padded or not.
func bytesValue(raw json.RawMessage, path string) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s must be a base64 string", path)
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", path, err)
	}
	return b, nil
}

func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}
