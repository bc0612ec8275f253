package backup

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/fsck"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// check runs Tessera's fsck over r against its checkpoint (verified with
// v): every entry bundle re-hashed, every tile re-derived and compared,
// the root compared with the checkpoint's. It reports progress to w.
func check(ctx context.Context, w io.Writer, what, origin string, v sumdbnote.Verifier, r storage.Resources) error {
	f := fsck.New(origin, v, exact{r}, leafHashes, fsck.Opts{N: 4})
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				st := f.Status()
				fmt.Fprintf(w, "%s: checking, %d resources read\n", what, st.ResourcesFetched)
			}
		}
	}()
	err := f.Check(ctx)
	close(done)
	if err != nil {
		return fmt.Errorf("%s: fsck: %w", what, err)
	}
	return nil
}

// leafHashes is fsck's bundle hasher for tlog-tiles entry bundles.
func leafHashes(bundle []byte) ([][]byte, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(bundle); err != nil {
		return nil, err
	}
	out := make([][]byte, len(b.Entries))
	for i, e := range b.Entries {
		out[i] = rfc6962.DefaultHasher.HashLeaf(e)
	}
	return out, nil
}

// exact serves tiles and bundles at exactly the width asked for, as fsck
// compares them byte for byte.
type exact struct{ storage.Resources }

func (e exact) ReadTile(ctx context.Context, l, i uint64, p uint8) ([]byte, error) {
	return storage.ExactTile(e.Resources.ReadTile)(ctx, l, i, p)
}

func (e exact) ReadEntryBundle(ctx context.Context, i uint64, p uint8) ([]byte, error) {
	return storage.ExactBundle(e.Resources.ReadEntryBundle)(ctx, i, p)
}
