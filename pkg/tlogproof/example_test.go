package tlogproof_test

import (
	"context"
	"fmt"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/tlogproof"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// A log writes the proof of one of its entries; a verifier holding only
// the entry, the proof file and the log's key checks it offline.
func ExampleVerify() {
	// The log: three entries and a signed checkpoint.
	key, _ := note.GenerateKey(note.Ed25519)
	signer, _ := note.NewSigner(context.Background(), "log.example.com", key)
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData([]byte("entry 0"), []byte("entry 1"), []byte("entry 2"))
	body := log.Checkpoint{Origin: "log.example.com", Size: tree.Size(), Hash: tree.Hash()}.Marshal()
	checkpoint, _ := sumdbnote.Sign(&sumdbnote.Note{Text: string(body)}, signer)
	hashes, _ := tree.InclusionProof(1, tree.Size())
	p, _ := tlogproof.New(1, hashes, checkpoint)
	file, _ := p.Marshal()

	// The verifier: the log's vkey is all it needs.
	vkey, _ := note.VerifierKey("log.example.com", key.Public())
	v, origin, _ := note.LogVerifier(vkey, "", nil)
	got, err := tlogproof.Verify(file, []byte("entry 1"), origin, v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("entry %d of %s, tree size %d\n", got.Index, got.Origin, got.Size)
	_, err = tlogproof.Verify(file, []byte("entry 2"), origin, v)
	fmt.Println(err != nil)
	// Output:
	// entry 1 of log.example.com, tree size 3
	// true
}
