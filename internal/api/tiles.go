package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/idtile"
	"github.com/transparency-dev/tessera/api/layout"
)

const immutable = "public, max-age=31536000, immutable"

// Header values of the tlog-tiles answers, shared by every answer instead
// of allocated per request (net/http never modifies a header's values).
var (
	octetStreamHeader     = []string{"application/octet-stream"}
	immutableHeader       = []string{immutable}
	checkpointTypeHeader  = []string{"text/plain; charset=utf-8"}
	checkpointCacheHeader = []string{"public, max-age=1"}
)

// writeResource writes body, which is shared and must not be modified,
// with a Content-Length, so that net/http sends it without chunking.
func writeResource(w http.ResponseWriter, contentType, cacheControl []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Cache-Control"] = cacheControl
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}

// checkpoint serves the latest published checkpoint (C2SP tlog-tiles).
func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	if s.redirectTiles(w, r, "", "checkpoint") {
		return
	}
	s.serveCheckpoint(w, r, s.cfg.Log)
}

// tile serves /api/v2/tile/<L>/<N>[.p/<W>], /api/v2/tile/entries/<N>[.p/<W>]
// and /api/v2/tile/identities/<N>.
func (s *server) tile(w http.ResponseWriter, r *http.Request) {
	if s.redirectTiles(w, r, "", "tile/"+chi.URLParam(r, "*")) {
		return
	}
	s.serveTile(w, r, s.cfg.Log)
}

// redirectTiles sends a tlog-tiles read to TilesPublicURL, when set, and
// reports whether it did. Tile paths are checked first: only canonical
// ones are redirected.
func (s *server) redirectTiles(w http.ResponseWriter, r *http.Request, prefix, path string) bool {
	if s.cfg.TilesPublicURL == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(path, "tile/"); ok {
		if _, err := parseTilePath(rest); err != nil {
			writeError(w, http.StatusBadRequest, "malformed tile path %q: %v", path, err)
			return true
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=1")
	http.Redirect(w, r, strings.TrimRight(s.cfg.TilesPublicURL, "/")+"/"+prefix+path, http.StatusFound)
	return true
}

// certLogCheckpoint and certLogTile serve the certificate log under
// /api/v2/certlog with the same layout as the main log.
func (s *server) certLogCheckpoint(w http.ResponseWriter, r *http.Request) {
	if s.redirectTiles(w, r, "certlog/", "checkpoint") {
		return
	}
	s.serveCheckpoint(w, r, s.cfg.CertLog)
}

func (s *server) certLogTile(w http.ResponseWriter, r *http.Request) {
	if s.redirectTiles(w, r, "certlog/", "tile/"+chi.URLParam(r, "*")) {
		return
	}
	s.serveTile(w, r, s.cfg.CertLog)
}

func (s *server) serveCheckpoint(w http.ResponseWriter, r *http.Request, l *tlog.Log) {
	_, raw, err := l.Checkpoint(r.Context())
	if err != nil {
		s.readError(w, r, "checkpoint", err)
		return
	}
	writeResource(w, checkpointTypeHeader, checkpointCacheHeader, raw)
}

func (s *server) serveTile(w http.ResponseWriter, r *http.Request, l *tlog.Log) {
	rest := chi.URLParam(r, "*")
	res, err := parseTilePath(rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed tile path %q: %v", "tile/"+rest, err)
		return
	}
	if res.identities {
		s.serveIdentityTile(w, r, l, res.index)
		return
	}
	var data []byte
	if res.entries {
		data, err = l.ReadEntryBundle(r.Context(), res.index, res.width)
	} else {
		data, err = l.ReadTile(r.Context(), res.level, res.index, res.width)
	}
	if err != nil {
		s.readError(w, r, "tile/"+rest, err)
		return
	}
	writeResource(w, octetStreamHeader, immutableHeader, data)
}

// identityTileType is the media type of an identity tile: a gzip stream
// (RFC 6713), not a content encoding, so that clients do not decompress it.
const identityTileType = "application/gzip"

// serveIdentityTile serves the identity tile of entry bundle index: stored
// beside the bundles, or derived from the bundle (tlog.ReadIdentityTile).
// A bundle without one is 404 saying why.
func (s *server) serveIdentityTile(w http.ResponseWriter, r *http.Request, l *tlog.Log, index uint64) {
	data, err := l.ReadIdentityTile(r.Context(), index)
	var none *tlog.NoIdentityTileError
	if errors.As(err, &none) {
		writeError(w, http.StatusNotFound, "%v", none)
		return
	}
	if err != nil {
		s.readError(w, r, idtile.Path(index), err)
		return
	}
	w.Header().Set("Content-Type", identityTileType)
	w.Header().Set("Cache-Control", immutable)
	_, _ = w.Write(data)
}

type tileResource struct {
	entries      bool
	identities   bool // an identity tile (pkg/idtile): index only
	level, index uint64
	width        uint8
}

// parseTilePath parses the part of a tile URL after "tile/". Only the
// canonical spelling is accepted (no leading zeros, x-prefixed groups), so
// each resource has exactly one URL and caches stay coherent.
func parseTilePath(rest string) (tileResource, error) {
	if idx, ok := strings.CutPrefix(rest, "identities/"); ok {
		i, w, err := layout.ParseTileIndexPartial(idx)
		switch {
		case err != nil:
			return tileResource{}, err
		case w != 0:
			return tileResource{}, errors.New("identity tiles have no partial width (only full bundles have one)")
		case idtile.Path(i) != "tile/"+rest:
			return tileResource{}, errNotCanonical
		}
		return tileResource{identities: true, index: i}, nil
	}
	if idx, ok := strings.CutPrefix(rest, "entries/"); ok {
		i, w, err := layout.ParseTileIndexPartial(idx)
		if err != nil {
			return tileResource{}, err
		}
		if layout.EntriesPath(i, w) != "tile/"+rest {
			return tileResource{}, errNotCanonical
		}
		return tileResource{entries: true, index: i, width: w}, nil
	}
	level, idx, ok := strings.Cut(rest, "/")
	if !ok {
		return tileResource{}, errors.New("want tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>] or tile/identities/<N>")
	}
	l, i, w, err := layout.ParseTileLevelIndexPartial(level, idx)
	if err != nil {
		return tileResource{}, err
	}
	if layout.TilePath(l, i, w) != "tile/"+rest {
		return tileResource{}, errNotCanonical
	}
	return tileResource{level: l, index: i, width: w}, nil
}

var errNotCanonical = errors.New("not in canonical form (decimal without leading zeros, index in x-prefixed 3-digit groups)")

func (s *server) readError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		clientGone(w)
		return
	}
	if errors.Is(err, tlog.ErrNotFound) {
		writeError(w, http.StatusNotFound, "%s does not exist (yet)", what)
		return
	}
	s.health.reads.Error("reading log resource", "resource", what, "err", err)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "reading %s from storage failed; retry shortly", what)
}
