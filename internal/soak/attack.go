package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// slowBodyLength is the Content-Length a slow client promises and never
// delivers.
const slowBodyLength = 60000

// slowClient opens connections that trickle a request — half of them the
// headers, half the body after complete headers announcing slowBodyLength
// bytes — one byte every SlowInterval, until the server answers or closes
// the connection, then opens the next, until load ends.
func (s *soaker) slowClient(load context.Context, i int) {
	headersOnly := i%2 == 1
	for load.Err() == nil {
		if !s.slowConnection(load, headersOnly) {
			sleep(load, time.Second) // could not connect; do not spin
		}
	}
}

// slowConnection runs one slow connection and reports whether it opened.
func (s *soaker) slowConnection(load context.Context, headersOnly bool) bool {
	conn, err := s.dial(load, 0)
	if err != nil {
		if load.Err() == nil {
			s.rec.sample("slow client dial", err.Error())
		}
		return false
	}
	defer conn.Close()
	s.slow.opened()
	start := time.Now()
	head := "POST " + entriesPath + " HTTP/1.1\r\nHost: " + s.addr + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(slowBodyLength) + "\r\n\r\n"
	trickle := "{" + strings.Repeat(" ", slowBodyLength)
	if headersOnly {
		trickle, head = head, ""
	}
	ended := make(chan holdEnd, 1)
	go func() { ended <- readAnswer(conn) }()
	if _, err := io.WriteString(conn, head); err != nil {
		s.slow.closed(holdEnd{closedByServer: true, held: time.Since(start)})
		return true
	}
	t := time.NewTicker(s.cfg.SlowInterval)
	defer t.Stop()
	for k := 0; ; k++ {
		_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.SlowInterval))
		if _, err := io.WriteString(conn, trickle[k%len(trickle):k%len(trickle)+1]); err != nil && !isTimeout(err) {
			conn.Close()
			e := <-ended
			e.closedByServer, e.held = true, time.Since(start)
			s.slow.closed(e)
			return true
		}
		select {
		case e := <-ended:
			e.held = time.Since(start)
			s.slow.closed(e)
			return true
		case <-load.Done():
			s.slow.closed(holdEnd{held: time.Since(start)})
			return true
		case <-t.C:
		}
	}
}

// readAnswer reads the server's answer on conn, if any, until the server
// closes it (or the soak does).
func readAnswer(conn net.Conn) holdEnd {
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return holdEnd{closedByServer: !errors.Is(err, net.ErrClosed)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	// The answer came; the server closes the connection or waits for the
	// rest of a body it will never read. Either way, this client is done.
	return holdEnd{status: res.StatusCode, closedByServer: true}
}

// neverReadingRecvBuffer is the socket receive buffer of a never-reading
// client: small, so the server's writes block soon.
const neverReadingRecvBuffer = 4096

// neverReadingClient opens connections that send requests with large
// answers — a search for every entry (pageSize 1000), or tiles, pipelined —
// and never read a byte, each for at most NeverReadingHold, until load ends.
func (s *soaker) neverReadingClient(load context.Context, i int) {
	search := i%2 == 0
	for load.Err() == nil {
		if !s.neverReadingConnection(load, search) {
			sleep(load, time.Second)
		}
	}
}

// neverReadingConnection runs one never-reading connection and reports
// whether it opened. A write that fails (the server closed or reset the
// connection) ends it; a write that cannot proceed (the server stopped
// reading) does not.
func (s *soaker) neverReadingConnection(load context.Context, search bool) bool {
	req := s.searchRequest()
	if !search {
		req = s.tileRequest(load)
	}
	conn, err := s.dial(load, neverReadingRecvBuffer)
	if err != nil {
		if load.Err() == nil {
			s.rec.sample("never-reading dial", err.Error())
		}
		return false
	}
	defer conn.Close()
	s.never.opened()
	start := time.Now()
	hold, cancel := context.WithTimeout(load, s.cfg.NeverReadingHold)
	defer cancel()
	// Pipeline a few requests at once, then one more every 2 s: the
	// writes show whether the server still holds the connection.
	burst := strings.Repeat(req, 8)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(conn, burst); err != nil && !isTimeout(err) {
			s.never.closed(holdEnd{closedByServer: true, held: time.Since(start)})
			return true
		}
		burst = req
		select {
		case <-hold.Done():
			s.never.closed(holdEnd{held: time.Since(start)})
			return true
		case <-t.C:
		}
	}
}

// searchRequest is a raw search for every entry of the load's key, a
// page of 1000: an answer of about a megabyte once the log is that big.
func (s *soaker) searchRequest() string {
	body := fmt.Sprintf(`{"publicKeyFingerprint": %q, "pageSize": 1000}`, s.keyFingerprint)
	return "POST " + searchPath + " HTTP/1.1\r\nHost: " + s.addr + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// tileRequest is a raw GET of the first entry bundle, as wide as the log
// now is (the checkpoint when the log is empty).
func (s *soaker) tileRequest(ctx context.Context) string {
	path := "/api/v2/checkpoint"
	if size := s.logSize(ctx); size >= 256 {
		path = "/api/v2/tile/entries/000"
	} else if size > 0 {
		path = fmt.Sprintf("/api/v2/tile/entries/000.p/%d", size)
	}
	return "GET " + path + " HTTP/1.1\r\nHost: " + s.addr + "\r\n\r\n"
}

// logSize reads the latest checkpoint's size, unverified (0 when it
// cannot).
func (s *soaker) logSize(ctx context.Context) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := s.do(ctx, "GET /api/v2/checkpoint", http.MethodGet, "/api/v2/checkpoint", nil, "")
	if err != nil || res.status != http.StatusOK {
		return 0
	}
	lines := strings.SplitN(string(res.body), "\n", 3)
	if len(lines) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(lines[1], 10, 64)
	return n
}

// dial connects to the target, with a receive buffer of recvBuffer bytes
// when it is positive.
func (s *soaker) dial(ctx context.Context, recvBuffer int) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if recvBuffer > 0 {
		d.Control = setRecvBuffer(recvBuffer)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
