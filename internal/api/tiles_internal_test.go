package api

import (
	"testing"

	"github.com/mosaiclog/mosaic/pkg/idtile"

	"github.com/transparency-dev/tessera/api/layout"
)

// FuzzParseTilePath checks that the tile path parser never panics and only
// accepts canonical paths: whatever it accepts formats back to itself.
func FuzzParseTilePath(f *testing.F) {
	for _, seed := range []string{"0/000", "0/x001/x234/067.p/8", "entries/000", "entries/x001/002.p/255",
		"63/000", "00/000", "0/1", "entries/", "0/.p/", "0/x.p/3", "entries/000.p/", "1/x/x/x", "",
		"identities/000", "identities/x001/234", "identities/000.p/1", "identities/0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		res, err := parseTilePath(rest)
		if err != nil {
			return
		}
		var canon string
		switch {
		case res.identities:
			canon = idtile.Path(res.index)
		case res.entries:
			canon = layout.EntriesPath(res.index, res.width)
		default:
			canon = layout.TilePath(res.level, res.index, res.width)
		}
		if canon != "tile/"+rest {
			t.Fatalf("accepted %q, which formats as %q", rest, canon)
		}
	})
}
