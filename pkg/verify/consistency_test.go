package verify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
	"github.com/transparency-dev/tessera/client"
)

// addEntries logs n entries at once, so that the log integrates them in
// few batches.
func addEntries(t *testing.T, e *env, n int) {
	t.Helper()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = s.Request(t, fmt.Appendf(nil, "entry %d of %s", i, t.Name()))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, body := range bodies {
		wg.Go(func() {
			resp, err := http.Post(e.log.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("POST entry: status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// consistencyProof builds the proof between two sizes from the log's
// tiles, fetched over HTTP as any auditor would.
func consistencyProof(t *testing.T, e *env, smaller, larger uint64) [][]byte {
	t.Helper()
	root, err := url.Parse(e.log.URL + "/api/v2/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pb, err := client.NewProofBuilder(ctx, larger, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pb.ConsistencyProof(ctx, smaller, larger)
	if err != nil {
		t.Fatalf("consistency proof %d→%d: %v", smaller, larger, err)
	}
	return p
}

func TestVerifyConsistency(t *testing.T) {
	e := newEnv(t, "posix")
	addEntries(t, e, 3)
	older := []byte(latestCheckpoint(t, e))
	addEntries(t, e, 260) // past the first full tile
	newer := []byte(latestCheckpoint(t, e))
	tl := e.tr.Tlogs[0]
	o, err := tl.VerifyCheckpoint(older)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.tr.VerifyCheckpoint(newer)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size < 3 || n.Size < o.Size+260 || n.Log != tl || n.Origin != e.log.Origin {
		t.Fatalf("checkpoints: older %+v, newer %+v", o, n)
	}
	good := consistencyProof(t, e, o.Size, n.Size)
	if len(good) == 0 {
		t.Fatal("empty consistency proof")
	}
	other := newEnv(t, "posix")
	addEntries(t, other, 1)
	foreign := []byte(latestCheckpoint(t, other))

	tests := []struct {
		name         string
		older, newer []byte
		proof        [][]byte
		want         verify.Check // "" for success
	}{
		{"consistent", older, newer, good, ""},
		{"same checkpoint", newer, newer, nil, ""},
		{"reversed", newer, older, good, verify.CheckConsistencyProof},
		{"altered hash", older, newer, alter(good, 0), verify.CheckConsistencyProof},
		{"altered last hash", older, newer, alter(good, len(good)-1), verify.CheckConsistencyProof},
		{"truncated proof", older, newer, good[:len(good)-1], verify.CheckConsistencyProof},
		{"extra hash", older, newer, append(append([][]byte(nil), good...), good[0]), verify.CheckConsistencyProof},
		{"no proof", older, newer, nil, verify.CheckConsistencyProof},
		{"proof for the same size", newer, newer, good, verify.CheckConsistencyProof},
		{"older re-signed by another key", []byte(resign(t, e.log.Origin, string(older))), newer, good, verify.CheckCheckpointSignature},
		{"newer re-signed by another key", older, []byte(resign(t, e.log.Origin, string(newer))), good, verify.CheckCheckpointSignature},
		{"newer with another root", older, alterRoot(newer), good, verify.CheckCheckpointSignature},
		{"checkpoint of another log", older, foreign, good, verify.CheckCheckpointSignature},
		{"not a checkpoint", []byte("hello"), newer, good, verify.CheckCheckpointSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verify.VerifyConsistency(tl, tt.older, tt.newer, tt.proof)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Note, tt.newer) {
					t.Error("VerifyConsistency did not return the newer checkpoint")
				}
				return
			}
			wantCheck(t, err, tt.want)
		})
	}
}

func TestTrustedRootVerifyCheckpoint(t *testing.T) {
	e := newEnv(t, "posix")
	addEntries(t, e, 1)
	cp := latestCheckpoint(t, e)
	if _, err := e.tr.VerifyCheckpoint([]byte(cp)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"re-signed":      resign(t, e.log.Origin, cp),
		"unknown origin": strings.Replace(cp, e.log.Origin, "log.example.com", 1),
		"empty":          "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.tr.VerifyCheckpoint([]byte(bad))
			wantCheck(t, err, verify.CheckCheckpointSignature)
		})
	}
	// A checkpoint of another origin names both, not a signature failure.
	_, err := e.tr.VerifyCheckpoint([]byte(strings.Replace(cp, e.log.Origin, "log.example.com", 1)))
	want := fmt.Sprintf(`checkpoint signature: the checkpoint is signed for origin "log.example.com", you asked for %q`, e.log.Origin)
	var oe *note.OriginError
	if err == nil || err.Error() != want || !errors.As(err, &oe) {
		t.Errorf("other origin: %v, want %q", err, want)
	}
}

// alter returns a copy of proof with hash i changed.
func alter(proof [][]byte, i int) [][]byte {
	out := make([][]byte, len(proof))
	for j, h := range proof {
		out[j] = bytes.Clone(h)
	}
	out[i][0] ^= 1
	return out
}

// alterRoot changes the root hash line of a signed checkpoint, keeping
// its signature.
func alterRoot(cp []byte) []byte {
	lines := strings.SplitN(string(cp), "\n", 4)
	lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	return []byte(strings.Join(lines, "\n"))
}
