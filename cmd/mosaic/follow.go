package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	lk, err := k.logKey(certLog)
	if err != nil {
		return nil, "", err
	}
	return lk.v, lk.origin, nil
}

// logKey is a followed log's checkpoint verifier and origin, and the log
// as the verifier memory names it (nil when its key is not known: a
// --vkey whose name is not the origin, or not an Ed25519 key).
type logKey struct {
	v      sumdbnote.Verifier
	origin string
	tlog   *verify.TransparencyLog
}

func (k *logKeyFlags) logKey(certLog bool) (*logKey, error) {
	given := 0
	for _, s := range []string{*k.vkey, *k.keyPath, *k.root} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return nil, usagef("give exactly one of --trusted-root, --vkey, --log-key")
	}
	if *k.root != "" {
		return k.fromTrustedRoot(certLog)
	}
	if certLog {
		return nil, usagef("following the certificate log needs --trusted-root (its key is listed under ctlogs)")
	}
	var pemKey []byte
	if *k.keyPath != "" {
		var err error
		if pemKey, err = os.ReadFile(*k.keyPath); err != nil {
			return nil, usagef("--log-key: %v", err)
		}
		if *k.origin == "" {
			*k.origin = hostname(*k.url)
		}
	}
	v, origin, err := note.LogVerifier(*k.vkey, *k.origin, pemKey)
	if err != nil {
		return nil, usageError{err}
	}
	lk := &logKey{v: v, origin: origin}
	var pub crypto.PublicKey
	if len(pemKey) > 0 {
		pub, err = note.ParsePublicKey(pemKey)
	} else {
		pub, err = vkeyPublicKey(*k.vkey)
	}
	if err == nil {
		lk.tlog, err = newTransparencyLog(*k.url, origin, pub, nil)
	}
	if tv, verr := note.NewVerifier(origin, pub); err != nil || verr != nil || tv.Name() != v.Name() || tv.KeyHash() != v.KeyHash() {
		lk.tlog = nil // a --vkey named other than the origin, or not Ed25519
	}
	return lk, nil
}

// vkeyPublicKey is the Ed25519 key of a signed-note verifier key that
// sumdbnote.NewVerifier accepted (name+hash+base64 of 0x01 and the key).
func vkeyPublicKey(vkey string) (crypto.PublicKey, error) {
	// name+hash+key: names hold no '+', the hash is hex, but the base64 key
	// may contain '+'.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("verifier key %q is not name+hash+key", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return nil, fmt.Errorf("verifier key %q is not an Ed25519 key", vkey)
	}
	return ed25519.PublicKey(raw[1:]), nil
}

// newTransparencyLog names a log to the verifier memory: by origin and by
// id, or when id is nil by the log ID derived from its key (as trusted
// roots Mosaic writes do).
func newTransparencyLog(baseURL, origin string, pub crypto.PublicKey, id []byte) (*verify.TransparencyLog, error) {
	if id == nil {
		var err error
		if id, err = note.LogID(origin, pub); err != nil {
			return nil, err
		}
	}
	return &verify.TransparencyLog{BaseURL: baseURL, Origin: origin, LogID: id, PublicKey: pub}, nil
}

