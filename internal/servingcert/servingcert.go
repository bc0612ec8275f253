// Package servingcert owns the TLS certificate mosaicd serves HTTPS with:
// a certificate file and a key file, loaded at start and reloaded while
// serving, so that a renewed certificate (certbot, cert-manager, a
// Kubernetes Secret) is picked up without a restart.
//
// Contract:
//   - Load refuses a pair it cannot use (a missing or unreadable file, no
//     certificate or key in it, a key that does not match the certificate)
//     and names the file at fault: a server never starts without one.
//   - Reload (on SIGHUP) and Watch (polling the files' contents) replace
//     the pair only with one that loads. A bad replacement, such as a
//     certificate renewed before its key, keeps the old pair serving; the
//     failure is logged and counted, and the next change is tried again.
//   - Each new TLS handshake gets the pair current at that moment (through
//     tls.Config.GetCertificate); connections already open keep theirs.
//   - The metrics say when the certificate served expires and whether the
//     files on disk currently load, so that an alert can fire before
//     clients start refusing the server.
package servingcert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MaxFileBytes bounds each of the two files: a certificate chain is a few
// kilobytes, so a larger file is a wrong path, not a certificate.
const MaxFileBytes = 1 << 20

// DefaultPoll is how often Watch reads the files by default.
const DefaultPoll = 10 * time.Second

// Cert is the serving certificate and its files. Its methods are safe for
// concurrent use.
type Cert struct {
	certFile, keyFile string
	logger            *slog.Logger
	metrics           *Metrics

	// current is the pair new handshakes get; it is only ever replaced by
	// a pair that loaded.
	current atomic.Pointer[tls.Certificate]

	// mu serialises reloads (SIGHUP and Watch may race); it guards tried.
	mu sync.Mutex
	// tried is the digest of the files' contents last tried, loaded or
	// not: Watch tries a content only once, so a bad pair is reported once
	// and not at every poll.
	tried [sha256.Size]byte
}

// Load reads the pair from certFile (PEM certificate, then any
// intermediates) and keyFile (PEM private key), refusing one that does not
// form a usable pair. A nil logger discards; a nil metrics records nowhere.
func Load(certFile, keyFile string, logger *slog.Logger, m *Metrics) (*Cert, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics()
	}
	c := &Cert{certFile: certFile, keyFile: keyFile, logger: logger, metrics: m}
	pair, sum, err := c.read()
	if err != nil {
		return nil, err
	}
	c.tried = sum
	c.install(pair)
	if na := pair.Leaf.NotAfter; time.Now().After(na) {
		logger.Warn("the TLS certificate has expired: clients will refuse it", "cert", certFile, "not_after", na)
	}
	return c, nil
}

// read loads both files and returns the pair and the digest of their
// contents (when a file cannot be read, of the error: the same missing
// file is then the same content).
func (c *Cert) read() (*tls.Certificate, [sha256.Size]byte, error) {
	certPEM, err := readFile("--tls-cert", c.certFile)
	if err != nil {
		return nil, sha256.Sum256([]byte(err.Error())), err
	}
	keyPEM, err := readFile("--tls-key", c.keyFile)
	if err != nil {
		return nil, sha256.Sum256([]byte(err.Error())), err
	}
	sum := digest(certPEM, keyPEM)
	pair, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, sum, fmt.Errorf("--tls-cert %s and --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	return pair, sum, nil
}

// readFile reads a file of at most MaxFileBytes, naming the flag.
func readFile(flagName, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", flagName, path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %s is larger than %d bytes: not a PEM certificate or key", flagName, path, MaxFileBytes)
	}
	return data, nil
}

// parsePair parses a PEM certificate chain and its key, and checks that
// the key is the certificate's and that the certificate parses (its leaf
// is kept for the metrics).
func parsePair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	if !bytes.Contains(certPEM, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, errors.New("the certificate file holds no PEM CERTIFICATE block")
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		return nil, errors.New("the key file holds no PEM PRIVATE KEY block")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parsing the certificate: %w", err)
		}
	}
	return &pair, nil
}

func digest(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(certPEM))
	h.Write(certPEM)
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// install makes pair the one new handshakes get.
func (c *Cert) install(pair *tls.Certificate) {
	c.current.Store(pair)
	c.metrics.notAfter.Set(float64(pair.Leaf.NotAfter.Unix()))
	c.metrics.notBefore.Set(float64(pair.Leaf.NotBefore.Unix()))
	c.metrics.failing.Set(0)
}

// Reload reads the files again and serves the new pair if it loads (even
// if the files did not change); on error the pair served stays as it was.
// mosaicd calls it on SIGHUP.
func (c *Cert) Reload() error {
	return c.reload(true)
}

// reload loads the files, unless they hold what was tried last and force
// is false. It reports whether anything changed through the log and
// metrics.
func (c *Cert) reload(force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pair, sum, err := c.read()
	if !force && sum == c.tried {
		return nil // unchanged since the last try, loaded or not
	}
	c.tried = sum
	if err != nil {
		c.metrics.reloads.WithLabelValues("error").Inc()
		c.metrics.failing.Set(1)
		c.logger.Error("TLS certificate not reloaded: still serving the previous one", "err", err,
			"not_after", c.Current().Leaf.NotAfter)
		return err
	}
	c.install(pair)
	c.metrics.reloads.WithLabelValues("ok").Inc()
	c.logger.Info("TLS certificate reloaded", "cert", c.certFile, "subject", pair.Leaf.Subject.String(),
		"not_after", pair.Leaf.NotAfter)
	return nil
}

// Watch reads the files every poll (DefaultPoll when zero, never when
// negative) until ctx ends, and reloads when their contents change.
// Reading the contents, not the modification times, catches every way a
// file is replaced: written in place, renamed over, or a Kubernetes
// Secret's symbolic link swapped.
func (c *Cert) Watch(ctx context.Context, poll time.Duration) {
	if poll < 0 {
		return
	}
	if poll == 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.reload(false) // logged and counted by reload
		}
	}
}

// Current is the pair new handshakes get.
func (c *Cert) Current() *tls.Certificate { return c.current.Load() }

// GetCertificate is for tls.Config.GetCertificate: the current pair.
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// TLSConfig is the server configuration for HTTPS with HTTP/2 and
// HTTP/1.1 (ALPN h2 first), TLS 1.2 or later, serving the current pair.
func (c *Cert) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: c.GetCertificate,
	}
}
