package servingcert

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/servingcert/servingcerttest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// files writes pair into a new directory and returns the two paths.
func files(t *testing.T, pair servingcerttest.Pair) (certFile, keyFile string) {
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pair.Write(t, certFile, keyFile)
	return certFile, keyFile
}

// A pair that cannot serve is refused at Load, naming the file or the
// flag at fault.
func TestLoadRefuses(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	good, other := ca.Issue(t, time.Hour), ca.Issue(t, time.Hour)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("cert.pem", good.Cert), write("key.pem", good.Key)
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "nope.pem"), key, "--tls-cert: open " + dir + "/nope.pem: no such file"},
		{"missing key", cert, filepath.Join(dir, "nope.pem"), "--tls-key: open " + dir + "/nope.pem: no such file"},
		{"cert is a directory", dir, key, "--tls-cert: reading " + dir + ": read " + dir + ": is a directory"},
		{"empty cert", write("empty", nil), key, "holds no PEM CERTIFICATE block"},
		{"key as cert", key, key, "the certificate file holds no PEM CERTIFICATE block"},
		{"cert as key", cert, cert, "the key file holds no PEM PRIVATE KEY block"},
		{"swapped", key, cert, "the certificate file holds no PEM CERTIFICATE block"},
		{"mismatched", cert, write("other.key", other.Key), "private key does not match public key"},
		{"garbled cert", write("garbled.pem", []byte(strings.Replace(string(good.Cert), "M", "@", 3))), key, "failed to"},
		{"huge cert", write("huge.pem", make([]byte, MaxFileBytes+1)), key, "is larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.cert, tc.key, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, %v; want an error containing %q", c, err, tc.want)
			}
		})
	}
	c, err := Load(cert, key, nil, nil)
	if err != nil || c.Current().Leaf.SerialNumber.Cmp(good.Serial) != 0 {
		t.Fatalf("Load of the good pair: %v", err)
	}
}

// A bad replacement keeps the old pair serving and is reported once, in
// the metrics; a good one is served from the next handshake on.
func TestReload(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	first := ca.Issue(t, time.Hour)
	certFile, keyFile := files(t, first)
	m := NewMetrics()
	c, err := Load(certFile, keyFile, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	serving := func() string {
		p, _ := c.GetCertificate(&tls.ClientHelloInfo{})
		return p.Leaf.SerialNumber.String()
	}
	if got := testutil.ToFloat64(m.notAfter); got != float64(first.NotAfter.Unix()) {
		t.Errorf("not-after metric %v, want %d", got, first.NotAfter.Unix())
	}

	// A renewed certificate written before its key: refused, old kept.
	second := ca.Issue(t, 2*time.Hour)
	servingcerttest.WriteFile(t, certFile, second.Cert)
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("Reload with the new certificate and the old key = %v", err)
	}
	if serving() != first.Serial.String() || testutil.ToFloat64(m.failing) != 1 ||
		testutil.ToFloat64(m.reloads.WithLabelValues("error")) != 1 {
		t.Fatalf("after a bad reload: serving %s (want %s), failing %v, errors %v", serving(), first.Serial,
			testutil.ToFloat64(m.failing), testutil.ToFloat64(m.reloads.WithLabelValues("error")))
	}
	// Polling the same bad files does not count (or log) again.
	if err := c.reload(false); err != nil || testutil.ToFloat64(m.reloads.WithLabelValues("error")) != 1 {
		t.Fatalf("an unchanged bad pair was tried again: %v", err)
	}

	// The key arrives: the next poll serves the new pair.
	servingcerttest.WriteFile(t, keyFile, second.Key)
	if err := c.reload(false); err != nil {
		t.Fatal(err)
	}
	if serving() != second.Serial.String() || testutil.ToFloat64(m.failing) != 0 ||
		testutil.ToFloat64(m.notAfter) != float64(second.NotAfter.Unix()) ||
		testutil.ToFloat64(m.reloads.WithLabelValues("ok")) != 1 {
		t.Fatalf("after a good reload: serving %s (want %s), failing %v, not-after %v", serving(), second.Serial,
			testutil.ToFloat64(m.failing), testutil.ToFloat64(m.notAfter))
	}

	// A deleted file: still the second pair.
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "--tls-cert: open") {
		t.Fatalf("Reload without the certificate file = %v", err)
	}
	if serving() != second.Serial.String() {
		t.Fatalf("serving %s after the file was deleted, want %s", serving(), second.Serial)
	}
}

// Watch notices replaced files by itself.
func TestWatch(t *testing.T) {
	ca := servingcerttest.NewCA(t)
	first := ca.Issue(t, time.Hour)
	certFile, keyFile := files(t, first)
	c, err := Load(certFile, keyFile, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Watch(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	second := ca.Issue(t, time.Hour)
	second.Write(t, certFile, keyFile)
	deadline := time.Now().Add(10 * time.Second)
	for c.Current().Leaf.SerialNumber.Cmp(second.Serial) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not load the replaced pair within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzParsePair: any bytes are refused or give a pair with its leaf
// parsed, never a panic.
func FuzzParsePair(f *testing.F) {
	ca := servingcerttest.NewCA(f)
	p := ca.Issue(f, time.Hour)
	f.Add(p.Cert, p.Key)
	f.Add(p.Key, p.Cert)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		pair, err := parsePair(certPEM, keyPEM)
		if err == nil && (pair.Leaf == nil || pair.PrivateKey == nil) {
			t.Fatalf("a pair without its leaf or key")
		}
	})
}
