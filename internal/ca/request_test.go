package ca

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// requestSeeds are well-formed bodies: camelCase, snake_case, DER key, CSR.
func requestSeeds(t testing.TB) [][]byte {
	key := newECKey(t, elliptic.P256())
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	proof := base64.StdEncoding.EncodeToString(sign(t, key, "alice@example.com", 0))
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return [][]byte{
		mustJSON(map[string]any{
			"credentials":      map[string]any{"oidcIdentityToken": "tok"},
			"publicKeyRequest": map[string]any{"publicKey": map[string]any{"algorithm": "ECDSA", "content": string(pemKey)}, "proofOfPossession": proof},
		}),
		mustJSON(map[string]any{
			"credentials":        map[string]any{"oidc_identity_token": "tok"},
			"public_key_request": map[string]any{"public_key": map[string]any{"algorithm": 2, "content": base64.StdEncoding.EncodeToString(der)}, "proof_of_possession": proof},
		}),
		mustJSON(csrRequest(t, key, "ignored")),
	}
}

func TestParseSigningRequestForms(t *testing.T) {
	seeds := requestSeeds(t)
	camel, err := parseSigningRequest(seeds[0])
	if err != nil {
		t.Fatal(err)
	}
	snake, err := parseSigningRequest(seeds[1])
	if err != nil {
		t.Fatal(err)
	}
	if camel.token != "tok" || snake.token != "tok" {
		t.Errorf("tokens %q and %q, want tok", camel.token, snake.token)
	}
	if err := cryptoutils.EqualKeys(camel.key, snake.key); err != nil {
		t.Errorf("PEM and base64 DER forms give different keys: %v", err)
	}
	if string(camel.proof) != string(snake.proof) || len(camel.proof) == 0 || camel.csr != nil {
		t.Errorf("proofs differ or are empty")
	}
	csr, err := parseSigningRequest(seeds[2])
	if err != nil {
		t.Fatal(err)
	}
	if csr.csr == nil || csr.proof != nil || csr.token != "" {
		t.Errorf("CSR request parsed as %+v", csr)
	}
	if err := cryptoutils.EqualKeys(csr.key, camel.key); err != nil {
		t.Errorf("CSR key: %v", err)
	}

	// protojson bytes may use the URL alphabet and omit padding; null is
	// absent.
	var m map[string]any
	if err := json.Unmarshal(seeds[0], &m); err != nil {
		t.Fatal(err)
	}
	pkr := m["publicKeyRequest"].(map[string]any)
	pkr["proofOfPossession"] = base64.RawURLEncoding.EncodeToString(camel.proof)
	m["credentials"] = nil
	m["certificateSigningRequest"] = nil
	b, _ := json.Marshal(m)
	url, err := parseSigningRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(url.proof) != string(camel.proof) || url.token != "" {
		t.Errorf("URL-safe unpadded proof or null credentials misread")
	}
}

func TestParseSigningRequestBadInput(t *testing.T) {
	key := newECKey(t, elliptic.P256())
	pemKey, _ := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	pk := func(content, proof string) string {
		c, _ := json.Marshal(content)
		return `{"publicKeyRequest":{"publicKey":{"content":` + string(c) + `},"proofOfPossession":"` + proof + `"}}`
	}
	proof := base64.StdEncoding.EncodeToString([]byte("sig"))
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}))
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", ``, "request body is empty"},
		{"not JSON", `hello`, "not valid JSON"},
		{"array", `[]`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"truncated", `{"publicKeyRequest":`, "not valid JSON"},
		{"trailing data", `{} {}`, "data after the JSON object"},
		{"neither key form", `{"credentials":{"oidcIdentityToken":"t"}}`, "neither publicKeyRequest nor certificateSigningRequest"},
		{"both key forms", `{"publicKeyRequest":{},"certificateSigningRequest":"AA=="}`, "both publicKeyRequest and certificateSigningRequest"},
		{"duplicate field", `{"publicKeyRequest":{},"public_key_request":{}}`, "has field publicKeyRequest twice"},
		{"credentials not object", `{"credentials":"tok","certificateSigningRequest":"AA=="}`, "credentials must be a JSON object"},
		{"token not string", `{"credentials":{"oidcIdentityToken":1},"certificateSigningRequest":"AA=="}`, "credentials.oidcIdentityToken must be a string"},
		{"no publicKey", `{"publicKeyRequest":{"proofOfPossession":"AA=="}}`, "publicKeyRequest.publicKey is missing"},
		{"publicKey not object", `{"publicKeyRequest":{"publicKey":[]}}`, "publicKeyRequest.publicKey must be a JSON object"},
		{"algorithm object", `{"publicKeyRequest":{"publicKey":{"algorithm":{},"content":"x"}}}`, "algorithm must be an enum name or number"},
		{"no content", `{"publicKeyRequest":{"publicKey":{"algorithm":"ECDSA"}}}`, "content is missing"},
		{"content not string", `{"publicKeyRequest":{"publicKey":{"content":5}}}`, "content must be a string"},
		{"content garbage", pk("not a key!", proof), "neither PEM nor base64"},
		{"content PEM certificate", pk(certPEM, proof), "not a PEM public key"},
		{"content base64 not DER", pk(b64([]byte("nope")), proof), "not a DER SubjectPublicKeyInfo"},
		{"no proof", `{"publicKeyRequest":{"publicKey":{"content":` + jsonString(string(pemKey)) + `}}}`, "proofOfPossession is missing"},
		{"proof not base64", pk(string(pemKey), "***"), "proofOfPossession is not base64"},
		{"proof number", `{"publicKeyRequest":{"publicKey":{"content":` + jsonString(string(pemKey)) + `},"proofOfPossession":7}}`, "proofOfPossession must be a base64 string"},
		{"CSR not base64", `{"certificateSigningRequest":"***"}`, "certificateSigningRequest is not base64"},
		{"CSR empty", `{"certificateSigningRequest":""}`, "certificateSigningRequest is empty"},
		{"CSR wrong PEM type", `{"certificateSigningRequest":"` + b64([]byte(certPEM)) + `"}`, `PEM "CERTIFICATE" block`},
		{"CSR garbage", `{"certificateSigningRequest":"` + b64([]byte("garbage")) + `"}`, "not a PKCS#10 CSR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseSigningRequest([]byte(tc.body))
			if err == nil {
				t.Fatalf("accepted: %+v", req)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzParseRequest checks that no body panics the parser and that an
// accepted body always yields a key and exactly one proof form.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"public_key_request":{"public_key":{"content":"AA"},"proof_of_possession":"AA"}}`))
	f.Add([]byte(`{"certificateSigningRequest":null,"credentials":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseSigningRequest(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if req.key == nil || (req.csr == nil) == (req.proof == nil) {
			t.Fatalf("accepted request without a key or with both/neither proof forms: %+v", req)
		}
		_ = checkKey(req.key) // must not panic on any parsed key
	})
}
