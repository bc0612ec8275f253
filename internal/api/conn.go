package api

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mosaiclog/mosaic/internal/httperr"
)

// ConnLimits bound what a client connection may hold, so that clients that
// send slowly, never read, or merely open sockets cannot take the server's
// memory or file descriptors from everyone else.
type ConnLimits struct {
	// MaxConnections is how many connections are held at once. A
	// connection beyond it is answered 503 (once its request has arrived,
	// within 2 s) and closed.
	MaxConnections int
	// ReadHeaderTimeout bounds the arrival of a request's headers.
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds the arrival of a request's whole body, counted
	// from the end of its headers; a slower client gets 408 and the
	// connection is closed.
	BodyTimeout time.Duration
	// WriteTimeout bounds the delivery of a reply, counted from its first
	// byte: a client that does not read is cut off and the reply dropped.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
}

// DefaultConnLimits are mosaicd's defaults.
var DefaultConnLimits = ConnLimits{
	MaxConnections:    8192,
	ReadHeaderTimeout: 10 * time.Second,
	BodyTimeout:       15 * time.Second,
	WriteTimeout:      15 * time.Second,
	IdleTimeout:       2 * time.Minute,
}

// maxHeaderBytes bounds a request's headers: an identity token in an
// Authorization header is a few KiB.
const maxHeaderBytes = 64 << 10

// NewHTTPServer returns the server for h with lim's timeouts. Serve it on a
// listener from LimitListener to bound connections too. Body and write
// deadlines are set per request by the handler of NewHandler (ConnLimits
// in Config), since a write waits for its proof before its reply starts.
func NewHTTPServer(h http.Handler, lim ConnLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// deadlines sets the request's body deadline (while it is being read) and
// the reply's write deadline (from its first byte).
func (s *server) deadlines(next http.Handler) http.Handler {
	lim := s.cfg.ConnLimits
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if lim.BodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(lim.BodyTimeout))
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		if lim.WriteTimeout > 0 {
			w = &deadlineWriter{ResponseWriter: w, rc: rc, timeout: lim.WriteTimeout}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the body deadline once the body has been read whole:
// while a handler then waits (an add waits for its proof), the server's
// background read of the connection must not time out, since that would
// cancel the request.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// deadlineWriter starts the write deadline with the reply's first byte.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (w *deadlineWriter) start() {
	if !w.started {
		w.started = true
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *deadlineWriter) WriteHeader(code int) { w.start(); w.ResponseWriter.WriteHeader(code) }

func (w *deadlineWriter) Write(p []byte) (int, error) { w.start(); return w.ResponseWriter.Write(p) }

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LimitListener holds at most max connections of ln open. A connection
// beyond that is answered with a 503 that names the limit, and closed, so
// that clients learn why instead of hanging in the backlog.
func LimitListener(ln net.Listener, max int, m *Metrics) net.Listener {
	if m == nil {
		m = NewMetrics()
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), refusing: make(chan struct{}, maxRefusing), max: max, metrics: m}
}

// LimitListenerTLS is LimitListener serving TLS with cfg: the limit
// counts TCP connections before their handshakes, and a connection beyond
// it gets its 503 over TLS (HTTP/1.1), so that a client still reads why.
// The connections it returns are *tls.Conn, which http.Server needs to
// negotiate HTTP/2.
func LimitListenerTLS(ln net.Listener, max int, m *Metrics, cfg *tls.Config) net.Listener {
	l := LimitListener(ln, max, m).(*limitListener)
	l.refuseTLS = cfg.Clone()
	l.refuseTLS.NextProtos = []string{"http/1.1"}
	return tls.NewListener(l, cfg)
}

type limitListener struct {
	net.Listener
	slots chan struct{}
	// refusing counts the refused connections being answered.
	refusing chan struct{}
	max      int
	metrics  *Metrics
	// refuseTLS, when set, wraps refused connections in TLS.
	refuseTLS *tls.Config
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.metrics.connections.Inc()
			return &limitedConn{Conn: c, release: l.release}, nil
		default:
			l.metrics.connectionsRefused.Inc()
			select {
			case l.refusing <- struct{}{}:
				go l.refuse(c)
			default:
				c.Close()
			}
		}
	}
}

func (l *limitListener) release() {
	<-l.slots
	l.metrics.connections.Dec()
}

// How a refused connection is answered: within refuseTimeout of its
// accept, reading at most maxHeaderBytes of request head and refuseDrain
// of what follows; at most maxRefusing are answered at once, and a
// connection beyond that is closed unanswered.
const (
	refuseTimeout = 2 * time.Second
	refuseDrain   = 1 << 20
	maxRefusing   = 1024
)

// refuse answers a connection over the limit with a 503 naming the limit.
// It reads the request head before answering, since a client drops a reply
// that comes before its request (Go's reports "readLoopPeekFailLocked").
// After the answer it shuts its side and reads what the client still sends
// (a request body) until the client closes: closing a socket with unread
// data resets the connection, which can destroy the answer unread.
func (l *limitListener) refuse(c net.Conn) {
	defer func() { <-l.refusing }()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	if l.refuseTLS != nil {
		c = tls.Server(c, l.refuseTLS) // the handshake happens in the first Read
	}
	defer c.Close()
	// The request itself does not matter, only that it has arrived: a
	// malformed or slow one is answered the same.
	_, _ = http.ReadRequest(bufio.NewReader(io.LimitReader(c, maxHeaderBytes)))
	body := fmt.Sprintf(`{"code":%d,"message":"the server holds its limit of %d connections (max-connections); retry after 1 s","details":[]}`+"\n",
		httperr.GRPCCode(http.StatusServiceUnavailable), l.max)
	if _, err := c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n" +
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, refuseDrain))
}

// limitedConn gives its slot back once, however often it is closed.
type limitedConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
