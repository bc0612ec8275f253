package server

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/ca"
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/internal/trustroot"
	"github.com/mosaiclog/mosaic/internal/tsa"
)

// The keyless services run around the main log: the Fulcio-compatible CA
// with its certificate log, the RFC 3161 TSA, the development OIDC issuer,
// and the client configuration (trusted_root.json and signing_config.json)
// that names them.

// CertLogID names the certificate log inside the store: a log_id in
// PostgreSQL, a subdirectory of a file store. Its origin is the main log's
// plus "/certlog".
const CertLogID = "certlog"

// KeylessConfig says which keyless services to start and with what
// material. The zero value starts none; the client configuration is served
// always.
type KeylessConfig struct {
	// CA: enabled when CAChain is set; CAKey and CTLogKey are then needed.
	CAChain, CAKey string
	CTLogKey       string
	CAValidity     time.Duration
	Issuers        []oidc.IssuerConfig
	// DevOIDC serves the INSECURE development issuer under /dev-oidc and
	// accepts its tokens.
	DevOIDC bool
	// TSA: enabled when TSAChain is set.
	TSAChain, TSAKey string
}

// Keyless is what the keyless services add to the server.
type Keyless struct {
	// Mounts add the services' routes to the HTTP router.
	Mounts []func(chi.Router)
	// CertLog is the certificate log (nil without the CA).
	CertLog *tlog.Log
	// docs are trusted_root.json and signing_config.json, served at
	// /api/v2/trustedRoot and /api/v2/signingConfig, and rebuilt from dep
	// when a shard freezes.
	docs atomic.Pointer[clientDocs]
	dep  trustroot.Deployment // Log and Shards are rebuilt by clientConfig
}

type clientDocs struct{ trustedRoot, signingConfig []byte }

// TrustedRoot is trusted_root.json as served now.
func (k *Keyless) TrustedRoot() []byte { return k.docs.Load().trustedRoot }

// SigningConfig is signing_config.json as served now.
func (k *Keyless) SigningConfig() []byte { return k.docs.Load().signingConfig }

// startKeyless starts the services Config.Keyless enables, and the client
// configuration that describes the deployment.
func (s *Server) startKeyless(ctx context.Context) (*Keyless, error) {
	main := s.Log()
	k := &Keyless{}
	dep := trustroot.Deployment{
		BaseURL: s.cfg.PublicURL,
		Log:     &trustroot.TLog{Origin: main.Origin(), PublicKey: main.PublicKey(), LogID: main.LogID()},
	}
	if s.cfg.Keyless.CAChain != "" {
		if err := s.startCA(ctx, k, &dep); err != nil {
			return nil, err
		}
	}
	if s.cfg.Keyless.TSAChain != "" {
		if err := s.startTSA(k, &dep); err != nil {
			return nil, err
		}
	}
	start := trustStart(dep)
	dep.CAStart, dep.TSAStart = start, start
	dep.Log.Start = start
	if dep.CTLog != nil {
		dep.CTLog.Start = start
	}
	k.dep = dep
	docs, err := s.clientConfig(k.dep)
	if err != nil {
		return nil, err
	}
	k.docs.Store(docs)
	k.Mounts = append(k.Mounts, func(r chi.Router) {
		r.Get("/api/v2/trustedRoot", func(w http.ResponseWriter, r *http.Request) { staticJSON(k.TrustedRoot())(w, r) })
		r.Get("/api/v2/signingConfig", func(w http.ResponseWriter, r *http.Request) { staticJSON(k.SigningConfig())(w, r) })
	})
	return k, nil
}

