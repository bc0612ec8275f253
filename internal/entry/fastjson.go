package entry

import (
	jsonv2 "github.com/go-json-experiment/json"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// requestJSON is how clients spell a hashedrekord CreateEntryRequest:
// protobuf-JSON member names, standard base64, the key details by name.
// decodeCommon reads that spelling with JSON v2 (go-json-experiment/json,
// the proposal for Go's encoding/json/v2) in a fraction of protojson's CPU;
// every other spelling protojson accepts (proto field names, URL-safe
// base64, enum numbers, nulls) goes to protojson, which also words the
// errors. FuzzDecodeCommon holds it to giving protojson's message.
type requestJSON struct {
	HashedRekordRequestV002 *struct {
		Digest    []byte `json:"digest"`
		Signature *struct {
			Content  []byte `json:"content"`
			Verifier *struct {
				PublicKey *struct {
					RawBytes []byte `json:"rawBytes"`
				} `json:"publicKey"`
				X509Certificate *struct {
					RawBytes []byte `json:"rawBytes"`
				} `json:"x509Certificate"`
				KeyDetails string `json:"keyDetails"`
			} `json:"verifier"`
		} `json:"signature"`
	} `json:"hashedRekordRequestV002"`
}

// commonJSON rejects what protojson would reject or read differently, so
// that such input falls back to it: unknown and repeated members (the
// defaults reject repeated ones), names in another case, invalid UTF-8.
var commonJSON = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true), jsonv2.MatchCaseInsensitiveNames(false))

// decodeCommon returns the request body holds if it is in the common
// spelling, or false for protojson to decide.
func decodeCommon(body []byte) (*pb.CreateEntryRequest, bool) {
	var r requestJSON
	if err := jsonv2.Unmarshal(body, &r, commonJSON); err != nil || r.HashedRekordRequestV002 == nil {
		return nil, false
	}
	in := r.HashedRekordRequestV002
	hr := &pb.HashedRekordRequestV002{Digest: in.Digest}
	if s := in.Signature; s != nil {
		hr.Signature = &pb.Signature{Content: s.Content}
		if v := s.Verifier; v != nil {
			kd, ok := v1.PublicKeyDetails_value[v.KeyDetails]
			if !ok {
				return nil, false // absent, null or unknown: protojson decides
			}
			ver := &pb.Verifier{KeyDetails: v1.PublicKeyDetails(kd)}
			switch {
			case v.PublicKey != nil && v.X509Certificate != nil:
				return nil, false // a oneof set twice: protojson's error
			case v.PublicKey != nil:
				ver.Verifier = &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: v.PublicKey.RawBytes}}
			case v.X509Certificate != nil:
				ver.Verifier = &pb.Verifier_X509Certificate{X509Certificate: &v1.X509Certificate{RawBytes: v.X509Certificate.RawBytes}}
			}
			hr.Signature.Verifier = ver
		}
	}
	return &pb.CreateEntryRequest{Spec: &pb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr}}, true
}
