package entry

import (
	"fmt"

	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/signature"
)

// ReferenceLeaf is the leaf of a hashedrekord request body made as
// protojson and a JCS canonicaliser make it: the reference the directly
// written canonical form is checked against.
func ReferenceLeaf(body []byte) ([]byte, error) {
	var req pb.CreateEntryRequest
	if err := strictJSON.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	hr := req.GetHashedRekordRequestV002()
	if hr == nil {
		return nil, fmt.Errorf("not a hashedrekord request")
	}
	alg, err := signature.GetAlgorithmDetails(hr.GetSignature().GetVerifier().GetKeyDetails())
	if err != nil {
		return nil, err
	}
	return canonicalHashedRekordJCS(hr.GetDigest(), alg.GetProtoHashType(), hr.GetSignature())
}

// DecodeCommon is decodeCommon, for the tests that hold it to protojson.
func DecodeCommon(body []byte) (*pb.CreateEntryRequest, bool) { return decodeCommon(body) }

// ProtojsonRequest is the request protojson reads from body, as Decode
// reads it when decodeCommon declines.
func ProtojsonRequest(body []byte) (*pb.CreateEntryRequest, error) {
	var req pb.CreateEntryRequest
	return &req, strictJSON.Unmarshal(body, &req)
}