// clientConfig builds the client configuration of dep with the shards as
// they are now: the active shard (if it takes entries) at the base URL,
// every other at /shards/<name>, each valid from its creation until its
// freeze. The store's first shard ("main") keeps the deployment's start, as
// before there were shards. The active shard is listed first, so that a
// client picking the first log valid now picks it.
func (s *Server) clientConfig(dep trustroot.Deployment) (*clientDocs, error) {
	start := dep.Log.Start
	dep.Log, dep.Shards = nil, nil
	for i, sh := range s.shards {
		l := sh.sl.log
		t := &trustroot.TLog{Origin: l.Origin(), PublicKey: l.PublicKey(), LogID: l.LogID(), Start: start}
		if sh.name != storage.DefaultLogID {
			t.Start = sh.created
		}
		f := sh.frozen.Load()
		if f != nil {
			t.End = f.At
		}
		if i == 0 && f == nil {
			dep.Log = t
			continue
		}
		t.BaseURL = s.cfg.PublicURL + "/shards/" + sh.name
		dep.Shards = append(dep.Shards, t)
	}
	if dep.Log == nil {
		// Every shard is frozen: list the first at the base URL too, so
		// the files stay well-formed; its end keeps signers away.
		dep.Log, dep.Shards = dep.Shards[0], dep.Shards[1:]
		dep.Log.BaseURL = ""
	}
	tr, err := trustroot.TrustedRoot(dep)
	if err != nil {
		return nil, fmt.Errorf("building trusted_root.json: %w", err)
	}
	sc, err := trustroot.SigningConfig(dep)
	if err != nil {
		return nil, fmt.Errorf("building signing_config.json: %w", err)
	}
	return &clientDocs{trustedRoot: tr, signingConfig: sc}, nil
}

// refreshClientConfig rebuilds the client configuration after a shard
// froze.
func (s *Server) refreshClientConfig(ctx context.Context) {
	if s.keyless == nil {
		return
	}
	docs, err := s.clientConfig(s.keyless.dep)
	if err != nil {
		s.logger.Error("rebuilding the client configuration after a freeze", "err", err)
		return
	}
	s.keyless.docs.Store(docs)
}

// startCA starts the CA, the certificate log every certificate it issues
// is appended to, and (DevOIDC) the development OIDC issuer.
func (s *Server) startCA(ctx context.Context, k *Keyless, dep *trustroot.Deployment) error {
	kc := s.cfg.Keyless
	issuers := append([]oidc.IssuerConfig(nil), kc.Issuers...)
	if kc.DevOIDC {
		dev, err := s.devIssuer(k)
		if err != nil {
			return err
		}
		issuers = append(issuers, dev)
		dep.OIDCURL = s.cfg.PublicURL + "/dev-oidc"
	}
	if len(issuers) == 0 {
		return errors.New("the CA needs at least one OIDC issuer")
	}
	chain, err := pki.LoadChain(kc.CAChain)
	if err != nil {
		return fmt.Errorf("CA chain: %w", err)
	}
	caKey, err := pki.LoadSigner(kc.CAKey)
	if err != nil {
		return fmt.Errorf("CA key: %w", err)
	}
	ctKey, err := pki.LoadSigner(kc.CTLogKey)
	if err != nil {
		return fmt.Errorf("certificate log key: %w", err)
	}
	if k.CertLog, err = s.openCertLog(ctx, ctKey); err != nil {
		return err
	}
	verifier, err := oidc.NewVerifier(issuers)
	if err != nil {
		return err
	}
	caMetrics := ca.NewMetrics()
	s.reg.MustRegister(caMetrics.Collectors()...)
	var infos []ca.IssuerInfo
	for _, ic := range issuers {
		infos = append(infos, ca.IssuerInfo{IssuerURL: ic.URL, Audience: ic.ClientID, ChallengeClaim: ic.ChallengeClaim(), Type: ic.Type})
	}
	authority, err := ca.New(ca.Config{
		Signer: caKey, Chain: chain, Verifier: verifier, Issuers: infos, Validity: kc.CAValidity,
		CT:     &ca.CTConfig{Signer: ctKey, Log: certLogAppender{k.CertLog}},
		Logger: s.logger.With("component", "ca"), Metrics: caMetrics,
	})
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	k.Mounts = append(k.Mounts, authority.Routes)
	ctDER, err := x509.MarshalPKIXPublicKey(ctKey.Public())
	if err != nil {
		return err
	}
	ctID := sha256.Sum256(ctDER)
	dep.CA = chain
	dep.CTLog = &trustroot.TLog{Origin: k.CertLog.Origin(), PublicKey: ctKey.Public(), LogID: ctID[:]}
	s.logger.Info("CA enabled", "issuers", len(issuers), "validity", kc.CAValidity, "cert_log_origin", k.CertLog.Origin())
	return nil
}

