package sign_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Keyless signing against a Mosaic server, configured from the signing
// config it serves, with the identity token from $SIGSTORE_ID_TOKEN.
func Example() {
	ctx := context.Background()
	c, err := client.New("https://mosaic.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	sc, _, err := c.SigningConfig(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := sign.ConfigFromSigningConfig(sc, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, err := sign.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	token, err := sign.ResolveToken("")
	if err != nil {
		fmt.Println(err)
		return
	}
	bundle, err := signer.SignKeyless(ctx, token, strings.NewReader("my artifact"))
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := sign.MarshalBundle(bundle)
	_ = os.WriteFile("artifact.sigstore.json", out, 0o644)
}

// Building the Rekor v2 request that logs a signature with a key the
// caller holds; client.AddEntry sends it, or its protobuf JSON is the body
// of POST /api/v2/log/entries.
func ExampleHashedRekordRequest() {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	req, err := sign.HashedRekordRequest(key, nil, strings.NewReader("my artifact"))
	if err != nil {
		fmt.Println(err)
		return
	}
	hr := req.GetHashedRekordRequestV002()
	fmt.Println(hr.GetSignature().GetVerifier().GetKeyDetails(), len(hr.GetDigest()), len(hr.GetSignature().GetContent()))
	body, _ := protojson.Marshal(req)
	_ = body // POST it, or: client.AddEntry(ctx, req)
	// Output: PKIX_ED25519_PH 64 64
}
