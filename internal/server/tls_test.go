package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/servingcert/servingcerttest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// A TLS server built as mosaicd builds it speaks HTTP/2 to a client that
// trusts its CA, and pkg/client adds an entry through it and gets a proof
// that verifies.
func TestTLSServesHTTP2(t *testing.T) {
	lg := mosaictest.NewLog(t, mosaictest.Options{TLS: true})
	hc := lg.HTTPClient()
	resp, err := hc.Get(lg.URL + "/api/v2/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || resp.TLS == nil {
		t.Fatalf("GET checkpoint: %d over %s, want 200 over HTTP/2.0 with TLS", resp.StatusCode, resp.Proto)
	}
	// HTTP/1.1 stays: a client that does not offer h2 is served.
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: lg.CA.Pool}}}
	if resp, err := h1.Get(lg.URL + "/healthz"); err != nil || resp.Proto != "HTTP/1.1" || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP/1.1 client: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	c, err := client.New(lg.URL, client.WithHTTPClient(hc), client.WithLogPublicKey(lg.Key.Public()))
	if err != nil {
		t.Fatal(err)
	}
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	added, err := c.AddEntry(context.Background(), s.RequestProto(t, []byte("over TLS")))
	if err != nil {
		t.Fatalf("AddEntry over TLS: %v", err)
	}
	body, err := protojson.Marshal(added.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lg.CheckEntry(body); err != nil {
		t.Fatalf("the entry added over TLS: %v", err)
	}
	ip := added.Entry.GetInclusionProof()
	if _, err := c.InclusionProof(context.Background(), uint64(ip.GetLogIndex()), uint64(ip.GetTreeSize())); err != nil {
		t.Fatalf("InclusionProof over TLS: %v", err)
	}

	// Plain HTTP to the TLS port gets no API answer.
	if resp, err := http.Get("http://" + strings.TrimPrefix(lg.URL, "https://") + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the TLS port answered 200: %s", b)
		}
	}
}

// Replacing the certificate files rotates the certificate: a new
// handshake gets the new one, without a restart. A bad replacement keeps
// the old one serving and says so in the metrics; ReloadTLS (SIGHUP in
// mosaicd) reads the files at once.
func TestTLSRotation(t *testing.T) {
	lg := mosaictest.NewLog(t, mosaictest.Options{TLS: true})
	addr := strings.TrimPrefix(lg.URL, "https://")
	failing := func() float64 { return gauge(t, lg, "mosaic_tls_certificate_reload_failing") }

	second := lg.CA.Issue(t, 48*time.Hour)
	second.Write(t, lg.TLSCert, lg.TLSKey)
	waitFor(t, "the replaced certificate served", func() bool { return lg.CA.Serial(t, addr).Cmp(second.Serial) == 0 })
	if got := gauge(t, lg, "mosaic_tls_certificate_not_after_seconds"); got != float64(second.NotAfter.Unix()) {
		t.Errorf("mosaic_tls_certificate_not_after_seconds = %v, want %d", got, second.NotAfter.Unix())
	}

	// A certificate renewed without its key: refused, the second still served.
	third := lg.CA.Issue(t, 72*time.Hour)
	servingcerttest.WriteFile(t, lg.TLSCert, third.Cert)
	waitFor(t, "the bad pair reported", func() bool { return failing() == 1 })
	if got := lg.CA.Serial(t, addr); got.Cmp(second.Serial) != 0 {
		t.Fatalf("after a bad replacement the server presents serial %s, want the previous %s", got, second.Serial)
	}
	if err := lg.Server.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Errorf("ReloadTLS of a mismatched pair = %v", err)
	}
	if resp, err := lg.HTTPClient().Get(lg.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("serving after a bad replacement: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Its key arrives; ReloadTLS serves the pair at once.
	servingcerttest.WriteFile(t, lg.TLSKey, third.Key)
	if err := lg.Server.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := lg.CA.Serial(t, addr); got.Cmp(third.Serial) != 0 {
		t.Fatalf("after ReloadTLS the server presents serial %s, want %s", got, third.Serial)
	}
	if failing() != 0 {
		t.Errorf("mosaic_tls_certificate_reload_failing stays 1 after a good reload")
	}
}

// A pair that cannot serve is refused before anything starts.
func TestTLSConfigRefused(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	dir := t.TempDir()
	ca.Issue(t, time.Hour).Write(t, dir+"/a.crt", dir+"/a.key")
	ca.Issue(t, time.Hour).Write(t, dir+"/b.crt", dir+"/b.key")
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cert, key, want string }{
		{dir + "/a.crt", "", "--tls-cert and --tls-key go together"},
		{"", dir + "/a.key", "--tls-cert and --tls-key go together"},
		{dir + "/a.crt", dir + "/b.key", "private key does not match public key"},
		{dir + "/missing.crt", dir + "/a.key", "--tls-cert: open " + dir + "/missing.crt"},
	} {
		dataDir := t.TempDir()
		_, err := server.New(context.Background(), server.Config{
			Storage: "file:" + dataDir, Init: true, PublicURL: "https://127.0.0.1", Origin: "127.0.0.1",
			Key: key, TLSCert: tc.cert, TLSKey: tc.key,
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TLS cert %q key %q: %v, want %q", tc.cert, tc.key, err, tc.want)
		}
		if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
			t.Errorf("a refused TLS configuration still created a log in %s", dataDir)
		}
	}
}

// gauge scrapes one unlabelled gauge from lg's registry.
func gauge(t *testing.T, lg *mosaictest.Log, name string) float64 {
	t.Helper()
	mfs, err := lg.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
