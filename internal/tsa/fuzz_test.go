package tsa

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// FuzzParseRequest feeds arbitrary Content-Type headers and bodies through
// the request path. Nothing may panic; every refusal is a 4xx with a message;
// every granted request must have a strong digest of the right length and
// yield a response that parses back to the same digest and nonce.
func FuzzParseRequest(f *testing.F) {
	const der, js = "application/timestamp-query", "application/json"
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		req, err := timestamp.CreateRequest(strings.NewReader("seed"),
			&timestamp.RequestOptions{Hash: h, Certificates: true, Nonce: big.NewInt(42)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, req)
	}
	f.Add(der, []byte{})
	f.Add(der, []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	if v2, err := asn1.Marshal(reqPrefixOf(2)); err == nil {
		f.Add(der, v2)
	}
	f.Add("application/timestamp-query; charset=binary", []byte("garbage"))
	f.Add(js, []byte(`{"artifactHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","hashAlgorithm":"sha256","nonce":123,"certificates":true}`))
	f.Add(js, []byte(`{"artifactHash":"AAAA","hashAlgorithm":"sha1","tsaPolicyOID":"1.3.6.1.4.1.57264.2"}`))
	f.Add(js, []byte(`{"nonce":-1e400}`))
	f.Add("text/plain", []byte("x"))
	f.Add("", []byte{})

	tsa, _, _ := newTestTSA(f, elliptic.P256())
	now := time.Now()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		kind, rf := parseContentType(contentType)
		if rf != nil {
			checkRefusal(t, rf)
			return
		}
		req, rf := parseRequest(kind, body)
		if rf == nil {
			rf = checkRequest(req, tsa.policy)
		}
		if rf != nil {
			checkRefusal(t, rf)
			return
		}
		var p reqPrefix
		if _, err := asn1.Unmarshal(body, &p); kind == kindDER && (err != nil || p.Version != 1) {
			t.Fatalf("granted a TimeStampReq of version %d (%v)", p.Version, err)
		}
		switch req.HashAlgorithm {
		case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		default:
			t.Fatalf("granted a request with hash %v", req.HashAlgorithm)
		}
		if len(req.HashedMessage) != req.HashAlgorithm.Size() {
			t.Fatalf("granted a %d-byte %v digest", len(req.HashedMessage), req.HashAlgorithm)
		}
		resp, err := tsa.issue(req, now)
		if err != nil {
			t.Fatalf("issuing for a granted request: %v", err)
		}
		ts, err := timestamp.ParseResponse(resp)
		if err != nil {
			t.Fatalf("parsing our own response: %v", err)
		}
		if !bytes.Equal(ts.HashedMessage, req.HashedMessage) {
			t.Fatal("response digest differs from the request's")
		}
		if (req.Nonce == nil) != (ts.Nonce == nil) || (req.Nonce != nil && req.Nonce.Cmp(ts.Nonce) != 0) {
			t.Fatalf("response nonce %v, request nonce %v", ts.Nonce, req.Nonce)
		}
	})
}

// reqPrefixOf is a SHA-256 TimeStampReq of the given version.
func reqPrefixOf(version int) reqPrefix {
	var p reqPrefix
	p.Version = version
	p.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, Parameters: asn1.NullRawValue}
	p.MessageImprint.HashedMessage = make([]byte, 32)
	return p
}

func checkRefusal(t *testing.T, rf *refusal) {
	t.Helper()
	if rf.status < 400 || rf.status > 499 || rf.msg == "" || rf.reason == "" {
		t.Fatalf("refusal %+v is not a 4xx with a reason and message", rf)
	}
}
