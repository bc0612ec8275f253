package explorer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/note"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// CSP is the Content-Security-Policy of every explorer answer: nothing but
// the server's own files, no inline script or style, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// Config is what the explorer shows.
type Config struct {
	// Log is the main log.
	Log *tlog.Log
	// Index is the search index; nil when the server runs none (the
	// search pages then say so, with 503).
	Index *index.Index
	// Witnesses is the main log's witnessing; nil when not witnessed.
	Witnesses *tlog.Witnesses
	// CheckpointPublishedAt reports when the latest checkpoint was
	// published; nil leaves the checkpoint's age unshown.
	CheckpointPublishedAt func(ctx context.Context) (time.Time, error)
	Logger                *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Explorer serves the pages. Its methods are safe for concurrent use.
type Explorer struct {
	cfg   Config // immutable after New
	pages map[string]*template.Template
	key   logKey
	rate  *rateSampler
}

// logKey is the log's identity as the pages show it and verify.js uses it.
type logKey struct {
	Origin string
	// Type is "Ed25519" or "ECDSA P-256": the WebCrypto algorithm.
	Type string
	// SPKI is the PKIX DER of the key, base64; PEM the same as PEM.
	SPKI, PEM string
	// Fingerprint is "sha256:<hex>" of SPKI.
	Fingerprint string
	// LogID is the 32-byte log ID, base64 (bundles carry it).
	LogID string
	// VKey is the signed-note verifier key (Ed25519 keys only).
	VKey string
}

// New prepares the explorer of cfg.Log.
func New(cfg Config) (*Explorer, error) {
	if cfg.Log == nil {
		return nil, errors.New("explorer: Config.Log is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Explorer{cfg: cfg, rate: newRateSampler()}
	var err error
	if e.key, err = newLogKey(cfg.Log); err != nil {
		return nil, err
	}
	if e.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	return e, nil
}

func newLogKey(l *tlog.Log) (logKey, error) {
	pub := l.PublicKey()
	k := logKey{Origin: l.Origin(), LogID: base64.StdEncoding.EncodeToString(l.LogID())}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		k.Type = "Ed25519"
	case *ecdsa.PublicKey:
		if p.Curve.Params().Name != "P-256" {
			return k, fmt.Errorf("explorer: ECDSA log key on %s; browsers verify P-256 checkpoints only", p.Curve.Params().Name)
		}
		k.Type = "ECDSA P-256"
	default:
		return k, fmt.Errorf("explorer: unsupported log key type %T", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return k, fmt.Errorf("explorer: encoding the log key: %w", err)
	}
	k.SPKI = base64.StdEncoding.EncodeToString(der)
	sum := sha256.Sum256(der)
	k.Fingerprint = "sha256:" + hex.EncodeToString(sum[:])
	pemKey, err := note.MarshalPublicKey(pub)
	if err != nil {
		return k, fmt.Errorf("explorer: encoding the log key: %w", err)
	}
	k.PEM = string(pemKey)
	k.VKey, _ = note.VerifierKey(k.Origin, pub) // empty for ECDSA
	return k, nil
}

// Mount adds the explorer's routes to r: /, /entry/{index}, /search,
// /watch, /consistency, /bundle and /static/*.
func (e *Explorer) Mount(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(securityHeaders)
		r.Get("/", e.logPage)
		r.Get("/entry", e.openEntry)
		r.Get("/entry/{index}", e.entryPage)
		r.Get("/search", e.searchPage)
		r.Get("/watch", e.watchPage)
		r.Get("/consistency", e.consistencyPage)
		r.Get("/bundle", e.bundlePage)
		r.Get("/static/*", e.static)
	})
}

// Run samples the tree size for the add-rate chart until ctx ends.
func (e *Explorer) Run(ctx context.Context) {
	t := time.NewTicker(rateSampleEvery)
	defer t.Stop()
	for {
		e.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Explorer) sample(ctx context.Context) {
	cp, _, err := e.cfg.Log.Checkpoint(ctx)
	if err != nil {
		return
	}
	e.rate.add(e.cfg.Now(), cp.Size)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// static serves the embedded assets. They change only with the binary, so
// they may be cached for a while but not forever.
func (e *Explorer) static(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "*")
	if !staticName.MatchString(name) {
		e.renderError(w, r, http.StatusNotFound, "no such file: /static/"+name)
		return
	}
	b, err := fs.ReadFile(staticFiles, "static/"+name)
	if err != nil {
		e.renderError(w, r, http.StatusNotFound, "no such file: /static/"+name)
		return
	}
	w.Header().Set("Content-Type", staticTypes[extOf(name)])
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

// page is what every template gets.
type page struct {
	Title string
	// Nav is the menu entry the page belongs to.
	Nav string
	Key logKey
	// Verify loads verify.js.
	Verify bool
	Data   any
}

// render writes the page named name with status.
func (e *Explorer) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Key = e.key
	var buf bytes.Buffer
	if err := e.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		e.cfg.Logger.Error("rendering an explorer page", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError writes an error page: what was wrong, with status.
func (e *Explorer) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	e.render(w, r, status, "error", page{Title: http.StatusText(status), Data: errorData{Status: status, Message: msg}})
}

type errorData struct {
	Status  int
	Message string
}
