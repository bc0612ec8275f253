package client

import (
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodeError(t *testing.T) {
	huge := strings.Repeat("x", maxErrorBytes+1)
	for _, tc := range []struct {
		name    string
		status  int
		header  http.Header
		body    string
		code    int
		message string
		after   time.Duration
	}{
		{"mosaic JSON", 409, nil, `{"code":6,"message":"an equal entry already exists in the log at index 3","details":[]}`, 6, "an equal entry already exists in the log at index 3", 0},
		{"JSON without code", 400, nil, `{"message":"bad"}`, 0, "bad", 0},
		{"JSON with a string code", 400, nil, `{"code":"x","message":"bad"}`, 0, `{"code":"x","message":"bad"}`, 0},
		{"JSON without message", 500, nil, `{"code":13}`, 0, `{"code":13}`, 0},
		{"empty body", 503, nil, "", 0, "service unavailable", 0},
		{"whitespace body", 502, nil, " \n\t ", 0, "bad gateway", 0},
		{"plain text", 502, nil, "upstream connect error\r\n", 0, "upstream connect error", 0},
		{"HTML", 504, nil, "<html>\n<body>Gateway Timeout</body>\n</html>", 0, "<html> <body>Gateway Timeout</body> </html>", 0},
		{"control characters", 400, nil, "a\x00b\x1b[31mc", 0, "a b [31mc", 0},
		{"invalid UTF-8", 400, nil, "a\xff\xfeb", 0, "a b", 0},
		{"unknown status", 599, nil, "", 0, "no message", 0},
		{"Retry-After seconds", 429, http.Header{"Retry-After": {"7"}}, "", 0, "too many requests", 7 * time.Second},
		{"Retry-After garbage", 503, http.Header{"Retry-After": {"soon"}}, "", 0, "service unavailable", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeError("POST", "http://x/y", tc.status, tc.header, []byte(tc.body))
			if e.StatusCode != tc.status || e.Code != tc.code || e.Message != tc.message || e.RetryAfter != tc.after {
				t.Errorf("got status %d code %d message %q after %s; want %d %d %q %s",
					e.StatusCode, e.Code, e.Message, e.RetryAfter, tc.status, tc.code, tc.message, tc.after)
			}
			if !strings.Contains(e.Error(), "POST http://x/y") {
				t.Errorf("Error() %q does not name the request", e.Error())
			}
		})
	}
	t.Run("huge body", func(t *testing.T) {
		e := decodeError("GET", "u", 500, nil, []byte(huge))
		if n := utf8.RuneCountInString(e.Message); n > maxMessageRunes+2 {
			t.Errorf("message of %d runes, want at most %d", n, maxMessageRunes+2)
		}
	})
	t.Run("404 is ErrNotExist", func(t *testing.T) {
		var err error = decodeError("GET", "u", 404, nil, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Error("a 404 does not match fs.ErrNotExist")
		}
		if errors.Is(decodeError("GET", "u", 400, nil, nil), fs.ErrNotExist) {
			t.Error("a 400 matches fs.ErrNotExist")
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 12 ", 12 * time.Second},
		{"-1", 0},
		{"1.5", 0},
		{"99999999999999999999", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"Mon, 32 Foo 2026 99:00:00 GMT", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDuplicateIndex(t *testing.T) {
	for _, tc := range []struct {
		header, msg string
		want        uint64
		ok          bool
	}{
		{"12", "", 12, true},
		{" 7 ", "ignored at index 9", 7, true},
		{"x", "an equal entry already exists in the log at index 3", 0, false},
		{"", "an equivalent entry already exists in the transparency log with index 42", 42, true},
		{"", "an equal entry already exists in the log at index 3", 3, true},
		{"", "Index: 8", 8, true},
		{"", "entry already exists", 0, false},
		{"", "with index -1", 0, false},
		{"", "with index 99999999999999999999", 0, false},
		{"", "reindex 5", 0, false},
	} {
		got, ok := duplicateIndex(tc.header, tc.msg)
		if got != tc.want || ok != tc.ok {
			t.Errorf("duplicateIndex(%q, %q) = %d %v, want %d %v", tc.header, tc.msg, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBadResponses(t *testing.T) {
	goodEntry := `{"logIndex":"1","canonicalizedBody":"e30=","inclusionProof":{"logIndex":"1","treeSize":"2"}}`
	if _, err := parseEntry([]byte(goodEntry)); err != nil {
		t.Fatalf("good entry refused: %v", err)
	}
	parsers := map[string]func([]byte) error{
		"entry":        func(b []byte) error { _, err := parseEntry(b); return err },
		"tile":         func(b []byte) error { _, err := parseTile(b, 2); return err },
		"entry bundle": func(b []byte) error { _, err := parseEntryBundle(b, 1); return err },
		"checkpoint":   func(b []byte) error { _, err := (&Client{}).openCheckpoint(b); return err },
		"signing cert": func(b []byte) error { _, err := parseSigningCert(b); return err },
		"kind":         func(b []byte) error { _, err := kindVersion(b); return err },
	}
	bad := map[string][]string{
		"entry": {"", "null", "[]", `{"logIndex":"-1"}`, `{"logIndex":"1"}`, `{"logIndex":"1","canonicalizedBody":"e30="}`,
			`{"logIndex":1.5}`, `{"canonicalizedBody":"!!"}`},
		"tile":         {"", strings.Repeat("a", 32), strings.Repeat("a", 65), strings.Repeat("a", 96)},
		"entry bundle": {"", "\x00", "\x00\x05ab", "\x00\x01a\x00\x01b"},
		"checkpoint": {"", "origin\n1\n", "origin\n1\nAAAA\n", "origin\nx\nAAAA\n\n— sig\n", "origin\n1\n!!!\n\n— sig\n",
			"\n\n"},
		"signing cert": {"", "{}", `{"signedCertificateEmbeddedSct":{"chain":{"certificates":[]}}}`,
			`{"signedCertificateEmbeddedSct":{"chain":{"certificates":["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]}}}`,
			`{"signedCertificateDetachedSct":{"chain":{"certificates":["not pem"]}}}`},
		"kind": {"", "{}", `{"kind":"hashedrekord"}`, `[1]`},
	}
	for name, inputs := range bad {
		for _, in := range inputs {
			err := parsers[name]([]byte(in))
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("%s %q: err %v, want ErrBadResponse", name, in, err)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	c, err := New("http://x", WithBackoff(100*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for attempt, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second} {
		if attempt == 0 {
			continue
		}
		for range 50 {
			if got := c.backoff(attempt); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, got, want/2, want)
			}
		}
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "x", "http://x?q=1", "http://x#f", "http://u:p@x", "http://x y"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := New("https://mosaic.example/prefix/")
	if err != nil || c.BaseURL() != "https://mosaic.example/prefix" {
		t.Errorf("New: %v %q", err, c.BaseURL())
	}
	for name, o := range map[string]Option{
		"timeout": WithTimeout(0), "attempts": WithMaxAttempts(0), "agent": WithUserAgent("a\nb"),
		"backoff": WithBackoff(time.Second, time.Millisecond), "wait": WithMaxWait(-1), "log ID": WithLogID([]byte{1}),
		"key": WithLogPublicKey(nil), "http": WithHTTPClient(nil), "logger": WithLogger(nil), "tsa": WithTimestampURL("x"),
	} {
		if _, err := New("http://x", o); err == nil {
			t.Errorf("bad %s option accepted", name)
		}
	}
}

// FuzzParseResponses feeds arbitrary bodies to every response parser:
// none may panic, and any failure must be ErrBadResponse.
func FuzzParseResponses(f *testing.F) {
	f.Add([]byte(`{"logIndex":"1","canonicalizedBody":"e30=","inclusionProof":{}}`))
	f.Add([]byte("origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— origin sig\n"))
	f.Add([]byte("\x00\x02{}"))
	f.Add([]byte(`{"signedCertificateEmbeddedSct":{"chain":{"certificates":["x"]}}}`))
	f.Add([]byte(`{"kind":"hashedrekord","apiVersion":"0.0.2"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, parse := range map[string]func() error{
			"entry":        func() error { _, err := parseEntry(data); return err },
			"tile":         func() error { _, err := parseTile(data, 0); return err },
			"bundle":       func() error { _, err := splitEntryBundle(data); return err },
			"checkpoint":   func() error { _, err := (&Client{}).openCheckpoint(data); return err },
			"signing cert": func() error { _, err := parseSigningCert(data); return err },
			"kind":         func() error { _, err := kindVersion(data); return err },
		} {
			if err := parse(); err != nil && !errors.Is(err, ErrBadResponse) {
				t.Errorf("%s: error %v does not wrap ErrBadResponse", name, err)
			}
		}
		_ = matchesRequest(data, nil)
	})
}

// FuzzDecodeError checks that any refusal decodes to a printable, bounded
// message and that the index parser never panics.
func FuzzDecodeError(f *testing.F) {
	f.Add(409, []byte(`{"code":6,"message":"exists with index 4"}`), "4")
	f.Add(503, []byte("<html>"), "Mon, 02 Jan 2006 15:04:05 GMT")
	f.Add(400, []byte{0xff, 0x00}, "")
	f.Fuzz(func(t *testing.T, status int, body []byte, header string) {
		e := decodeError("GET", "u", status, http.Header{"Retry-After": {header}}, body)
		if e.Message == "" || utf8.RuneCountInString(e.Message) > maxMessageRunes+2 || !utf8.ValidString(e.Message) {
			t.Errorf("message %q", e.Message)
		}
		if e.RetryAfter < 0 {
			t.Errorf("negative RetryAfter %s", e.RetryAfter)
		}
		_ = e.Error()
		_, _ = duplicateIndex(header, e.Message)
	})
}
