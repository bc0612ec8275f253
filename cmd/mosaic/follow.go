package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/audit"
	"github.com/mosaiclog/mosaic/internal/monitor"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// logKeyFlags name the key a followed log's checkpoints must be signed by:
// a signed-note verifier key, a PEM public key with the origin, or a
// trusted_root.json.
type logKeyFlags struct {
	url, vkey, keyPath, origin, root *string
}

func addLogKeyFlags(fs *flag.FlagSet) *logKeyFlags {
	return &logKeyFlags{
		url:     fs.String("url", defaultURL(), "the log's base URL (default from $MOSAIC_URL when set)"),
		vkey:    fs.String("vkey", "", "the log's signed-note verifier key (name+hash+key)"),
		keyPath: fs.String("log-key", "", "the log's public key (PEM); with --origin (default: the URL's hostname)"),
		origin:  fs.String("origin", "", "the log's checkpoint origin (default: the hostname of --url)"),
		root:    fs.String("trusted-root", "", "trusted_root.json: take the log's key and origin from its tlog for --url"),
	}
}

// verifier builds the checkpoint verifier of the main log, or with certLog
// of its certificate log (origin "<origin>/certlog", key from the trusted
// root's ctlogs).
func (k *logKeyFlags) verifier(certLog bool) (sumdbnote.Verifier, string, error) {
	given := 0
	for _, s := range []string{*k.vkey, *k.keyPath, *k.root} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return nil, "", usagef("give exactly one of --trusted-root, --vkey, --log-key")
	}
	if *k.root == "" {
		if certLog {
			return nil, "", usagef("following the certificate log needs --trusted-root (its key is listed under ctlogs)")
		}
		var pemKey []byte
		if *k.keyPath != "" {
			var err error
			if pemKey, err = os.ReadFile(*k.keyPath); err != nil {
				return nil, "", usagef("--log-key: %v", err)
			}
			if *k.origin == "" {
				*k.origin = hostname(*k.url)
			}
		}
		v, origin, err := note.LogVerifier(*k.vkey, *k.origin, pemKey)
		if err != nil {
			return nil, "", usageError{err}
		}
		return v, origin, nil
	}
	return k.fromTrustedRoot(certLog)
}

