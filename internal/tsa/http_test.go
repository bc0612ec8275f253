package tsa

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/httperr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"
)

// serve starts an HTTP server with tsa's routes.
func serve(t *testing.T, tsa *TSA) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	tsa.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// post sends body to the timestamp endpoint and returns the status, the
// response's Content-Type and its body.
func post(t *testing.T, srv *httptest.Server, contentType string, body io.Reader) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/timestamp", body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// timestampDER posts a DER request and fails the test unless it is granted.
func timestampDER(t *testing.T, srv *httptest.Server, der []byte) []byte {
	t.Helper()
	status, ct, body := post(t, srv, "application/timestamp-query", bytes.NewReader(der))
	if status != http.StatusOK || ct != "application/timestamp-reply" {
		t.Fatalf("POST = %d %s %s, want 200 application/timestamp-reply", status, ct, body)
	}
	return body
}

func randomNonce(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTimestampVerifies(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			t.Run(fmt.Sprintf("%s/%s", curve.Params().Name, h), func(t *testing.T) {
				tsa, pki, m := newTestTSA(t, curve)
				srv := serve(t, tsa)
				artifact := []byte("artifact signed at " + t.Name())
				nonce := randomNonce(t)
				der, err := timestamp.CreateRequest(bytes.NewReader(artifact),
					&timestamp.RequestOptions{Hash: h, Certificates: true, Nonce: nonce})
				if err != nil {
					t.Fatal(err)
				}
				before := time.Now().Truncate(time.Second)
				resp := timestampDER(t, srv, der)
				after := time.Now()

				ts, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), verification.VerifyOpts{
					Roots:      []*x509.Certificate{pki.root},
					Nonce:      nonce,
					CommonName: pki.leaf.Subject.CommonName,
					OID:        asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
				})
				if err != nil {
					t.Fatalf("VerifyTimestampResponse: %v", err)
				}
				if ts.HashAlgorithm != h {
					t.Errorf("hash algorithm = %v, want %v", ts.HashAlgorithm, h)
				}
				if ts.Time.Before(before) || ts.Time.After(after) {
					t.Errorf("genTime %v is outside [%v, %v]", ts.Time, before, after)
				}
				if ts.Accuracy != time.Second {
					t.Errorf("accuracy = %v, want 1s", ts.Accuracy)
				}
				// 160 random bits: fewer than 97 happens with probability 2^-64.
				if ts.SerialNumber.Sign() <= 0 || ts.SerialNumber.BitLen() <= 96 {
					t.Errorf("serial number %v is not a large positive integer", ts.SerialNumber)
				}
				if got := counterValue(t, m.issued); got != 1 {
					t.Errorf("issued counter = %v, want 1", got)
				}

				// Another artifact, another root: both must fail.
				if _, err := verification.VerifyTimestampResponse(resp, strings.NewReader("other artifact"),
					verification.VerifyOpts{Roots: []*x509.Certificate{pki.root}}); err == nil {
					t.Error("response verified against a different artifact")
				}
				otherRoot, _ := newRoot(t, "Mosaic test root")
				if _, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact),
					verification.VerifyOpts{Roots: []*x509.Certificate{otherRoot}}); err == nil {
					t.Error("response verified under an unrelated root")
				}
			})
		}
	}
}

