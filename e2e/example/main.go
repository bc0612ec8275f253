// Command example adds one signed entry to a Mosaic log and verifies what
// comes back, offline, the way a careful Sigstore verifier does: the
// checkpoint is signed by the log's key under the log's origin (by default
// the hostname of the log URL, as sigstore-go derives it; --origin for a log
// started with another), the inclusion proof of the returned leaf verifies
// against it, and the leaf is the entry that was submitted.
//
//	go run ./e2e/example --url http://127.0.0.1:3000 --log-key ./mosaic-data/.mosaic/signing-key.pem
//	go run ./e2e/example --url http://127.0.0.1:3000 --origin log.example.com --log-key log.pub
//
// With --request-only it prints a signed CreateEntryRequest body instead
// (for curl), signing with a fresh ECDSA P-256 key.
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/sign"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:3000", "the log's base URL")
	logKey := flag.String("log-key", "./mosaic-data/.mosaic/signing-key.pem", "the log's key: a public key PEM, or the private key file mosaicd created (its public half is used)")
	origin := flag.String("origin", "", "the log's checkpoint origin (default: the hostname of --url)")
	requestOnly := flag.Bool("request-only", false, "print a signed request body and exit")
	flag.Parse()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	artifact := fmt.Sprintf("an artifact signed at %s", time.Now().Format(time.RFC3339Nano))
	req, err := sign.HashedRekordRequest(key, nil, strings.NewReader(artifact))
	if err != nil {
		return err
	}
	body, err := protojson.Marshal(req)
	if err != nil {
		return err
	}
	if *requestOnly {
		_, err := os.Stdout.Write(append(body, '\n'))
		return err
	}
	pub, err := readLogKey(*logKey)
	if err != nil {
		return err
	}
	if *origin == "" {
		if *origin, err = note.OriginFromURL(*url); err != nil {
			return err
		}
	}
	resp, err := http.Post(*url+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("log answered %s: %s", resp.Status, out)
	}
	var tle rekorpb.TransparencyLogEntry
	if err := protojson.Unmarshal(out, &tle); err != nil {
		return fmt.Errorf("response is not a TransparencyLogEntry: %w", err)
	}
	if err := verify(&tle, req.GetHashedRekordRequestV002(), *origin, pub); err != nil {
		var oe *note.OriginError
		if errors.As(err, &oe) {
			return fmt.Errorf("verification FAILED: %w (if that is the log you meant, run with --origin %s)", err, oe.Got)
		}
		return fmt.Errorf("verification FAILED: %w", err)
	}
	fmt.Printf("logged at index %d; verified inclusion in the signed checkpoint of size %d\n",
		tle.GetLogIndex(), tle.GetInclusionProof().GetTreeSize())
	return nil
}

func readLogKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the log key: %w", err)
	}
	if pub, err := note.ParsePublicKey(b); err == nil {
		return pub, nil
	}
	priv, err := note.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s holds neither a public nor a private key PEM", path)
	}
	return priv.Public(), nil
}

// verify checks the entry offline against the key of the log named origin.
func verify(tle *rekorpb.TransparencyLogEntry, req *pb.HashedRekordRequestV002, origin string, pub crypto.PublicKey) error {
	v, err := note.NewVerifier(origin, pub)
	if err != nil {
		return err
	}
	ip := tle.GetInclusionProof()
	cp, err := note.VerifyCheckpoint([]byte(ip.GetCheckpoint().GetEnvelope()), origin, v)
	if err != nil {
		return err
	}
	if uint64(ip.GetTreeSize()) != cp.Size || !bytes.Equal(ip.GetRootHash(), cp.Hash) {
		return errors.New("the proof's tree size or root differs from the signed checkpoint's")
	}
	// The leaf must be the entry we submitted, rebuilt the way sigstore-go
	// rebuilds it from a bundle, not whatever the log says it logged.
	leaf, err := hashedrekord.ToEntryHash(req.GetDigest(), req.GetSignature())
	if err != nil {
		return err
	}
	if !bytes.Equal(leaf, rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody())) {
		return errors.New("the logged body is not the submitted entry")
	}
	return proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.GetLogIndex()), cp.Size, leaf, ip.GetHashes(), cp.Hash)
}
