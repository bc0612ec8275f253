package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/audit"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
)

// readBackTimeout bounds reading the log back.
const readBackTimeout = 10 * time.Minute

// readBack reads the log as any client would — a checkpoint verified with
// the log's key, every entry bundle, tiles for proofs — and checks every
// acknowledged entry against it, then audits the whole tree.
func (s *soaker) readBack(ctx context.Context) ReadBack {
	ctx, cancel := context.WithTimeout(ctx, readBackTimeout)
	defer cancel()
	var rb ReadBack
	fail := func(err error) ReadBack { rb.Error = err.Error(); return rb }
	v, err := note.NewVerifier(s.tgt.Origin, s.tgt.PublicKey)
	if err != nil {
		return fail(err)
	}
	lc, err := client.New(s.base, client.WithHTTPClient(s.client), client.WithMaxAttempts(5))
	if err != nil {
		return fail(err)
	}
	raw, err := lc.Checkpoint(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading the checkpoint: %w", err))
	}
	cp, err := note.VerifyCheckpoint(raw, s.tgt.Origin, v)
	if err != nil {
		return fail(err)
	}
	rb.LogSize = cp.Size
	leaves, err := leafHashes(ctx, lc, cp.Size)
	if err != nil {
		return fail(err)
	}
	pb, err := tclient.NewProofBuilder(ctx, cp.Size, lc.ReadTile)
	if err != nil {
		return fail(fmt.Errorf("reading tiles: %w", err))
	}
	checkAcks(&rb, s.led.acks(), cp, leaves, func(i uint64) ([][]byte, error) { return pb.InclusionProof(ctx, i) })
	for _, n := range countLeaves(leaves) {
		if n > 1 {
			rb.Duplicates += int64(n - 1)
		}
	}
	rb.Audit = "ok"
	if _, err := audit.Run(ctx, audit.Config{LogURL: client.TilesURL(s.base), Origin: s.tgt.Origin, Verifier: v}); err != nil {
		rb.Audit = err.Error()
	}
	return rb
}

// leafHashes reads every entry bundle of a tree of size and returns the
// leaf hashes of its entries, in order.
func leafHashes(ctx context.Context, lc *client.Client, size uint64) ([][32]byte, error) {
	out := make([][32]byte, 0, size)
	for b := uint64(0); b*layout.EntryBundleWidth < size; b++ {
		bundle, err := tclient.GetEntryBundle(ctx, lc.ReadEntryBundle, b, size)
		if err != nil {
			return nil, fmt.Errorf("reading entry bundle %d: %w", b, err)
		}
		for _, e := range bundle.Entries {
			out = append(out, leafHash(e))
		}
	}
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("the entry bundles hold %d entries; the checkpoint says %d", len(out), size)
	}
	return out, nil
}

// checkAcks checks each acknowledged entry against the tree of cp, whose
// leaf hashes are leaves: its index must be inside the tree, hold its leaf,
// and have an inclusion proof (from prove) that verifies against cp's root.
func checkAcks(rb *ReadBack, acks []ack, cp *log.Checkpoint, leaves [][32]byte, prove func(uint64) ([][]byte, error)) {
	for _, a := range acks {
		switch {
		case a.index >= cp.Size || a.index >= uint64(len(leaves)):
			rb.Beyond++
			rb.Lost++
			continue
		case leaves[a.index] != a.leaf:
			rb.WrongLeaf++
			rb.Lost++
			continue
		}
		p, err := prove(a.index)
		if err == nil {
			err = proof.VerifyInclusion(rfc6962.DefaultHasher, a.index, cp.Size, a.leaf[:], p, cp.Hash)
		}
		if err != nil {
			rb.ProofFailures++
			continue
		}
		rb.Verified++
	}
}

// countLeaves counts each distinct leaf hash.
func countLeaves(leaves [][32]byte) map[[32]byte]int {
	m := make(map[[32]byte]int, len(leaves))
	for _, l := range leaves {
		m[l]++
	}
	return m
}

// serverErrors reads mosaicd's own count of 5xx answers by route from
// GET /metrics (mosaic_http_requests_total).
func (s *soaker) serverErrors(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := s.do(ctx, "", http.MethodGet, "/metrics", nil, "")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	if res.status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d (metrics served elsewhere?)", res.status)
	}
	return parseServerErrors(res.body), nil
}

// parseServerErrors sums the 5xx series of mosaic_http_requests_total in
// Prometheus text format by "METHOD route".
func parseServerErrors(metrics []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "mosaic_http_requests_total{")
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		labels := parseLabels(labelText)
		if !strings.HasPrefix(labels["code"], "5") {
			continue
		}
		n, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil || n == 0 {
			continue
		}
		out[labels["method"]+" "+labels["route"]] += int64(n)
	}
	return out
}

// parseLabels reads `a="x",b="y"` (no escaped quotes in Mosaic's labels).
func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		val, rest, _ := strings.Cut(rest, `"`)
		m[name] = val
		s = strings.TrimPrefix(rest, ",")
	}
	return m
}

// subtract returns the counts of after that exceed before's, without zeros.
func subtract(after, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}