func (k *logKeyFlags) fromTrustedRoot(certLog bool) (*logKey, error) {
	tr, err := readTrustedRoot(*k.root)
	if err != nil {
		return nil, err
	}
	tlog := pickLog(tr.Tlogs, *k.url)
	if tlog == nil {
		return nil, fmt.Errorf("%s lists no transparency log", *k.root)
	}
	origin, pub, id, baseURL := tlog.Origin, tlog.PublicKey, tlog.LogID, tlog.BaseURL
	if *k.origin != "" {
		origin = *k.origin
	}
	if certLog {
		ct := pickLog(tr.CTLogs, strings.TrimSuffix(*k.url, "/")+"/api/v2/certlog")
		if ct == nil {
			return nil, fmt.Errorf("%s lists no certificate log (ctlogs)", *k.root)
		}
		origin, pub, id, baseURL = origin+"/certlog", ct.PublicKey, ct.LogID, ct.BaseURL
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	v, origin, err := note.LogVerifier("", origin, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		return nil, err
	}
	tl, err := newTransparencyLog(baseURL, origin, pub, id)
	if err != nil {
		return nil, err
	}
	return &logKey{v: v, origin: origin, tlog: tl}, nil
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
	fs, output := newFlags(e, "monitor", "monitor --url URL --state FILE (--trusted-root T | --vkey K | --log-key PEM) [--watch W.yaml] [--interval 10s] [--full-scan] "+
		"[--witness-policy P] [--verifier-state DIR | --no-verifier-state]")
	keys := addLogKeyFlags(fs)
	var cfg monitor.Config
	fs.StringVar(&cfg.StatePath, "state", "", "state file: the last verified checkpoint and scan position (required; created on the first run)")
	fs.StringVar(&cfg.EvidenceDir, "evidence", "", "where alarm evidence goes (default: evidence/ beside --state)")
	watchPath := fs.String("watch", "", "watch list (YAML): identities, issuers, fingerprints, digests to report")
	fs.Uint64Var(&cfg.Start, "start", 0, "first entry to scan on the first run")
	fs.DurationVar(&cfg.Interval, "interval", 0, "follow the log, polling this often (default: one pass, then exit)")
	fs.StringVar(&cfg.Webhook, "webhook", "", "POST each match and alarm (JSON) to this URL")
	fs.IntVar(&cfg.Parallelism, "parallel", 8, "concurrent entry-bundle downloads")
	fs.BoolVar(&cfg.FullScan, "full-scan", false, "read every entry bundle; by default a full bundle is read only when its identity tile (if the log serves one) names a watched identity, a trade-off: identity tiles are not covered by the Merkle tree")
	certLog := fs.Bool("certlog", false, "also follow the deployment's certificate log (needs --trusted-root)")
	policyPath := fs.String("witness-policy", "", "witness policy file (Tessera's format): a checkpoint of the log without its quorum's cosignatures is an alarm")
	state := addStateFlags(fs, "verifier-state", false)
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	if cfg.StatePath == "" {
		return usagef("--state is required")
	}
	lk, err := keys.logKey(false)
	if err != nil {
		return err
	}
	cfg.Log = monitor.LogConfig{URL: client.TilesURL(*keys.url), Origin: lk.origin, Verifier: lk.v}
	if *policyPath != "" {
		if cfg.Log.Witnesses, err = readWitnessPolicy(*policyPath); err != nil {
			return err
		}
	}
	mem, err := state.memory()
	if err != nil {
		return err
	}
	if mem != nil {
		if lk.tlog == nil {
			return usagef("the verifier memory needs the log's Ed25519 key under its origin %q, which --vkey does not give (give --log-key or --trusted-root, or --no-verifier-state)", lk.origin)
		}
		cfg.Memory, cfg.Log.Log = mem, lk.tlog
	}
	if *certLog {
		clk, err := keys.logKey(true)
		if err != nil {
			return err
		}
		cfg.CertLog = &monitor.LogConfig{URL: client.CertLogTilesURL(*keys.url), Origin: clk.origin, Verifier: clk.v}
		if mem != nil {
			cfg.CertLog.Log = clk.tlog
		}
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
	return monitorError(monitorShards(e.ctx, cfg, *keys.root, *keys.url))
}

// monitorError maps a monitor's alarms to their exit codes: a split view
// caught by the verifier memory exits 4 (as mosaic verify does), naming
// the evidence file mosaic verify-evidence checks; any other alarm 3.
func monitorError(err error) error {
	var alarm *monitor.AlarmError
	switch {
	case errors.As(err, &alarm) && alarm.Kind == monitor.AlarmSplitView && alarm.EvidenceDir != "":
		file := filepath.Join(alarm.EvidenceDir, monitor.SplitViewEvidenceFile)
		return splitViewError{fmt.Errorf("%w (check it with: mosaic verify-evidence %s)", err, file)}
	case errors.As(err, &alarm) && alarm.Kind == monitor.AlarmSplitView:
		return splitViewError{err}
	case errors.As(err, &alarm):
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
