package note_test

import (
	"context"
	"fmt"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Verifying a checkpoint with the log's key, and what a verifier that asks
// for another origin (here the log URL's hostname) is told.
func ExampleVerifyCheckpoint() {
	// The log's side: a key, and a checkpoint signed under its origin.
	key, _ := note.GenerateKey(note.Ed25519)
	signer, _ := note.NewSigner(context.Background(), "log.example.com", key)
	body := log.Checkpoint{Origin: "log.example.com", Size: 42, Hash: make([]byte, 32)}.Marshal()
	raw, _ := sumdbnote.Sign(&sumdbnote.Note{Text: string(body)}, signer)

	// The verifier's side: the log's origin and public key, from a trusted
	// root or the operator.
	v, err := note.NewVerifier("log.example.com", key.Public())
	if err != nil {
		fmt.Println(err)
		return
	}
	cp, err := note.VerifyCheckpoint(raw, "log.example.com", v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cp.Origin, cp.Size)

	wrong, _ := note.NewVerifier("127.0.0.1", key.Public())
	_, err = note.VerifyCheckpoint(raw, "127.0.0.1", wrong)
	fmt.Println(err)
	// Output:
	// log.example.com 42
	// the checkpoint is signed for origin "log.example.com", you asked for "127.0.0.1"
}
