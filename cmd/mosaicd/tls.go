package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/servingcert"
)

// tlsConfig is the flags of HTTPS serving.
type tlsConfig struct {
	cert, key string
	poll      time.Duration
}

func tlsFlags(fs *flag.FlagSet, c *tlsConfig) {
	fs.StringVar(&c.cert, "tls-cert", "", "serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate (then any intermediates); "+
		"with --tls-key. Both files are read again on SIGHUP and when they change; a pair that does not load leaves the previous one serving")
	fs.StringVar(&c.key, "tls-key", "", "the PEM private key of --tls-cert")
	fs.DurationVar(&c.poll, "tls-reload-interval", servingcert.DefaultPoll, "how often the --tls-cert and --tls-key files are read "+
		"for a change (0: only on SIGHUP)")
}

// rangeCheck is --tls-reload-interval's: 0, or 1s to 24h.
func (c *tlsConfig) rangeCheck() rangeCheck {
	if c.poll == 0 {
		return durationIn("tls-reload-interval", 0, 0, 0)
	}
	return rangeCheck{flag: "tls-reload-interval", ok: c.poll >= time.Second && c.poll <= 24*time.Hour,
		got: c.poll.String(), rng: "0 (only on SIGHUP) or 1s to 24h0m0s"}
}

// serverPoll is the server's TLSPoll: negative for never.
func (c *tlsConfig) serverPoll() time.Duration {
	if c.poll == 0 {
		return -1
	}
	return c.poll
}

// scheme is the scheme the API is served with.
func (c *tlsConfig) scheme() string {
	if c.cert != "" {
		return "https"
	}
	return "http"
}

// reloadOnHangup reloads the TLS certificate on each SIGHUP until ctx
// ends. SIGHUP no longer ends the process, with or without TLS.
func reloadOnHangup(ctx context.Context, srv *server.Server, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if !srv.TLS() {
					logger.Info("SIGHUP: nothing to reload (no --tls-cert)")
					continue
				}
				// A failure is logged and counted by the reload itself.
				_ = srv.ReloadTLS()
			}
		}
	}()
}
