// Package audit re-derives a whole tlog-tiles log from its entries and
// checks that everything the log serves agrees with it.
//
// Run reads the checkpoint (its signature is verified first), then every
// entry bundle in order, hashes each entry as an RFC 6962 leaf and rebuilds
// the tree with a compact range. Every hash tile the log serves at the
// checkpoint's size, at every level, full and partial, is compared hash by
// hash with the rebuilt tree, and the rebuilt root with the checkpoint's.
// Bundles and tiles download in parallel but are checked in log order, so
// the first bad resource is the one reported.
//
// When an entry's hash and the level-0 tile disagree, one of the two
// resources is wrong; Run asks the checkpoint which one: it builds the
// inclusion proof of that leaf from the other tiles and checks both hashes
// against the signed root (transparency-dev/merkle proof).
package audit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Config says which log to audit and how.
type Config struct {
	// LogURL is the log's tlog-tiles prefix: for Mosaic's main log the
	// server's base URL + "/api/v2" (client.TilesURL), for its
	// certificate log + "/api/v2/certlog" (client.CertLogTilesURL).
	LogURL string
	// Origin is the checkpoint origin (default: Verifier.Name()).
	Origin string
	// Verifier checks the checkpoint's signature.
	Verifier sumdbnote.Verifier
	// Parallelism bounds concurrent downloads (default 8).
	Parallelism int
	// Progress receives a throttled progress line (nil: none).
	Progress io.Writer
	// Client tunes HTTP (HTTP client, timeouts, retries).
	Client []client.Option
}

// Report is what a clean audit checked.
type Report struct {
	Origin string
	// Size and Root are the audited checkpoint's; Checkpoint is the note.
	Size       uint64
	Root       []byte
	Checkpoint []byte
	// Entries, Bundles and Tiles count what was read and checked; Bytes
	// is their total size.
	Entries, Bundles, Tiles uint64
	Bytes                   int64
	Duration                time.Duration
}

// Rate is the entries audited per second.
func (r *Report) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Entries) / r.Duration.Seconds()
}

// IntegrityError names the first resource the log serves that disagrees
// with the tree its entries derive. Any other error from Run is a failure
// to audit (network, configuration), not evidence against the log.
type IntegrityError struct {
	// Resource is e.g. "tile 0/3", "tile 1/0.p/2", "entry bundle 12" or
	// "checkpoint".
	Resource string
	// Detail says what is wrong with it.
	Detail string
}

// Error names the resource and what is wrong with it.
func (e *IntegrityError) Error() string { return e.Resource + ": " + e.Detail }

// Run audits the log at its latest checkpoint.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("audit: no log verifier configured")
	}
	if cfg.Origin == "" {
		cfg.Origin = cfg.Verifier.Name()
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	c, err := client.New(cfg.LogURL, append(cfg.Client, client.WithTilesURL(cfg.LogURL))...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	start := time.Now()
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := note.VerifyCheckpoint(raw, cfg.Origin, cfg.Verifier)
	if err != nil {
		return nil, err
	}
	a := newAuditor(c, cp)
	a.progress = client.Progress{W: cfg.Progress, Label: "audit " + cfg.Origin}
	a.progress.Start(0)
	a.report.Bytes = int64(len(raw))
	bundles := (cp.Size + layout.EntryBundleWidth - 1) / layout.EntryBundleWidth
	check := func(_ uint64, u *unit) error { return a.check(ctx, u) }
	if err := client.Ordered(ctx, 0, bundles, cfg.Parallelism, a.fetch, check); err != nil {
		return nil, err
	}
	if err := a.checkRoot(); err != nil {
		return nil, err
	}
	a.progress.Done(a.report.Entries, cp.Size)
	r := a.report
	r.Origin, r.Size, r.Root, r.Checkpoint = cp.Origin, cp.Size, cp.Hash, raw
	r.Duration = time.Since(start)
	return &r, nil
}

// auditor holds the tree rebuilt so far. check runs in log order on one
// goroutine and owns every field; fetch only reads c and cp.
type auditor struct {
	c  *client.Client
	cp *log.Checkpoint

	rng *compact.Range
	// nodes[L] holds the hashes of tile level L (tree level 8L) derived so
	// far for tile index nodeTile[L]; level 0 is checked per bundle and
	// not kept.
	nodes    map[uint64][][]byte
	nodeTile map[uint64]uint64

	report   Report
	progress client.Progress
}

var rf = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

func newAuditor(c *client.Client, cp *log.Checkpoint) *auditor {
	return &auditor{c: c, cp: cp, rng: rf.NewEmptyRange(0),
		nodes: map[uint64][][]byte{}, nodeTile: map[uint64]uint64{}}
}

// checkRoot compares the rebuilt root with the checkpoint's.
func (a *auditor) checkRoot() error {
	root, err := a.rng.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("computing the root: %w", err)
	}
	if a.cp.Size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if string(root) != string(a.cp.Hash) {
		return &IntegrityError{Resource: "checkpoint", Detail: fmt.Sprintf(
			"root differs: the %d entries hash to %s, the signed checkpoint says %s",
			a.cp.Size, hex.EncodeToString(root), hex.EncodeToString(a.cp.Hash))}
	}
	return nil
}
