package explorer

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// readTimeout bounds the storage reads of one page.
const readTimeout = 10 * time.Second

// Page sizes: a search page shows searchPageSize entries; the watch page
// shows the newest watchShown entries among at most watchScanPages pages
// of the identity's entries.
const (
	searchPageSize = 25
	watchShown     = 25
	watchScanPages = 2
	// searchPageBytes bounds the entry bodies one page reads.
	searchPageBytes = 512 << 10
)

// readError answers a failed read of the log or index as an error page:
// the reader's mistake (an index past the tree) with notFound, an integrity
// failure or an unavailable store as 503, never a 500 for input.
func (e *Explorer) readError(w http.ResponseWriter, r *http.Request, what string, rangeStatus int, err error) {
	var rng *tlog.RangeError
	var qe *index.QueryError
	switch {
	case errors.As(err, &rng):
		e.renderError(w, r, rangeStatus, rng.Error())
	case errors.As(err, &qe):
		e.renderError(w, r, http.StatusBadRequest, qe.Error())
	case errors.Is(err, tlog.ErrNotFound) && what == "checkpoint":
		e.renderError(w, r, http.StatusServiceUnavailable, "the log has published no checkpoint yet; retry in a moment")
	case r.Context().Err() != nil:
		// The reader went away; nobody sees this.
		return
	case errors.Is(err, context.DeadlineExceeded):
		e.renderError(w, r, http.StatusGatewayTimeout, what+": the log did not answer in time; retry")
	default:
		e.cfg.Logger.Warn("explorer read failed", "what", what, "err", err)
		e.renderError(w, r, http.StatusServiceUnavailable, what+": the log's storage is not answering; retry later")
	}
}

type logData struct {
	Size       uint64
	Root       string
	Checkpoint string
	// Age is how long ago the checkpoint was published (HasAge: known).
	Age    time.Duration
	HasAge bool
	// Witnesses is nil when the log is not witnessed.
	Witnesses *witnessData
	// Index is nil when the server runs no search index.
	Index *index.Status
	Rate  rateChart
}

type witnessData struct {
	Names     []string
	QuorumMet bool
	Problems  []string
}

func (e *Explorer) logPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	cp, raw, err := e.cfg.Log.Checkpoint(ctx)
	if err != nil {
		e.readError(w, r, "checkpoint", http.StatusNotFound, err)
		return
	}
	now := e.cfg.Now()
	e.rate.add(now, cp.Size)
	d := logData{Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Hash), Checkpoint: string(raw),
		Rate: e.rate.chart(now)}
	if e.cfg.CheckpointPublishedAt != nil {
		if at, err := e.cfg.CheckpointPublishedAt(ctx); err == nil && !at.IsZero() {
			d.Age, d.HasAge = now.Sub(at), true
		}
	}
	if e.cfg.Witnesses != nil {
		st := e.cfg.Witnesses.Status()
		wd := &witnessData{QuorumMet: st.QuorumMet, Problems: st.Problems()}
		for _, pw := range e.cfg.Witnesses.Policy().Witnesses {
			wd.Names = append(wd.Names, pw.Name+" ("+pw.KeyName+")")
		}
		d.Witnesses = wd
	}
	if e.cfg.Index != nil {
		st := e.cfg.Index.Status()
		d.Index = &st
	}
	e.render(w, r, http.StatusOK, "log", page{Title: "Log " + e.key.Origin, Nav: "log", Data: d})
}

