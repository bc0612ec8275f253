package client_test

import (
	"context"
	"fmt"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// Reading a log's latest checkpoint and verifying it with the log's key.
func Example() {
	ctx := context.Background()
	c, err := client.New("https://mosaic.example.com", client.WithMaxAttempts(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	pub, err := c.PublicKey(ctx) // in practice, from the trusted root
	if err != nil {
		fmt.Println(err)
		return
	}
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	const origin = "mosaic.example.com" // the log's name, in practice from the trusted root
	v, err := note.NewVerifier(origin, pub)
	if err != nil {
		fmt.Println(err)
		return
	}
	cp, err := note.VerifyCheckpoint(raw, origin, v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cp.Origin, cp.Size)
}
