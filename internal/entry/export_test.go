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