func TestSerialNumbersDiffer(t *testing.T) {
	tsa, _, _ := newTestTSA(t, elliptic.P256())
	srv := serve(t, tsa)
	der, err := timestamp.CreateRequest(strings.NewReader("same artifact"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := timestamp.ParseResponse(timestampDER(t, srv, der))
	if err != nil {
		t.Fatal(err)
	}
	b, err := timestamp.ParseResponse(timestampDER(t, srv, der))
	if err != nil {
		t.Fatal(err)
	}
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Errorf("two tokens share serial number %v", a.SerialNumber)
	}
}

func TestTamperedResponseFails(t *testing.T) {
	tsa, pki, _ := newTestTSA(t, elliptic.P256())
	srv := serve(t, tsa)
	artifact := []byte("tamper target")
	digest := crypto.SHA256.New()
	digest.Write(artifact)
	sum := digest.Sum(nil)
	der, err := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Certificates: true})
	if err != nil {
		t.Fatal(err)
	}
	resp := timestampDER(t, srv, der)
	opts := verification.VerifyOpts{Roots: []*x509.Certificate{pki.root}}
	if _, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), opts); err != nil {
		t.Fatalf("untampered response does not verify: %v", err)
	}

	digestAt := bytes.Index(resp, sum)
	if digestAt < 0 {
		t.Fatal("artifact digest not found in the response")
	}
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"signed digest", digestAt + 5},
		{"signature", len(resp) - 1}, // the SignerInfo's signature ends the response
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(resp)
			bad[tc.at] ^= 0x01
			if _, err := verification.VerifyTimestampResponse(bad, bytes.NewReader(artifact), opts); err == nil {
				t.Fatalf("response with byte %d flipped verified", tc.at)
			}
		})
	}
}

func TestCertReq(t *testing.T) {
	tsa, pki, _ := newTestTSA(t, elliptic.P256())
	srv := serve(t, tsa)
	artifact := []byte("cert req")
	for _, certReq := range []bool{true, false} {
		t.Run(fmt.Sprint(certReq), func(t *testing.T) {
			der, err := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Certificates: certReq})
			if err != nil {
				t.Fatal(err)
			}
			resp := timestampDER(t, srv, der)
			ts, err := timestamp.ParseResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			p7, err := pkcs7.Parse(ts.RawToken)
			if err != nil {
				t.Fatal(err)
			}
			if certReq {
				if len(p7.Certificates) != 2 || !p7.Certificates[0].Equal(pki.leaf) || !p7.Certificates[1].Equal(pki.root) {
					t.Fatalf("token carries %d certificates, want the TSA certificate then the root", len(p7.Certificates))
				}
			} else if len(p7.Certificates) != 0 {
				t.Fatalf("token carries %d certificates though none were asked for", len(p7.Certificates))
			}
			// Without certificates in the token a verifier must be given the TSA certificate.
			opts := verification.VerifyOpts{Roots: []*x509.Certificate{pki.root}}
			_, err = verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), opts)
			if certReq != (err == nil) {
				t.Fatalf("verifying without the TSA certificate: err = %v", err)
			}
			opts.TSACertificate = pki.leaf
			if _, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), opts); err != nil {
				t.Fatalf("verifying with the TSA certificate: %v", err)
			}
		})
	}
}

func TestNonce(t *testing.T) {
	tsa, pki, _ := newTestTSA(t, elliptic.P256())
	srv := serve(t, tsa)
	artifact := []byte("nonce")
	nonce := randomNonce(t)

	der, err := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Certificates: true, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	resp := timestampDER(t, srv, der)
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		t.Fatalf("response nonce = %v, want %v", ts.Nonce, nonce)
	}
	wrong := new(big.Int).Add(nonce, big.NewInt(1))
	if _, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact),
		verification.VerifyOpts{Roots: []*x509.Certificate{pki.root}, Nonce: wrong}); err == nil {
		t.Fatal("response verified against a different nonce")
	}

	der, err = timestamp.CreateRequest(bytes.NewReader(artifact), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts, err = timestamp.ParseResponse(timestampDER(t, srv, der))
	if err != nil {
		t.Fatal(err)
	}
	if ts.Nonce != nil {
		t.Fatalf("response carries nonce %v though the request had none", ts.Nonce)
	}
}

