package verify_test

import (
	"fmt"
	"os"

	"github.com/mosaiclog/mosaic/pkg/verify"
)

// ExampleVerify verifies a keyless bundle offline, with only the
// deployment's trusted_root.json.
func ExampleVerify() {
	trJSON, err := os.ReadFile("testdata/trusted_root.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := verify.ParseTrustedRoot(trJSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	bundleJSON, err := os.ReadFile("testdata/keyless.sigstore.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := verify.ParseBundle(bundleJSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	artifact, err := os.ReadFile("testdata/artifact.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := verify.Verify(b, verify.ArtifactBytes(artifact), tr, verify.Policy{
		CertificateIdentity:         "alice@example.com",
		CertificateOIDCIssuerRegexp: `http://127\.0\.0\.1:[0-9]+/dev-oidc`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("signed by %s, logged at index %d in %s\n", res.SAN, res.LogIndex, res.LogOrigin)

	// A different identity fails the identity check, by name.
	_, err = verify.Verify(b, verify.ArtifactBytes(artifact), tr, verify.Policy{
		CertificateIdentity:         "bob@example.com",
		CertificateOIDCIssuerRegexp: `http://127\.0\.0\.1:[0-9]+/dev-oidc`,
	})
	if ve, ok := err.(*verify.Error); ok {
		fmt.Println("failed check:", ve.Check)
	}
	// Output:
	// signed by alice@example.com, logged at index 1 in 127.0.0.1
	// failed check: identity (SAN)
}
