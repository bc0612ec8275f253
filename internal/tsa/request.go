package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/digitorus/timestamp"
)

// maxNonceBits bounds a request's nonce. RFC 3161 suggests 64 bits; clients
// send 64 to 160. The bound keeps a JSON nonce's decimal parse cheap.
const maxNonceBits = 512

// Refusal reasons, the values of mosaic_tsa_requests_refused_total's label.
const (
	reasonTooLarge      = "too_large"
	reasonSlowBody      = "slow_body"
	reasonContentType   = "content_type"
	reasonMalformed     = "malformed"
	reasonVersion       = "version"
	reasonHashAlgorithm = "hash_algorithm"
	reasonDigestLength  = "digest_length"
	reasonNonce         = "nonce"
	reasonPolicy        = "policy"
	reasonExtension     = "extension"
	reasonCertExpired   = "certificate_expired"
)

// What the TSA accepts, as refusals name it.
const (
	acceptedHashesDER    = "SHA-256, SHA-384 or SHA-512"
	acceptedHashesJSON   = `"sha256", "sha384" or "sha512"`
	acceptedContentTypes = "application/timestamp-query (a DER TimeStampReq) or application/json"
)

var allReasons = []string{reasonTooLarge, reasonSlowBody, reasonContentType, reasonMalformed, reasonVersion, reasonHashAlgorithm,
	reasonDigestLength, reasonNonce, reasonPolicy, reasonExtension, reasonCertExpired}

// refusal says why a request is not granted: the HTTP status, the metric
// reason, and the message for the client.
type refusal struct {
	status int
	reason string
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, reason, format string, args ...any) *refusal {
	return &refusal{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// requestKind is how a request body is encoded.
type requestKind int

const (
	kindDER requestKind = iota
	kindJSON
)

// parseContentType maps a Content-Type header to the body encoding it
// announces, or refuses it with 415.
func parseContentType(header string) (requestKind, *refusal) {
	if header == "" {
		return 0, refuse(http.StatusUnsupportedMediaType, reasonContentType,
			"no Content-Type was sent; send %s", acceptedContentTypes)
	}
	mediaType, _, err := mime.ParseMediaType(header)
	if err != nil {
		return 0, refuse(http.StatusUnsupportedMediaType, reasonContentType,
			"Content-Type %q is not a valid media type (%v); send %s", header, err, acceptedContentTypes)
	}
	switch mediaType {
	case "application/timestamp-query":
		return kindDER, nil
	case "application/json":
		return kindJSON, nil
	}
	return 0, refuse(http.StatusUnsupportedMediaType, reasonContentType,
		"Content-Type %q is not accepted; send %s", mediaType, acceptedContentTypes)
}

// parseRequest decodes a request body of the given kind. It checks only the
// encoding; checkRequest decides whether the TSA grants it.
func parseRequest(kind requestKind, body []byte) (*timestamp.Request, *refusal) {
	if len(body) == 0 {
		if kind == kindJSON {
			return nil, refuse(http.StatusBadRequest, reasonMalformed, "empty request body; send a JSON timestamp request")
		}
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "empty request body; send a DER-encoded TimeStampReq (RFC 3161)")
	}
	if kind == kindJSON {
		return parseJSON(body)
	}
	return parseDER(body)
}

// parseDER decodes a DER TimeStampReq of version 1, the only version RFC
// 3161 defines (timestamp.ParseRequest reads the version but drops it).
func parseDER(body []byte) (*timestamp.Request, *refusal) {
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		if name, ok := unknownHashAlgorithm(body); ok {
			return nil, refuse(http.StatusBadRequest, reasonHashAlgorithm,
				"hash algorithm %s is not accepted; use %s", name, acceptedHashesDER)
		}
		return nil, refuse(http.StatusBadRequest, reasonMalformed,
			"request body is not a DER-encoded TimeStampReq (RFC 3161): %v", err)
	}
	var p reqPrefix
	if _, err := asn1.Unmarshal(body, &p); err != nil {
		// ParseRequest decoded a longer form of the same prefix.
		return nil, refuse(http.StatusBadRequest, reasonMalformed,
			"request body is not a DER-encoded TimeStampReq (RFC 3161): %v", err)
	}
	if p.Version != 1 {
		return nil, refuse(http.StatusBadRequest, reasonVersion,
			"TimeStampReq version %d is not supported; RFC 3161 defines version 1 only", p.Version)
	}
	return req, nil
}