// devIssuer mounts the INSECURE development OIDC issuer under /dev-oidc.
func (s *Server) devIssuer(k *Keyless) (oidc.IssuerConfig, error) {
	dev, err := oidc.NewDevIssuer(s.cfg.PublicURL + "/dev-oidc")
	if err != nil {
		return oidc.IssuerConfig{}, err
	}
	s.logger.Warn("INSECURE: serving the development OIDC issuer at /dev-oidc; anyone can get a certificate for any email",
		"issuer", s.cfg.PublicURL+"/dev-oidc")
	h := http.StripPrefix("/dev-oidc", dev.Handler())
	k.Mounts = append(k.Mounts, func(r chi.Router) {
		r.Method(http.MethodGet, "/dev-oidc/.well-known/openid-configuration", h)
		r.Method(http.MethodGet, "/dev-oidc/jwks", h)
		r.Method(http.MethodGet, "/dev-oidc/token", h)
		r.Method(http.MethodPost, "/dev-oidc/token", h)
	})
	return dev.IssuerConfig(), nil
}

// openCertLog opens the certificate log next to the main log: same store,
// its own log ID, origin "<origin>/certlog" and key, and the main log's
// batching and publication settings. Every precertificate is unique
// (random serial): a small in-memory cache suffices, and it has no
// persistent dedup map.
func (s *Server) openCertLog(ctx context.Context, key crypto.Signer) (*tlog.Log, error) {
	sl, err := s.openLog(ctx, logSpec{
		id: CertLogID, origin: s.cfg.Origin + "/" + CertLogID, key: key, where: "the certificate log", antispam: 1024,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the certificate log: %w", err)
	}
	return sl.log, nil
}

// startTSA starts the timestamp authority.
func (s *Server) startTSA(k *Keyless, dep *trustroot.Deployment) error {
	chain, err := pki.LoadChain(s.cfg.Keyless.TSAChain)
	if err != nil {
		return fmt.Errorf("TSA chain: %w", err)
	}
	key, err := pki.LoadSigner(s.cfg.Keyless.TSAKey)
	if err != nil {
		return fmt.Errorf("TSA key: %w", err)
	}
	m := tsa.NewMetrics()
	s.reg.MustRegister(m.Collectors()...)
	authority, err := tsa.New(tsa.Config{Signer: key, Chain: chain, Logger: s.logger.With("component", "tsa"), Metrics: m})
	if err != nil {
		return fmt.Errorf("TSA: %w", err)
	}
	k.Mounts = append(k.Mounts, authority.Routes)
	dep.TSA = chain
	s.logger.Info("TSA enabled", "subject", chain[0].Subject.String())
	return nil
}

// certLogAppender adapts the certificate log to the CA.
type certLogAppender struct{ l *tlog.Log }

func (a certLogAppender) AppendPrecertificate(ctx context.Context, der []byte) (uint64, error) {
	added, err := a.l.Add(ctx, der, nil)
	if err != nil {
		return 0, err
	}
	return added.Index, nil
}

// trustStart is the validFor.start of the deployment's keys in the trusted
// root: the earliest NotBefore of its certificates (stable across restarts),
// or the Unix epoch when it has none.
func trustStart(d trustroot.Deployment) time.Time {
	var start time.Time
	for _, c := range append(append([]*x509.Certificate(nil), d.CA...), d.TSA...) {
		if start.IsZero() || c.NotBefore.Before(start) {
			start = c.NotBefore
		}
	}
	if start.IsZero() {
		start = time.Unix(0, 0)
	}
	return start.UTC()
}

func staticJSON(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}
}
