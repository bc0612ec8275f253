package client

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxErrorBytes bounds how much of a refusal's body is read; Mosaic's
// messages are far shorter.
const maxErrorBytes = 64 << 10

// maxMessageRunes bounds the message kept from a body that is not Mosaic's
// JSON (an HTML page from a proxy, say).
const maxMessageRunes = 512

// Error is a refusal: the server answered with a non-2xx status.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the gRPC status code from the JSON body (Rekor v2 and Mosaic
	// send one), or 0 when the body had none.
	Code int
	// Message is the server's message: the JSON body's "message", else the
	// start of the body as text, else the status text.
	Message string
	// Method and URL name the request.
	Method, URL string
	// RetryAfter is the server's Retry-After, 0 when it sent none.
	RetryAfter time.Duration

	header http.Header // for X-Log-Index and friends
}

func (e *Error) Error() string {
	code := ""
	if e.Code != 0 {
		code = fmt.Sprintf(" (code %d)", e.Code)
	}
	return fmt.Sprintf("%s %s: %d %s: %s%s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), e.Message, code)
}

// Is makes a 404 match fs.ErrNotExist (os.ErrNotExist), as Tessera's
// fetcher contracts require.
func (e *Error) Is(target error) bool {
	return target == fs.ErrNotExist && e.StatusCode == http.StatusNotFound
}

// Header returns the named response header of the refusal ("" if absent).
func (e *Error) Header(name string) string {
	if e.header == nil {
		return ""
	}
	return e.header.Get(name)
}

// decodeError builds the *Error for a non-2xx answer from its (capped)
// body. It never fails: whatever the body holds becomes the message.
func decodeError(method, url string, status int, header http.Header, body []byte) *Error {
	e := &Error{StatusCode: status, Method: method, URL: url, header: header}
	if header != nil {
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}
	var b struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if len(body) <= maxErrorBytes && json.Unmarshal(body, &b) == nil && b.Message != nil {
		e.Message = clip(*b.Message)
		if b.Code != nil {
			e.Code = *b.Code
		}
	} else {
		e.Message = clip(string(body))
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(status))
		if e.Message == "" {
			e.Message = "no message"
		}
	}
	return e
}

// clip makes s a printable one-line message of bounded length: invalid
// UTF-8 and control characters become spaces, runs of space collapse.
func clip(s string) string {
	var b strings.Builder
	n, space := 0, false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if n >= maxMessageRunes {
			b.WriteString(" …")
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