// reqPrefix is the start of a TimeStampReq (RFC 3161 2.4.1): encoding/asn1
// ignores the fields after it. It is decoded only to name a digest algorithm
// timestamp.ParseRequest does not know.
type reqPrefix struct {
	Version        int
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
}

// Names of digest algorithms a client might send that timestamp.ParseRequest
// does not know.
var unknownHashNames = map[string]string{
	"1.2.840.113549.2.2":      "MD2",
	"1.2.840.113549.2.5":      "MD5",
	"2.16.840.1.101.3.4.2.4":  "SHA-224",
	"2.16.840.1.101.3.4.2.5":  "SHA-512/224",
	"2.16.840.1.101.3.4.2.6":  "SHA-512/256",
	"2.16.840.1.101.3.4.2.7":  "SHA3-224",
	"2.16.840.1.101.3.4.2.8":  "SHA3-256",
	"2.16.840.1.101.3.4.2.9":  "SHA3-384",
	"2.16.840.1.101.3.4.2.10": "SHA3-512",
}

// knownHashOIDs are the digests timestamp.ParseRequest understands.
var knownHashOIDs = []asn1.ObjectIdentifier{
	{1, 3, 14, 3, 2, 26},             // SHA-1
	{2, 16, 840, 1, 101, 3, 4, 2, 1}, // SHA-256
	{2, 16, 840, 1, 101, 3, 4, 2, 2}, // SHA-384
	{2, 16, 840, 1, 101, 3, 4, 2, 3}, // SHA-512
}

// unknownHashAlgorithm reports the name (or OID) of body's digest algorithm
// when body starts like a TimeStampReq whose algorithm ParseRequest does not
// know.
func unknownHashAlgorithm(body []byte) (string, bool) {
	var p reqPrefix
	if _, err := asn1.Unmarshal(body, &p); err != nil {
		return "", false
	}
	oid := p.MessageImprint.HashAlgorithm.Algorithm
	for _, known := range knownHashOIDs {
		if oid.Equal(known) {
			return "", false
		}
	}
	if name, ok := unknownHashNames[oid.String()]; ok {
		return fmt.Sprintf("%s (OID %s)", name, oid), true
	}
	return fmt.Sprintf("with OID %s", oid), true
}

// jsonRequest is the JSON request body Sigstore's TSA accepts.
type jsonRequest struct {
	// ArtifactHash is the standard base64 of the digest.
	ArtifactHash string `json:"artifactHash"`
	// HashAlgorithm is "sha256", "sha384" or "sha512", any case.
	HashAlgorithm string `json:"hashAlgorithm"`
	// Nonce is a JSON integer; kept as text so its size is checked before
	// it is parsed.
	Nonce json.Number `json:"nonce"`
	// Certificates asks for the chain in the token (certReq).
	Certificates bool `json:"certificates"`
	// TSAPolicyOID, dotted, asks for a policy (reqPolicy).
	TSAPolicyOID string `json:"tsaPolicyOID"`
}