func (k *logKeyFlags) fromTrustedRoot(certLog bool) (sumdbnote.Verifier, string, error) {
	tr, err := readTrustedRoot(*k.root)
	if err != nil {
		return nil, "", err
	}
	tlog := pickLog(tr.Tlogs, *k.url)
	if tlog == nil {
		return nil, "", fmt.Errorf("%s lists no transparency log", *k.root)
	}
	origin, pub := tlog.Origin, tlog.PublicKey
	if *k.origin != "" {
		origin = *k.origin
	}
	if certLog {
		ct := pickLog(tr.CTLogs, strings.TrimSuffix(*k.url, "/")+"/api/v2/certlog")
		if ct == nil {
			return nil, "", fmt.Errorf("%s lists no certificate log (ctlogs)", *k.root)
		}
		origin, pub = origin+"/certlog", ct.PublicKey
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	v, origin, err := note.LogVerifier("", origin, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		return nil, "", err
	}
	return v, origin, nil
}

// pickLog returns the log whose base URL is url, else the only one.
func pickLog(logs []*verify.TransparencyLog, url string) *verify.TransparencyLog {
	for _, l := range logs {
		if strings.TrimSuffix(l.BaseURL, "/") == strings.TrimSuffix(url, "/") {
			return l
		}
	}
	if len(logs) == 1 {
		return logs[0]
	}
	return nil
}

func hostname(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	u, _, _ = strings.Cut(u, "/")
	if h, _, ok := strings.Cut(u, ":"); ok {
		return h
	}
	return u
}

func cmdMonitor(e *env, args []string) error {
	fs, output := newFlags(e, "monitor", "monitor --url URL --state FILE (--trusted-root T | --vkey K | --log-key PEM) [--watch W.yaml] [--interval 10s]")
	keys := addLogKeyFlags(fs)
	var cfg monitor.Config
	fs.StringVar(&cfg.StatePath, "state", "", "state file: the last verified checkpoint and scan position (required; created on the first run)")
	fs.StringVar(&cfg.EvidenceDir, "evidence", "", "where alarm evidence goes (default: evidence/ beside --state)")
	watchPath := fs.String("watch", "", "watch list (YAML): identities, issuers, fingerprints, digests to report")
	fs.Uint64Var(&cfg.Start, "start", 0, "first entry to scan on the first run")
	fs.DurationVar(&cfg.Interval, "interval", 0, "follow the log, polling this often (default: one pass, then exit)")
	fs.StringVar(&cfg.Webhook, "webhook", "", "POST each match and alarm (JSON) to this URL")
	fs.IntVar(&cfg.Parallelism, "parallel", 8, "concurrent entry-bundle downloads")
	certLog := fs.Bool("certlog", false, "also follow the deployment's certificate log (needs --trusted-root)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	if cfg.StatePath == "" {
		return usagef("--state is required")
	}
	v, origin, err := keys.verifier(false)
	if err != nil {
		return err
	}
	cfg.Log = monitor.LogConfig{URL: client.TilesURL(*keys.url), Origin: origin, Verifier: v}
	if *certLog {
		cv, corigin, err := keys.verifier(true)
		if err != nil {
			return err
		}
		cfg.CertLog = &monitor.LogConfig{URL: client.CertLogTilesURL(*keys.url), Origin: corigin, Verifier: cv}
	}
	if *watchPath != "" {
		if cfg.Watch, err = monitor.LoadWatchList(*watchPath); err != nil {
			return usagef("--watch: %v", err)
		}
	}
	cfg.Output = e.stdout // JSON lines either way: one event per line
	if !*quiet {
		cfg.Progress = e.stderr
	}
	err = monitor.Run(e.ctx, cfg)
	var alarm *monitor.AlarmError
	if errors.As(err, &alarm) {
		return alarmError{err}
	}
	return originHint(err)
}

// originHint adds, to the error of a checkpoint signed for another origin
// than the one asked for, the flag that follows that log.
func originHint(err error) error {
	var oe *note.OriginError
	if errors.As(err, &oe) {
		return fmt.Errorf("%w (if that is the log you meant, give --origin %s)", err, oe.Got)
	}
	return err
}

func cmdAudit(e *env, args []string) error {
	fs, output := newFlags(e, "audit", "audit --url URL (--trusted-root T | --vkey K | --log-key PEM) [--certlog]")
	keys := addLogKeyFlags(fs)
	parallel := fs.Int("parallel", 8, "concurrent downloads")
	certLog := fs.Bool("certlog", false, "audit the deployment's certificate log instead of its main log")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	v, origin, err := keys.verifier(*certLog)
	if err != nil {
		return err
	}
	cfg := audit.Config{LogURL: client.TilesURL(*keys.url), Origin: origin, Verifier: v, Parallelism: *parallel}
	if *certLog {
		cfg.LogURL = client.CertLogTilesURL(*keys.url)
	}
	if !*quiet {
		cfg.Progress = e.stderr
	}
	rep, err := audit.Run(e.ctx, cfg)
	if err != nil {
		var ie *audit.IntegrityError
		if errors.As(err, &ie) {
			if *output == "json" {
				_ = emit(e, *output, map[string]any{"ok": false, "resource": ie.Resource, "error": err.Error()}, nil)
			}
			return fmt.Errorf("the log is corrupt: %w", err)
		}
		return originHint(err)
	}
	out := map[string]any{
		"ok": true, "origin": rep.Origin, "size": rep.Size, "root": b64(rep.Root), "entries": rep.Entries,
		"bundles": rep.Bundles, "tiles": rep.Tiles, "bytes": rep.Bytes, "seconds": rep.Duration.Seconds(), "entriesPerSecond": rep.Rate(),
	}
	return emit(e, *output, out, func(w io.Writer) {
		fmt.Fprintf(w, "audit OK: %s, %d entries re-derived into root %s; %d entry bundles and %d tiles checked in %s (%.0f entries/s)\n",
			rep.Origin, rep.Size, b64(rep.Root), rep.Bundles, rep.Tiles, rep.Duration.Round(time.Millisecond), rep.Rate())
	})
}
