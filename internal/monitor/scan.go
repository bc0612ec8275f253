package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/mosaiclog/mosaic/pkg/client"
)

// saveEvery bounds how much scanning a crash can lose when no match forces
// a save.
const saveEvery = 5 * time.Second

// scanner reads one range of entries. consume runs on one goroutine and
// owns ls and rng; fetch only reads f and cp, and updates the counts and
// the node cache (both safe for concurrent use).
type scanner struct {
	f        *follower
	ls       *LogState
	cp       *log.Checkpoint
	rng      *compact.Range
	from     uint64 // ls.Next when the scan began
	lastSave time.Time
	progress client.Progress
	// idTiles: full bundles are first looked up in their identity tiles
	// (identities.go); nodes caches the level-1 tiles skipped bundles'
	// hashes come from.
	idTiles bool
	nodes   *nodeTiles
	counts  scanCounts
	// noTiles is set when an identity tile was missing (404): the rest of
	// the scan reads every bundle.
	noTiles atomic.Bool
}

// scan reads entries [ls.Next, cp.Size), reports their matches, and checks
// that the log's entries hash to cp's root.
func (f *follower) scan(ctx context.Context, ls *LogState, cp *log.Checkpoint) error {
	if ls.Next >= cp.Size {
		return nil
	}
	rng, err := rf.NewRange(0, ls.Next, ls.Frontier)
	if err != nil {
		return &StateError{f.m.cfg.StatePath, fmt.Errorf("%s: frontier: %w", f.name, err)}
	}
	startFrontier := slices.Clone(ls.Frontier)
	s := &scanner{f: f, ls: ls, cp: cp, rng: rng, from: ls.Next, lastSave: time.Now(),
		progress: client.Progress{W: f.m.cfg.Progress, Label: fmt.Sprintf("monitor %s %s", f.name, f.origin)},
		idTiles:  f.idTiles}
	s.nodes = newNodeTiles(f, cp.Size, &s.counts)
	s.progress.Start(ls.Next)
	first := ls.Next / layout.EntryBundleWidth
	end := (cp.Size + layout.EntryBundleWidth - 1) / layout.EntryBundleWidth
	defer func() { s.counts.report(f.m.progress, f.name, f.origin, s.idTiles) }()
	consume := func(i uint64, b *fetched) error { return s.consume(ctx, i, b) }
	if err := client.Ordered(ctx, first, end, f.m.cfg.Parallelism, s.fetch, consume); err != nil {
		// ls holds a consistent (Next, Frontier) with every match below
		// Next reported: keep that progress.
		if serr := f.m.save(); serr != nil {
			return fmt.Errorf("%w (and %v)", err, serr)
		}
		return err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, cp.Hash) {
		// Do not keep a frontier built from entries the log did not sign.
		ls.Next, ls.Frontier = s.from, startFrontier
		if err := f.m.save(); err != nil {
			return err
		}
		return f.alarm(ctx, &AlarmError{Kind: AlarmEntries, Old: []byte(ls.Checkpoint), New: []byte(ls.Checkpoint), Computed: root,
			Message: fmt.Sprintf("the entries served up to %d hash to %s, but the signed checkpoint's root is %s",
				cp.Size, hex.EncodeToString(root), hex.EncodeToString(cp.Hash))}, cp.Size, cp.Size)
	}
	s.progress.Done(cp.Size, cp.Size)
	return f.m.save()
}

// fetched is what the scan learnt of one bundle: its entries, or, for a
// full bundle its identity tile rules out, only its hash in the tree.
type fetched struct {
	entries [][]byte
	node    []byte
}

// fetch reads bundle i and returns the entries the checkpoint covers, or
// only its node hash when its identity tile shows no watched entry.
func (s *scanner) fetch(ctx context.Context, i uint64) (*fetched, error) {
	width := layout.PartialTileSize(0, i, s.cp.Size)
	if s.idTiles && !s.noTiles.Load() && width == 0 && i*layout.EntryBundleWidth >= s.from {
		skip, err := s.skippable(ctx, i)
		if err != nil {
			return nil, err
		}
		if skip {
			node, err := s.nodes.node(ctx, i)
			if err != nil {
				return nil, err
			}
			s.counts.skipped.Add(1)
			return &fetched{node: node}, nil
		}
	}
	data, served, err := s.f.c.FetchEntryBundle(ctx, i, width)
	if err != nil {
		return nil, fmt.Errorf("reading entry bundle %d: %w", i, err)
	}
	s.counts.read.Add(1)
	s.counts.bytes.Add(int64(len(data)))
	var b api.EntryBundle
	if err := b.UnmarshalText(data); err != nil {
		return nil, fmt.Errorf("entry bundle %d is malformed: %w", i, err)
	}
	if got, want := len(b.Entries), widthOf(served); got != want {
		return nil, fmt.Errorf("entry bundle %d holds %d entries, want %d", i, got, want)
	}
	return &fetched{entries: b.Entries[:widthOf(width)]}, nil
}

func widthOf(w uint8) int {
	if w == 0 {
		return layout.EntryBundleWidth
	}
	return int(w)
}

// consume reports the matches in bundle i and hashes it into the range
// (a skipped bundle: its node hash).
func (s *scanner) consume(ctx context.Context, i uint64, b *fetched) error {
	if b.node != nil {
		sub, err := rf.NewRange(i*layout.EntryBundleWidth, (i+1)*layout.EntryBundleWidth, [][]byte{b.node})
		if err != nil {
			return err
		}
		if err := s.rng.AppendRange(sub, nil); err != nil {
			return fmt.Errorf("entry bundle %d: %w", i, err)
		}
	}
	matched := false
	for k, e := range b.entries {
		index := i*layout.EntryBundleWidth + uint64(k)
		if index < s.from {
			continue
		}
		n, err := s.reportEntry(ctx, index, e)
		if err != nil {
			return err
		}
		matched = matched || n > 0
		if err := s.rng.Append(rfc6962.DefaultHasher.HashLeaf(e), nil); err != nil {
			return err
		}
	}
	s.ls.Next, s.ls.Frontier = s.rng.End(), slices.Clone(s.rng.Hashes())
	s.progress.Update(s.rng.End(), s.cp.Size)
	if matched || time.Since(s.lastSave) >= saveEvery {
		s.lastSave = time.Now()
		return s.f.m.save()
	}
	return nil
}

// reportEntry reports entry index's matches and returns how many. When
// the webhook refuses one, the state stops before the entry.
func (s *scanner) reportEntry(ctx context.Context, index uint64, leaf []byte) (int, error) {
	wl := s.f.m.cfg.Watch
	if wl == nil {
		return 0, nil
	}
	facts, err := s.f.describe(leaf)
	if err != nil {
		fmt.Fprintf(s.f.m.progress, "%s index %d: cannot read the entry (not matched): %v\n", s.f.name, index, err)
		return 0, nil
	}
	matches := wl.Match(facts)
	for _, m := range matches {
		ev := MatchEvent{Type: "match", Log: s.f.name, LogIndex: index, Rule: m.Rule, SAN: m.SAN, Issuer: facts.Issuer,
			Digest: facts.Digest, Fingerprint: facts.KeyFingerprint, CertFingerprint: facts.CertFingerprint}
		if err := s.f.m.report.line(ev); err != nil {
			return 0, err
		}
		if err := s.f.m.report.post(ctx, ev); err != nil {
			s.ls.Next, s.ls.Frontier = index, slices.Clone(s.rng.Hashes())
			return 0, &WebhookError{Log: s.f.name, LogIndex: index, Err: err}
		}
	}
	return len(matches), nil
}