// parseJSON decodes a JSON timestamp request.
func parseJSON(body []byte) (*timestamp.Request, *refusal) {
	var jr jsonRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jr); err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed,
			"request body is not a JSON timestamp request {artifactHash, hashAlgorithm, nonce, certificates, tsaPolicyOID}: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "request body has data after the JSON object")
	}
	req := &timestamp.Request{Certificates: jr.Certificates}
	switch strings.ToLower(jr.HashAlgorithm) {
	case "sha256":
		req.HashAlgorithm = crypto.SHA256
	case "sha384":
		req.HashAlgorithm = crypto.SHA384
	case "sha512":
		req.HashAlgorithm = crypto.SHA512
	case "":
		return nil, refuse(http.StatusBadRequest, reasonHashAlgorithm,
			"hashAlgorithm is missing; use %s", acceptedHashesJSON)
	case "sha1":
		return nil, refuse(http.StatusBadRequest, reasonHashAlgorithm,
			"hash algorithm %q (SHA-1) is too weak; use %s", jr.HashAlgorithm, acceptedHashesJSON)
	default:
		return nil, refuse(http.StatusBadRequest, reasonHashAlgorithm,
			"hash algorithm %q is not accepted; use %s", jr.HashAlgorithm, acceptedHashesJSON)
	}
	digest, err := base64.StdEncoding.DecodeString(jr.ArtifactHash)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "artifactHash is not standard base64: %v", err)
	}
	req.HashedMessage = digest
	if jr.Nonce != "" {
		// A 512-bit integer has at most 155 decimal digits, plus a sign.
		if len(jr.Nonce) > 156 {
			return nil, refuse(http.StatusBadRequest, reasonNonce,
				"nonce has %d characters; the TSA accepts nonces of at most %d bits", len(jr.Nonce), maxNonceBits)
		}
		n, ok := new(big.Int).SetString(string(jr.Nonce), 10)
		if !ok {
			return nil, refuse(http.StatusBadRequest, reasonNonce, "nonce %s is not an integer", jr.Nonce)
		}
		req.Nonce = n
	}
	if jr.TSAPolicyOID != "" {
		oid, ok := parseDottedOID(jr.TSAPolicyOID)
		if !ok {
			return nil, refuse(http.StatusBadRequest, reasonPolicy,
				"tsaPolicyOID %q is not a dotted object identifier", jr.TSAPolicyOID)
		}
		req.TSAPolicyOID = oid
	}
	return req, nil
}

// parseDottedOID parses an OID such as "1.3.6.1.4.1.57264.2". Arcs must fit
// an int; no policy OID in use comes close.
func parseDottedOID(s string) (asn1.ObjectIdentifier, bool) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 128 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || strings.HasPrefix(p, "+") || (len(p) > 1 && p[0] == '0') {
			return nil, false
		}
		oid[i] = n
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, false
	}
	return oid, true
}

// checkRequest decides whether the TSA grants a well-formed request: a
// strong digest of the right length, a nonce of bounded size, no policy but
// the TSA's own, and no extensions (RFC 3161 2.4.1: an unrecognised extension
// must be refused).
func checkRequest(req *timestamp.Request, policy asn1.ObjectIdentifier) *refusal {
	switch req.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	case crypto.SHA1:
		return refuse(http.StatusBadRequest, reasonHashAlgorithm,
			"hash algorithm SHA-1 is too weak; use %s", acceptedHashesDER)
	default:
		return refuse(http.StatusBadRequest, reasonHashAlgorithm,
			"hash algorithm %s is not accepted; use %s", req.HashAlgorithm, acceptedHashesDER)
	}
	if got, want := len(req.HashedMessage), req.HashAlgorithm.Size(); got != want {
		return refuse(http.StatusBadRequest, reasonDigestLength,
			"message digest is %d bytes, but a %s digest is %d bytes", got, req.HashAlgorithm, want)
	}
	if req.Nonce != nil && req.Nonce.BitLen() > maxNonceBits {
		return refuse(http.StatusBadRequest, reasonNonce,
			"nonce has %d bits; the TSA accepts nonces of at most %d bits", req.Nonce.BitLen(), maxNonceBits)
	}
	if len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(policy) {
		return refuse(http.StatusBadRequest, reasonPolicy,
			"requested TSA policy %s is not offered; this TSA issues timestamps under policy %s", req.TSAPolicyOID, policy)
	}
	if len(req.Extensions) > 0 {
		oids := make([]string, len(req.Extensions))
		for i, e := range req.Extensions {
			oids[i] = e.Id.String()
		}
		return refuse(http.StatusBadRequest, reasonExtension,
			"request extensions are not supported (sent: %s); send the request without extensions", strings.Join(oids, ", "))
	}
	return nil
}
