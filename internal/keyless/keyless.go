// Package keyless starts mosaicd's optional keyless services around the log:
// the Fulcio-compatible CA with its certificate log, the RFC 3161 TSA, the
// development OIDC issuer, and the client configuration (trusted_root.json and
// signing_config.json) that names them. mosaicd and the tests share it.
package keyless

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/ca"
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/internal/trustroot"
	"github.com/mosaiclog/mosaic/internal/tsa"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/prometheus/client_golang/prometheus"
)

// CertLogID names the certificate log inside the store: a log_id in
// PostgreSQL, a subdirectory of a file store.
const CertLogID = "certlog"

// Config says which services to start and with what material.
type Config struct {
	// PublicURL is mosaicd's public base URL (no trailing slash); every
	// service URL in the client configuration derives from it.
	PublicURL string
	// Origin and LogKey identify the main log.
	Origin string
	LogKey crypto.Signer

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

	// Storage and StorageOptions open the certificate log's store;
	// CertLog templates its batching and publication settings.
	Storage        string
	StorageOptions storage.Options
	CertLog        tlog.Config

	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Services is what Start started.
type Services struct {
	// Mounts add the services' routes to the HTTP router.
	Mounts []func(chi.Router)
	// CertLog and CertStore are the certificate log (nil without the CA).
	CertLog   *tlog.Log
	CertStore storage.Backend
	// TrustedRoot and SigningConfig are served at /api/v2/trustedRoot and
	// /api/v2/signingConfig.
	TrustedRoot, SigningConfig []byte
}

// Close releases the certificate log's store. Drain CertLog first.
func (s *Services) Close() {
	if s.CertStore != nil {
		s.CertStore.Close()
	}
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

// Start starts the services cfg enables. The certificate log runs on logCtx,
// which must outlive request handling so that it can drain.
func Start(ctx, logCtx context.Context, cfg Config) (*Services, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	logger := cfg.Logger
	s := &Services{}
	logID, err := note.LogID(cfg.Origin, cfg.LogKey.Public())
	if err != nil {
		return nil, err
	}
	dep := trustroot.Deployment{
		BaseURL: cfg.PublicURL,
		Log:     &trustroot.TLog{Origin: cfg.Origin, PublicKey: cfg.LogKey.Public(), LogID: logID},
	}
	fail := func(err error) (*Services, error) {
		s.Close()
		return nil, err
	}

	if cfg.CAChain != "" {
		issuers := append([]oidc.IssuerConfig(nil), cfg.Issuers...)
		if cfg.DevOIDC {
			dev, err := oidc.NewDevIssuer(cfg.PublicURL + "/dev-oidc")
			if err != nil {
				return fail(err)
			}
			logger.Warn("INSECURE: serving the development OIDC issuer at /dev-oidc; anyone can get a certificate for any email",
				"issuer", cfg.PublicURL+"/dev-oidc")
			h := http.StripPrefix("/dev-oidc", dev.Handler())
			s.Mounts = append(s.Mounts, func(r chi.Router) {
				r.Method(http.MethodGet, "/dev-oidc/.well-known/openid-configuration", h)
				r.Method(http.MethodGet, "/dev-oidc/jwks", h)
				r.Method(http.MethodGet, "/dev-oidc/token", h)
				r.Method(http.MethodPost, "/dev-oidc/token", h)
			})
			issuers = append(issuers, dev.IssuerConfig())
			dep.OIDCURL = cfg.PublicURL + "/dev-oidc"
		}
		if len(issuers) == 0 {
			return fail(fmt.Errorf("the CA needs at least one OIDC issuer"))
		}
		chain, err := pki.LoadChain(cfg.CAChain)
		if err != nil {
			return fail(fmt.Errorf("CA chain: %w", err))
		}
		caKey, err := pki.LoadSigner(cfg.CAKey)
		if err != nil {
			return fail(fmt.Errorf("CA key: %w", err))
		}
		ctKey, err := pki.LoadSigner(cfg.CTLogKey)
		if err != nil {
			return fail(fmt.Errorf("certificate log key: %w", err))
		}
		if err := s.openCertLog(ctx, logCtx, cfg, ctKey); err != nil {
			return fail(err)
		}
		verifier, err := oidc.NewVerifier(issuers)
		if err != nil {
			return fail(err)
		}
		caMetrics := ca.NewMetrics()
		cfg.Registerer.MustRegister(caMetrics.Collectors()...)
		var infos []ca.IssuerInfo
		for _, ic := range issuers {
			infos = append(infos, ca.IssuerInfo{IssuerURL: ic.URL, Audience: ic.ClientID, ChallengeClaim: ic.ChallengeClaim(), Type: ic.Type})
		}
		authority, err := ca.New(ca.Config{
			Signer: caKey, Chain: chain, Verifier: verifier, Issuers: infos, Validity: cfg.CAValidity,
			CT:     &ca.CTConfig{Signer: ctKey, Log: certLogAppender{s.CertLog}},
			Logger: logger.With("component", "ca"), Metrics: caMetrics,
		})
		if err != nil {
			return fail(fmt.Errorf("CA: %w", err))
		}
		s.Mounts = append(s.Mounts, authority.Routes)
		ctDER, err := x509.MarshalPKIXPublicKey(ctKey.Public())
		if err != nil {
			return fail(err)
		}
		ctID := sha256.Sum256(ctDER)
		dep.CA = chain
		dep.CTLog = &trustroot.TLog{Origin: s.CertLog.Origin(), PublicKey: ctKey.Public(), LogID: ctID[:]}
		logger.Info("CA enabled", "issuers", len(issuers), "validity", cfg.CAValidity, "cert_log_origin", s.CertLog.Origin())
	}

	if cfg.TSAChain != "" {
		chain, err := pki.LoadChain(cfg.TSAChain)
		if err != nil {
			return fail(fmt.Errorf("TSA chain: %w", err))
		}
		key, err := pki.LoadSigner(cfg.TSAKey)
		if err != nil {
			return fail(fmt.Errorf("TSA key: %w", err))
		}
		m := tsa.NewMetrics()
		cfg.Registerer.MustRegister(m.Collectors()...)
		authority, err := tsa.New(tsa.Config{Signer: key, Chain: chain, Logger: logger.With("component", "tsa"), Metrics: m})
		if err != nil {
			return fail(fmt.Errorf("TSA: %w", err))
		}
		s.Mounts = append(s.Mounts, authority.Routes)
		dep.TSA = chain
		logger.Info("TSA enabled", "subject", chain[0].Subject.String())
	}

	start := trustStart(dep)
	dep.CAStart, dep.TSAStart = start, start
	dep.Log.Start = start
	if dep.CTLog != nil {
		dep.CTLog.Start = start
	}
	if s.TrustedRoot, err = trustroot.TrustedRoot(dep); err != nil {
		return fail(fmt.Errorf("building trusted_root.json: %w", err))
	}
	if s.SigningConfig, err = trustroot.SigningConfig(dep); err != nil {
		return fail(fmt.Errorf("building signing_config.json: %w", err))
	}
	s.Mounts = append(s.Mounts, func(r chi.Router) {
		r.Get("/api/v2/trustedRoot", staticJSON(s.TrustedRoot))
		r.Get("/api/v2/signingConfig", staticJSON(s.SigningConfig))
	})
	return s, nil
}

// openCertLog opens the certificate log next to the main log: same store,
// its own log ID, origin "<origin>/certlog" and key.
func (s *Services) openCertLog(ctx, logCtx context.Context, cfg Config, key crypto.Signer) error {
	opts := cfg.StorageOptions
	opts.LogID = CertLogID
	opts.Logger = cfg.Logger.With("log", CertLogID)
	store, err := storage.Open(ctx, cfg.Storage, opts)
	if err != nil {
		return fmt.Errorf("opening the certificate log: %w", err)
	}
	s.CertStore = store
	origin := cfg.Origin + "/" + CertLogID
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := storage.BindIdentity(ctx, store, "the certificate log", storage.Identity{Origin: origin, PublicKey: der}); err != nil {
		return err
	}
	lc := cfg.CertLog
	lc.Origin, lc.Key = origin, key
	// Every precertificate is unique (random serial): a small cache suffices.
	// No persistent dedup map either.
	lc.Antispam, lc.AntispamInMemory, lc.Dedup = nil, 1024, nil
	lc.Space = store.Space()
	lc.Logger = cfg.Logger.With("log", CertLogID)
	lc.Metrics = tlog.NewMetrics() // the main log's metrics names are taken
	l, err := tlog.New(logCtx, store.Driver(), lc)
	if err != nil {
		return err
	}
	go l.WatchCheckpoint(logCtx, time.Second, store.CheckpointPublishedAt)
	s.CertLog = l
	return nil
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