func TestJSONRequest(t *testing.T) {
	tsa, pki, _ := newTestTSA(t, elliptic.P384())
	srv := serve(t, tsa)
	artifact := []byte("json artifact")
	for _, tc := range []struct {
		alg  string
		hash crypto.Hash
	}{{"sha256", crypto.SHA256}, {"SHA384", crypto.SHA384}, {"sha512", crypto.SHA512}} {
		t.Run(tc.alg, func(t *testing.T) {
			h := tc.hash.New()
			h.Write(artifact)
			nonce := randomNonce(t)
			body := fmt.Sprintf(`{"artifactHash": %q, "hashAlgorithm": %q, "nonce": %s, "certificates": true, "tsaPolicyOID": "1.3.6.1.4.1.57264.2"}`,
				base64.StdEncoding.EncodeToString(h.Sum(nil)), tc.alg, nonce)
			status, ct, resp := post(t, srv, "application/json; charset=utf-8", strings.NewReader(body))
			if status != http.StatusOK || ct != "application/timestamp-reply" {
				t.Fatalf("POST = %d %s %s", status, ct, resp)
			}
			ts, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact),
				verification.VerifyOpts{Roots: []*x509.Certificate{pki.root}, Nonce: nonce})
			if err != nil {
				t.Fatalf("VerifyTimestampResponse: %v", err)
			}
			if ts.HashAlgorithm != tc.hash {
				t.Errorf("hash algorithm = %v, want %v", ts.HashAlgorithm, tc.hash)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	artifact := strings.NewReader("bad requests")
	sha256Req, err := timestamp.CreateRequest(artifact, nil)
	if err != nil {
		t.Fatal(err)
	}
	sha1Req, err := timestamp.CreateRequest(strings.NewReader("x"), &timestamp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	shortDigest := marshalRequest(t, &timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 20)})
	otherPolicy := marshalRequest(t, &timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32),
		TSAPolicyOID: asn1.ObjectIdentifier{1, 2, 3, 4}})
	withExtension := marshalRequest(t, &timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 5}, Value: []byte{5, 0}}}})
	hugeNonce := marshalRequest(t, &timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32),
		Nonce: new(big.Int).Lsh(big.NewInt(1), 600)})
	md5Req := rawRequest(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, make([]byte, 16))
	// SHA-224's OID differs from SHA-256's in its last arc only.
	sha224Req := bytes.Replace(sha256Req, []byte{0x04, 0x02, 0x01}, []byte{0x04, 0x02, 0x04}, 1)
	unknownReq := rawRequest(t, asn1.ObjectIdentifier{1, 2, 3, 4, 5}, make([]byte, 32))
	sha256OID := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	version := func(v int) []byte { return rawRequestVersion(t, v, sha256OID, make([]byte, 32)) }
	digest := base64.StdEncoding.EncodeToString(make([]byte, 32))
	oversize := bytes.Repeat([]byte{0x30}, 1025)

	const der, js = "application/timestamp-query", "application/json"
	tests := []struct {
		name        string
		contentType string
		body        []byte
		chunked     bool // send without Content-Length
		wantStatus  int
		wantReason  string
		wantMsg     string
	}{
		{"empty DER", der, nil, false, 400, reasonMalformed, "empty request body; send a DER-encoded TimeStampReq"},
		{"empty JSON", js, nil, false, 400, reasonMalformed, "empty request body; send a JSON"},
		{"garbage", der, []byte("this is not DER"), false, 400, reasonMalformed, "not a DER-encoded TimeStampReq"},
		{"trailing data", der, append(bytes.Clone(sha256Req), 0), false, 400, reasonMalformed, "trailing data"},
		{"version 2", der, version(2), false, 400, reasonVersion, "TimeStampReq version 2 is not supported; RFC 3161 defines version 1 only"},
		{"version 0", der, version(0), false, 400, reasonVersion, "TimeStampReq version 0 is not supported"},
		{"version -1", der, version(-1), false, 400, reasonVersion, "TimeStampReq version -1 is not supported"},
		{"version 2^40", der, version(1 << 40), false, 400, reasonVersion, "TimeStampReq version 1099511627776 is not supported"},
		{"SHA-1", der, sha1Req, false, 400, reasonHashAlgorithm, "hash algorithm SHA-1 is too weak"},
		{"MD5", der, md5Req, false, 400, reasonHashAlgorithm, "hash algorithm MD5 (OID 1.2.840.113549.2.5) is not accepted"},
		{"SHA-224", der, sha224Req, false, 400, reasonHashAlgorithm, "hash algorithm SHA-224 (OID 2.16.840.1.101.3.4.2.4) is not accepted"},
		{"unknown OID", der, unknownReq, false, 400, reasonHashAlgorithm, "hash algorithm with OID 1.2.3.4.5 is not accepted"},
		{"digest length", der, shortDigest, false, 400, reasonDigestLength, "message digest is 20 bytes, but a SHA-256 digest is 32 bytes"},
		{"other policy", der, otherPolicy, false, 400, reasonPolicy, "requested TSA policy 1.2.3.4 is not offered; this TSA issues timestamps under policy 1.3.6.1.4.1.57264.2"},
		{"extension", der, withExtension, false, 400, reasonExtension, "request extensions are not supported (sent: 1.2.3.5)"},
		{"huge nonce", der, hugeNonce, false, 400, reasonNonce, "nonce has 601 bits; the TSA accepts nonces of at most 512 bits"},
		{"JSON syntax", js, []byte(`{"artifactHash":`), false, 400, reasonMalformed, "not a JSON timestamp request"},
		{"JSON unknown field", js, []byte(`{"artifact":"x"}`), false, 400, reasonMalformed, `unknown field "artifact"`},
		{"JSON trailing", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha256"} {}`), false, 400, reasonMalformed, "data after the JSON object"},
		{"JSON no algorithm", js, []byte(`{"artifactHash":"` + digest + `"}`), false, 400, reasonHashAlgorithm, "hashAlgorithm is missing"},
		{"JSON sha1", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha1"}`), false, 400, reasonHashAlgorithm, `hash algorithm "sha1" (SHA-1) is too weak`},
		{"JSON md5", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"md5"}`), false, 400, reasonHashAlgorithm, `hash algorithm "md5" is not accepted`},
		{"JSON bad base64", js, []byte(`{"artifactHash":"%%%","hashAlgorithm":"sha256"}`), false, 400, reasonMalformed, "artifactHash is not standard base64"},
		{"JSON digest length", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha512"}`), false, 400, reasonDigestLength, "message digest is 32 bytes, but a SHA-512 digest is 64 bytes"},
		{"JSON fractional nonce", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha256","nonce":1.5}`), false, 400, reasonNonce, "nonce 1.5 is not an integer"},
		{"JSON long nonce", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha256","nonce":` + strings.Repeat("9", 200) + `}`), false, 400, reasonNonce, "nonce has 200 characters"},
		{"JSON bad policy", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha256","tsaPolicyOID":"one.two"}`), false, 400, reasonPolicy, `tsaPolicyOID "one.two" is not a dotted object identifier`},
		{"JSON other policy", js, []byte(`{"artifactHash":"` + digest + `","hashAlgorithm":"sha256","tsaPolicyOID":"1.2.3"}`), false, 400, reasonPolicy, "requested TSA policy 1.2.3 is not offered"},
		{"text/plain", "text/plain", sha256Req, false, 415, reasonContentType, `Content-Type "text/plain" is not accepted; send application/timestamp-query (a DER TimeStampReq) or application/json`},
		{"no content type", "", sha256Req, false, 415, reasonContentType, "no Content-Type was sent"},
		{"bad content type", "application/", sha256Req, false, 415, reasonContentType, `Content-Type "application/" is not a valid media type`},
		{"oversize", der, oversize, false, 413, reasonTooLarge, "request body is 1025 bytes; the TSA's request size limit (max request bytes) is 1024 bytes"},
		{"oversize chunked", der, oversize, true, 413, reasonTooLarge, "request body is more than 1024 bytes; the TSA's request size limit (max request bytes) is 1024 bytes"},
	}
	pki := newPKI(t, goodProfile())
	m := NewMetrics()
	tsa, err := New(Config{Signer: pki.leafKey, Chain: pki.chain(), Metrics: m, MaxRequestBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, tsa)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length from net/http
			}
			before := counterValue(t, m.refused.WithLabelValues(tc.wantReason))
			status, ct, out := post(t, srv, tc.contentType, body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", status, tc.wantStatus, out)
			}
			assertRefusal(t, status, ct, out, tc.wantMsg)
			if got := counterValue(t, m.refused.WithLabelValues(tc.wantReason)); got != before+1 {
				t.Errorf("refused{reason=%q} went from %v to %v, want +1", tc.wantReason, before, got)
			}
		})
	}
	if got := counterValue(t, m.issued); got != 0 {
		t.Errorf("issued = %v after only bad requests", got)
	}
}