func (e *Explorer) entryPage(w http.ResponseWriter, r *http.Request) {
	i, err := parseUint("index", chi.URLParam(r, "index"))
	if err != nil {
		e.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	leaf, proof, err := e.cfg.Log.Entry(ctx, i)
	if err != nil {
		e.readError(w, r, "entry", http.StatusNotFound, err)
		return
	}
	d := describeEntry(i, leaf)
	d.Proof = proof
	e.render(w, r, http.StatusOK, "entry", page{Title: "Entry " + formatCount(i), Verify: true, Data: d})
}

// openEntry is the log page's form: /entry?index=N goes to /entry/N.
func (e *Explorer) openEntry(w http.ResponseWriter, r *http.Request) {
	i, err := parseUint("index", r.URL.Query().Get("index"))
	if err != nil {
		e.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	http.Redirect(w, r, "/entry/"+strconv.FormatUint(i, 10), http.StatusSeeOther)
}

type searchData struct {
	Params searchParams
	// Searched is false for the empty form.
	Searched bool
	Hits     []entrySummary
	Next     string
	Index    index.Status
	// WatchURL is the shareable watch page of the identity searched for.
	WatchURL string
}

func (e *Explorer) searchPage(w http.ResponseWriter, r *http.Request) {
	p, err := parseSearch(r.URL.Query())
	d := searchData{Params: p}
	if err != nil {
		e.render(w, r, http.StatusBadRequest, "search", page{Title: "Search", Nav: "search", Data: searchWithError{d, err.Error()}})
		return
	}
	if p.empty() {
		e.render(w, r, http.StatusOK, "search", page{Title: "Search", Nav: "search", Data: searchWithError{Data: d}})
		return
	}
	if e.cfg.Index == nil {
		e.renderError(w, r, http.StatusServiceUnavailable, "this server runs no search index (mosaicd serve --search-index=false)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	res, err := e.cfg.Index.Search(ctx, index.Query{Digest: p.Digest, PublicKeyFingerprint: p.Fingerprint,
		SAN: p.SAN, OIDCIssuer: p.Issuer, PageSize: searchPageSize, PageToken: p.Token, MaxBytes: searchPageBytes})
	if err != nil {
		e.readError(w, r, "search", http.StatusBadRequest, err)
		return
	}
	d.Searched, d.Index = true, res.Status
	for _, h := range res.Hits {
		d.Hits = append(d.Hits, summarize(h.Index, h.Body))
	}
	if res.NextPageToken != "" {
		q := p.query()
		q.Set("page", res.NextPageToken)
		d.Next = "/search?" + q.Encode()
	}
	if p.SAN != "" {
		d.WatchURL = "/watch?" + url.Values{"san": {p.SAN}, "issuer": {p.Issuer}}.Encode()
	}
	e.render(w, r, http.StatusOK, "search", page{Title: "Search", Nav: "search", Data: searchWithError{Data: d}})
}

// searchWithError is the search page's data with the form's error, if any.
type searchWithError struct {
	Data  searchData
	Error string
}

type watchData struct {
	SAN, Issuer string
	Hits        []entrySummary
	// More is set when the identity has entries past the pages scanned:
	// a link to continue from there.
	More  string
	Index index.Status
}

// watchPage shows the newest entries of an identity (a SAN, and an issuer
// if given). Its URL is the watch: bookmark or share it.
func (e *Explorer) watchPage(w http.ResponseWriter, r *http.Request) {
	p, err := parseSearch(r.URL.Query())
	if err == nil && p.SAN == "" && !p.empty() {
		err = paramErrorf("san", "a watch names an identity: give san (and issuer, if you like)")
	}
	if err != nil {
		e.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	d := watchData{SAN: p.SAN, Issuer: p.Issuer}
	if p.SAN == "" {
		e.render(w, r, http.StatusOK, "watch", page{Title: "Watch an identity", Nav: "watch", Data: d})
		return
	}
	if e.cfg.Index == nil {
		e.renderError(w, r, http.StatusServiceUnavailable, "this server runs no search index (mosaicd serve --search-index=false)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	q := index.Query{SAN: p.SAN, OIDCIssuer: p.Issuer, PageSize: index.MaxPageSize, PageToken: p.Token, MaxBytes: searchPageBytes}
	var hits []index.Hit
	for range watchScanPages {
		res, err := e.cfg.Index.Search(ctx, q)
		if err != nil {
			e.readError(w, r, "watch", http.StatusBadRequest, err)
			return
		}
		d.Index = res.Status
		hits = append(hits, res.Hits...)
		if len(hits) > watchShown {
			hits = hits[len(hits)-watchShown:]
		}
		q.PageToken = res.NextPageToken
		if q.PageToken == "" {
			break
		}
	}
	if q.PageToken != "" {
		v := p.query()
		v.Set("page", q.PageToken)
		d.More = "/watch?" + v.Encode()
	}
	for i := len(hits) - 1; i >= 0; i-- {
		d.Hits = append(d.Hits, summarize(hits[i].Index, hits[i].Body))
	}
	e.render(w, r, http.StatusOK, "watch", page{Title: "Watch " + p.SAN, Nav: "watch", Data: d})
}

type consistencyData struct {
	First, Second string
	Latest        uint64
	Proof         *tlog.ConsistencyProof
	Error         string
}

func (e *Explorer) consistencyPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	cp, _, err := e.cfg.Log.Checkpoint(ctx)
	if err != nil {
		e.readError(w, r, "checkpoint", http.StatusNotFound, err)
		return
	}
	q := r.URL.Query()
	d := consistencyData{First: q.Get("first"), Second: q.Get("second"), Latest: cp.Size}
	pg := page{Title: "Consistency", Nav: "consistency", Data: &d}
	if d.First == "" && d.Second == "" {
		e.render(w, r, http.StatusOK, "consistency", pg)
		return
	}
	first, err := parseUint("first", d.First)
	var second uint64
	if err == nil {
		second, err = parseUint("second", d.Second)
	}
	if err == nil {
		d.Proof, err = e.cfg.Log.ConsistencyProof(ctx, first, second)
	}
	var rng *tlog.RangeError
	var pe *paramError
	switch {
	case err == nil:
		e.render(w, r, http.StatusOK, "consistency", pg)
	case errors.As(err, &pe), errors.As(err, &rng):
		d.Error = err.Error()
		e.render(w, r, http.StatusBadRequest, "consistency", pg)
	default:
		e.readError(w, r, "consistency proof", http.StatusBadRequest, err)
	}
}

func (e *Explorer) bundlePage(w http.ResponseWriter, r *http.Request) {
	e.render(w, r, http.StatusOK, "bundle", page{Title: "Check a bundle", Nav: "bundle", Verify: true})
}
