package soak

import (
	"bytes"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// TestSoakInProcess runs a short soak of every client kind against a real
// log served in this process, and checks that it reads the log back and
// finds nothing wrong.
func TestSoakInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s soak")
	}
	l := mosaictest.NewLog(t, mosaictest.Options{Index: true})
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	var progress bytes.Buffer
	cfg := Config{
		Duration: 4 * time.Second,
		Source: func() ([]byte, error) {
			artifact := make([]byte, 32)
			_, _ = rand.Read(artifact)
			return signer.Request(t, artifact), nil
		},
		Adders: 4, ResubmitFraction: 0.2,
		MalformedClients: 2, MalformedRate: 200,
		SlowClients: 2, SlowInterval: 500 * time.Millisecond,
		NeverReadingClients: 2, NeverReadingHold: 2 * time.Second,
		Progress: &progress, ProgressInterval: time.Second,
	}
	rep, err := Soak(t.Context(), cfg, Target{Store: "posix", URL: l.URL, Origin: l.Origin,
		PublicKey: l.Key.Public(), PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Failures(); len(f) > 0 {
		t.Errorf("failures: %q\nsamples: %q", f, rep.Samples)
	}
	if rep.ReadBack.Verified != rep.Adds.Acknowledged || rep.Adds.Acknowledged == 0 {
		t.Errorf("%d acknowledged, %d verified", rep.Adds.Acknowledged, rep.ReadBack.Verified)
	}
	if rep.Adds.SameIndex == 0 {
		t.Error("no resubmission of an acknowledged entry was answered")
	}
	if rep.Malformed.Refused == 0 || rep.Slow.Started == 0 || rep.NeverReading.Started < 2 {
		t.Errorf("some clients did not run: malformed %+v, slow %+v, never-reading %+v", rep.Malformed, rep.Slow, rep.NeverReading)
	}
	if rep.Process.Samples == 0 || rep.Process.RSSPeak == 0 || rep.Process.FDsPeak == 0 || rep.Process.ConnsPeak == 0 {
		t.Errorf("process not sampled: %+v", rep.Process)
	}
	if !strings.Contains(progress.String(), "soak posix:") {
		t.Errorf("no progress line in %q", progress.String())
	}
	var md bytes.Buffer
	if err := (&Report{Duration: Seconds(cfg.Duration), Stores: []*StoreReport{rep}}).WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", md.String())
}

func TestSoakRefusesRemoteTargets(t *testing.T) {
	cfg := DefaultConfig
	cfg.Source = func() ([]byte, error) { return nil, nil }
	for _, u := range []string{"http://example.com:80", "https://127.0.0.1:443", "http://10.0.0.1:3000", "http://127.0.0.1"} {
		if _, err := Soak(t.Context(), cfg, Target{URL: u}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Soak(%s) = %v, want a loopback refusal", u, err)
		}
	}
}

func TestRunNeedsTheBinary(t *testing.T) {
	cfg := DefaultConfig
	cfg.Source = func() ([]byte, error) { return nil, nil }
	_, err := Run(t.Context(), cfg, ServerConfig{Binary: "./no-such-mosaicd"}, []string{"posix"})
	if err == nil || !strings.Contains(err.Error(), "--mosaicd") {
		t.Errorf("Run with a missing binary: %v, want a hint naming --mosaicd", err)
	}
	if _, err := Run(t.Context(), cfg, ServerConfig{Binary: "mosaicd"}, []string{"s3"}); err == nil || !strings.Contains(err.Error(), "unknown store") {
		t.Errorf("Run with an unknown store: %v", err)
	}
}
