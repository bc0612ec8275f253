package sign_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/sign"
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
