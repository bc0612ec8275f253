package api

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/servingcert"
	"github.com/mosaiclog/mosaic/internal/servingcert/servingcerttest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// connServer serves NewHandler with lim on a real loopback listener, with
// extra routes for the tests, and returns its address.
func connServer(t *testing.T, lim ConnLimits, m *Metrics, routes func(chi.Router)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(Config{ConnLimits: lim, Metrics: m, MaxRequestBytes: 64 << 10, Services: []func(chi.Router){routes}})
	srv := NewHTTPServer(h, lim)
	go srv.Serve(LimitListener(ln, lim.MaxConnections, m))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// echo reads the whole body, as the write route does, and answers its length.
func echo(m *Metrics) func(chi.Router) {
	return func(r chi.Router) { r.Post("/test/echo", echoHandler(m)) }
}

func echoHandler(m *Metrics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := &server{cfg: Config{Metrics: m}}
		body, ok := s.readLimited(w, r, "request body", 64<<10, "max-request-bytes")
		if ok {
			fmt.Fprintf(w, "%d", len(body))
		}
	}
}

// readResponse reads one HTTP response's status line and body from c.
func readResponse(c net.Conn, timeout time.Duration) (*http.Response, string, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// Clients that send a body slowly (headers promising 60,000 bytes, then a
// byte now and then) get 408 once the body deadline passes, and the
// connection is closed; everyone else is served meanwhile.
func TestSlowBodyGets408(t *testing.T) {
	lim := DefaultConnLimits
	lim.BodyTimeout = 500 * time.Millisecond
	m := NewMetrics()
	addr := connServer(t, lim, m, echo(m))

	const slow = 200
	var wg sync.WaitGroup
	errs := make(chan error, slow)
	for i := 0; i < slow; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
			go func() { // one more byte now and then, as the attack does
				for j := 0; j < 20; j++ {
					time.Sleep(200 * time.Millisecond)
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			resp, body, err := readResponse(c, 20*time.Second)
			switch {
			case err != nil:
				errs <- fmt.Errorf("slow client: no answer: %v", err)
			case resp.StatusCode != http.StatusRequestTimeout:
				errs <- fmt.Errorf("slow client: status %d %s, want 408", resp.StatusCode, body)
			case !strings.Contains(body, "did not arrive in time") || !strings.Contains(body, "of 60000 bytes were received"):
				errs <- fmt.Errorf("slow client: 408 body %s does not say what happened", body)
			case !resp.Close:
				errs <- fmt.Errorf("slow client: the connection is kept open after a 408")
			}
		}()
	}
	// Meanwhile an ordinary client is served.
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Post("http://"+addr+"/test/echo", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatalf("an ordinary client during the attack: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "7" {
		t.Errorf("an ordinary client during the attack: %d %s", resp.StatusCode, b)
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if got := testutil.ToFloat64(m.slowBodies); got != slow {
		t.Errorf("mosaic_http_slow_bodies_total = %v, want %d", got, slow)
	}
}

// A client that never reads its reply is cut off once the write deadline
// passes, and the handler's write fails instead of blocking forever.
func TestNeverReadingClientIsCutOff(t *testing.T) {
	lim := DefaultConnLimits
	lim.WriteTimeout = 500 * time.Millisecond
	writeErr := make(chan error, 1)
	addr := connServer(t, lim, NewMetrics(), func(r chi.Router) {
		r.Get("/test/big", func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 64<<10)
			for i := 0; i < 1024; i++ { // 64 MiB: more than any socket buffer holds
				if _, err := w.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- nil
		})
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /test/big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("the handler wrote 64 MiB to a client that reads nothing")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler is still blocked writing to a client that does not read, 30 s on")
	}
}

// Connections beyond MaxConnections are answered 503, naming the
// limit, and closed; when held connections go, new ones are served again.
func TestConnectionLimit(t *testing.T) {
	lim := DefaultConnLimits
	lim.MaxConnections = 20
	m := NewMetrics()
	addr := connServer(t, lim, m, echo(m))
	var held []net.Conn
	for i := 0; i < lim.MaxConnections; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitCond(t, "20 connections held", func() bool { return testutil.ToFloat64(m.connections) == 20 })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body, err := readResponse(c, 10*time.Second)
	c.Close()
	if err != nil {
		t.Fatalf("connection over the limit: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "limit of 20 connections (max-connections)") {
		t.Errorf("connection over the limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	refusedClients(t, http.DefaultTransport.(*http.Transport), "http://"+addr, 20)
	for _, c := range held {
		c.Close()
	}
	waitCond(t, "held connections released", func() bool { return testutil.ToFloat64(m.connections) == 0 })
	resp2, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusOK {
		t.Errorf("after the held connections closed: %d", resp2.StatusCode)
	}
	if got := testutil.ToFloat64(m.connectionsRefused); got != 21 {
		t.Errorf("mosaic_http_connections_refused_total = %v, want 21", got)
	}
}

// refusedClients sends GETs and POSTs with a 256 KiB body, each on a new
// connection, from Go's client to a server holding its limit of max
// connections: every one must read the 503 naming the limit, none a
// transport error (an answer written before the request arrived is
// dropped by the client, and a close with the body unread resets the
// connection).
func refusedClients(t *testing.T, tr *http.Transport, base string, max int) {
	t.Helper()
	tr = tr.Clone()
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr}
	body := bytes.Repeat([]byte("x"), 256<<10)
	for i := 0; i < 20; i++ {
		var resp *http.Response
		var err error
		if i%2 == 0 {
			resp, err = client.Get(base + "/healthz")
		} else {
			resp, err = client.Post(base+"/test/echo", "application/octet-stream", bytes.NewReader(body))
		}
		if err != nil {
			t.Fatalf("request %d over the limit: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("limit of %d connections (max-connections)", max); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), want) {
			t.Fatalf("request %d over the limit: %d %s", i, resp.StatusCode, b)
		}
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Over TLS, the limit counts connections before their handshakes, a
// connection beyond it still reads its 503 (over TLS, HTTP/1.1, though it
// asked for HTTP/2), and the others are served with HTTP/2.
func TestConnectionLimitTLS(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	pair := ca.Issue(t, time.Hour)
	dir := t.TempDir()
	pair.Write(t, dir+"/tls.crt", dir+"/tls.key")
	cert, err := servingcert.Load(dir+"/tls.crt", dir+"/tls.key", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultConnLimits
	lim.MaxConnections = 16
	m := NewMetrics()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(NewHandler(Config{ConnLimits: lim, Metrics: m, MaxRequestBytes: 64 << 10}), lim)
	go srv.Serve(LimitListenerTLS(ln, lim.MaxConnections, m, cert.TLSConfig()))
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/healthz"
	client := ca.Client()

	get := func() (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get(); resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Fatalf("under the limit: %d over %s, want 200 over HTTP/2.0", resp.StatusCode, resp.Proto)
	}
	// That client's connection must be gone before the limit is filled,
	// or its closing would free a slot in the middle of the test.
	client.CloseIdleConnections()
	waitCond(t, "the first connection closed", func() bool { return testutil.ToFloat64(m.connections) == 0 })
	var held []net.Conn
	for i := 0; i < lim.MaxConnections; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitCond(t, "16 connections held", func() bool { return testutil.ToFloat64(m.connections) == 16 })
	resp, body := get()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "limit of 16 connections (max-connections)") {
		t.Errorf("over the limit: %d %s %s", resp.StatusCode, resp.Proto, body)
	}
	refusedClients(t, ca.Client().Transport.(*http.Transport), "https://"+ln.Addr().String(), 16)
	for _, c := range held {
		c.Close()
	}
	waitCond(t, "held connections released", func() bool { return testutil.ToFloat64(m.connections) == 0 })
	if resp, _ := get(); resp.StatusCode != http.StatusOK {
		t.Errorf("after the held connections closed: %d", resp.StatusCode)
	}
}