// assertRefusal checks an httperr JSON body whose message contains wantMsg.
func assertRefusal(t *testing.T, status int, contentType string, body []byte, wantMsg string) {
	t.Helper()
	if contentType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", contentType)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", body, err)
	}
	if len(fields) != 3 || fields["code"] == nil || fields["message"] == nil || string(fields["details"]) != "[]" {
		t.Errorf("body %s does not have exactly code, message and details: []", body)
	}
	var got httperr.Body
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Code != httperr.GRPCCode(status) {
		t.Errorf("code = %d, want %d for HTTP %d", got.Code, httperr.GRPCCode(status), status)
	}
	if !strings.Contains(got.Message, wantMsg) {
		t.Errorf("message = %q, want it to contain %q", got.Message, wantMsg)
	}
}

// marshalRequest encodes req with digitorus/timestamp.
func marshalRequest(t *testing.T, req *timestamp.Request) []byte {
	t.Helper()
	der, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// rawRequest encodes a TimeStampReq for a digest algorithm
// digitorus/timestamp cannot name, with encoding/asn1.
func rawRequest(t *testing.T, alg asn1.ObjectIdentifier, digest []byte) []byte {
	t.Helper()
	return rawRequestVersion(t, 1, alg, digest)
}

// rawRequestVersion is rawRequest with another TimeStampReq version.
func rawRequestVersion(t *testing.T, version int, alg asn1.ObjectIdentifier, digest []byte) []byte {
	t.Helper()
	var req reqPrefix
	req.Version = version
	req.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: alg, Parameters: asn1.NullRawValue}
	req.MessageImprint.HashedMessage = digest
	der, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertificateExpiresWhileServing(t *testing.T) {
	pki := newPKI(t, goodProfile())
	var clock atomic.Int64 // Unix nanoseconds; the handlers read it on the server's goroutines
	clock.Store(time.Now().UnixNano())
	m := NewMetrics()
	tsa, err := New(Config{Signer: pki.leafKey, Chain: pki.chain(), Metrics: m,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, tsa)
	der, err := timestamp.CreateRequest(strings.NewReader("late"), nil)
	if err != nil {
		t.Fatal(err)
	}
	timestampDER(t, srv, der)

	clock.Store(pki.leaf.NotAfter.Add(time.Second).UnixNano())
	status, ct, body := post(t, srv, "application/timestamp-query", bytes.NewReader(der))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503 (body %s)", status, body)
	}
	assertRefusal(t, status, ct, body, "the TSA's certificate is not valid now")
	if got := counterValue(t, m.refused.WithLabelValues(reasonCertExpired)); got != 1 {
		t.Errorf("refused{reason=certificate_expired} = %v, want 1", got)
	}
}

func TestCertChainEndpoint(t *testing.T) {
	tsa, pki, _ := newTestTSA(t, elliptic.P256())
	srv := serve(t, tsa)
	resp, err := srv.Client().Get(srv.URL + "/api/v1/timestamp/certchain")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pem-certificate-chain" {
		t.Fatalf("GET certchain = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got []*x509.Certificate
	for rest := body; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("trailing non-PEM data: %q", rest)
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Fatalf("PEM block type %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	want := pki.chain()
	if len(got) != len(want) {
		t.Fatalf("chain has %d certificates, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("certificate %d is %q, want %q", i, got[i].Subject, want[i].Subject)
		}
	}
}

// counterValue reads a counter. (prometheus/testutil needs a module this
// repository does not require.)
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
