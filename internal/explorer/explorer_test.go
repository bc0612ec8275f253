package explorer_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/explorer"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"golang.org/x/net/html"
)

// hostile is text an attacker controls in a certificate: if any page wrote
// it unescaped, the script would run.
const hostileSAN = `"><script>alert(1)</script>@evil.example`
const hostileIssuer = `https://evil.example/"><img src=x onerror=alert(2)>`

// hostileSigner signs with a certificate whose SAN and OIDC issuer carry
// markup.
func hostileSigner(t *testing.T) *mosaictest.Signer {
	s := mosaictest.NewCertSigner(t, "x@example.com")
	issuer, err := asn1.MarshalWithParams(hostileIssuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "<b>cn</b>"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses:  []string{hostileSAN},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuer}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Key.Public(), s.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.CertDER = der
	return s
}

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// inlineScript finds a script element with content, or any event handler
// attribute: none may appear in a page.
var inlineScript inlineScriptFinder

type inlineScriptFinder struct{}

// FindString returns the first inline script, event handler attribute or
// javascript: URL in the HTML document s, or "".
func (inlineScriptFinder) FindString(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.TextToken:
			if inScript && strings.TrimSpace(string(z.Text())) != "" {
				return "<script>" + string(z.Text())
			}
		case html.EndTagToken:
			inScript = false
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			hasSrc := false
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(v, "javascript:") {
					return tok.String()
				}
				hasSrc = hasSrc || a.Key == "src"
			}
			if tok.Data == "script" {
				if !hasSrc {
					return tok.String()
				}
				inScript = true
			}
		}
	}
}

func (f inlineScriptFinder) MatchString(s string) bool { return f.FindString(s) != "" }

func TestPagesEscapeHostileEntries(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Index: true})
			s := hostileSigner(t)
			for i := range 3 {
				add(t, l, s.Request(t, []byte{byte(i), 'x'}))
			}
			waitIndexed(t, l, 3)
			pages := []string{"/", "/entry/1", "/search?san=" + url.QueryEscape(hostileSAN),
				"/search?issuer=" + url.QueryEscape(hostileIssuer),
				"/watch?san=" + url.QueryEscape(hostileSAN) + "&issuer=" + url.QueryEscape(hostileIssuer),
				"/consistency?first=1&second=3", "/bundle", "/search", "/watch", "/consistency"}
			for _, p := range pages {
				code, h, body := get(t, l.URL+p)
				if code != http.StatusOK {
					t.Errorf("GET %s: %d\n%s", p, code, body)
					continue
				}
				checkPage(t, p, h, body)
				if strings.Contains(body, hostileSAN) || strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>cn</b>") {
					t.Errorf("GET %s: hostile markup is in the page unescaped", p)
				}
			}
			_, _, entry := get(t, l.URL+"/entry/1")
			for _, want := range []string{"&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@evil.example", "&lt;img src=x onerror=alert(2)&gt;", `\&lt;b\&gt;cn`} {
				if !strings.Contains(entry, want) {
					t.Errorf("the entry page lacks the escaped %q", want)
				}
			}
			_, _, search := get(t, l.URL+"/search?san="+url.QueryEscape(hostileSAN))
			for i := range 3 {
				if !strings.Contains(search, `href="/entry/`+string(rune('0'+i))+`"`) {
					t.Errorf("the search for the hostile SAN did not find entry %d", i)
				}
			}
		})
	}
}

// checkPage asserts what every page must be: the CSP, no inline script,
// under 100 KB.
func checkPage(t *testing.T, path string, h http.Header, body string) {
	t.Helper()
	if got := h.Get("Content-Security-Policy"); got != explorer.CSP || !strings.HasPrefix(got, "default-src 'self'") {
		t.Errorf("GET %s: Content-Security-Policy %q", path, got)
	}
	if m := inlineScript.FindString(body); m != "" {
		t.Errorf("GET %s: inline script %q", path, m)
	}
	if len(body) > 100<<10 {
		t.Errorf("GET %s: %d bytes, over 100 KB", path, len(body))
	}
	if !strings.Contains(h.Get("Content-Type"), "text/html") {
		t.Errorf("GET %s: Content-Type %q", path, h.Get("Content-Type"))
	}
}

func TestInlineScriptCheckCanFail(t *testing.T) {
	for _, bad := range []string{`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<a href="javascript:x">`} {
		if !inlineScript.MatchString(bad) {
			t.Errorf("%q not caught", bad)
		}
	}
	if inlineScript.MatchString(`<script src="/static/verify.js" defer></script>`) {
		t.Error("an external script was taken for an inline one")
	}
}

func TestBadInputIsRefusedWithPages(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Index: true})
	add(t, l, mosaictest.NewSigner(t, mosaictest.ECDSAP256).Request(t, []byte("a")))
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/entry/1", 404, "entry"},
		{"/entry/99999999999999999999", 400, "out of range"},
		{"/entry/-1", 400, "not a decimal"},
		{"/entry/01", 400, "leading zero"},
		{"/entry/%3Cscript%3E", 400, "&lt;script&gt;"},
		{"/entry?index=abc", 400, "not a decimal"},
		{"/search?digest=sha256:zz", 400, "not hexadecimal"},
		{"/search?digest=md5:00", 400, "unknown algorithm"},
		{"/search?fingerprint=sha256:00", 400, "64 hex digits"},
		{"/search?san=a&san=b", 400, "once"},
		{"/search?san=a%00b", 400, "control"},
		{"/search?san=a&page=%3C%3E", 400, "page token"},
		{"/watch?issuer=https://x", 400, "san"},
		{"/consistency?first=2&second=1", 400, ""},
		{"/consistency?first=1&second=5", 400, ""},
		{"/consistency?first=x&second=1", 400, "not a decimal"},
		{"/static/nope.js", 404, "no such file"},
		{"/static/../explorer.go", 404, ""},
	} {
		code, h, body := get(t, l.URL+c.path)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d, want %d with %q\n%.600s", c.path, code, c.code, c.want, body)
		}
		if code < 500 && c.code != 404 || strings.HasPrefix(c.path, "/entry") {
			checkPage(t, c.path, h, body)
		}
	}
	// The redirect of the log page's form.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(l.URL + "/entry?index=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/entry/0" {
		t.Errorf("/entry?index=0: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	code, h, js := get(t, l.URL+"/static/verify.js")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") || !strings.Contains(js, "crypto.subtle") {
		t.Errorf("verify.js: %d %q", code, h.Get("Content-Type"))
	}
	if h.Get("Content-Security-Policy") != explorer.CSP {
		t.Error("static files lack the CSP")
	}
}

// add posts a signed request and checks the answer.
func add(t *testing.T, l *mosaictest.Log, req []byte) {
	t.Helper()
	resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: %d %s", resp.StatusCode, b)
	}
	if _, err := l.CheckEntry(b); err != nil {
		t.Fatal(err)
	}
}

func waitIndexed(t testing.TB, l *mosaictest.Log, n uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for l.Index.Status().IndexedSize < n {
		if time.Now().After(deadline) {
			t.Fatalf("index at %d after 60 s, want %d", l.Index.Status().IndexedSize, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
