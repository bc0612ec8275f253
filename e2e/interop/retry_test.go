package interop

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilesclient "github.com/sigstore/rekor-tiles/v2/pkg/client"
	"github.com/sigstore/rekor-tiles/v2/pkg/client/write"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// stallFirstWrite forwards every request to target, but holds the response
// to the first write until after the client has given up: the entry is
// logged, the client sees a timeout. That is the CI retry story.
func stallFirstWrite(t *testing.T, target string, stall time.Duration) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, u.JoinPath(r.URL.Path).String(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if r.Method == http.MethodPost && writes.Add(1) == 1 {
			select { // the entry is in the log; the client never hears of it
			case <-time.After(stall):
			case <-r.Context().Done():
			}
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSigstoreGoRetryAfterTimeout: sigstore-go's signer (its Rekor v2
// client, with a short timeout) times out on a write that Mosaic did log,
// and the signing run is retried with the same deterministic key. With
// --duplicates=existing the retry gets the existing entry and the bundle
// verifies; with --duplicates=conflict (Rekor v2's behaviour) the retry
// fails, which is what breaks signing runs against Rekor v2 today.
func TestSigstoreGoRetryAfterTimeout(t *testing.T) {
	for _, tc := range []struct {
		store string
		mode  api.Duplicates
	}{
		{"posix", api.DuplicatesExisting},
		{"postgres", api.DuplicatesExisting},
		{"posix", api.DuplicatesConflict},
	} {
		t.Run(tc.store+"/"+string(tc.mode), func(t *testing.T) {
			lg := mosaictest.NewLog(t, mosaictest.Options{Store: tc.store, Duplicates: tc.mode})
			proxy := stallFirstWrite(t, lg.URL, 5*time.Second)
			tr := trustedRoot(t, trustedLog{URL: lg.URL, Key: lg.Key.Public(), LogID: specLogID(t, lg.URL, lg.Key.Public())})
			// Ed25519ph signatures are deterministic: the retry submits a
			// byte-identical entry.
			kp, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: protocommon.PublicKeyDetails_PKIX_ED25519_PH})
			if err != nil {
				t.Fatal(err)
			}
			tm := root.TrustedMaterialCollection{tr, keyMaterial(t, string(kp.GetHint()), kp.GetPublicKey())}
			artifact := []byte("release artifact signed in CI\n")
			signOnce := func() error {
				w, err := write.NewWriter(proxy.URL, rekortilesclient.WithTimeout(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				rekor := sign.NewRekor(&sign.RekorOptions{BaseURL: proxy.URL, Version: 2, ClientV2: w})
				pb, err := sign.Bundle(&sign.PlainData{Data: artifact}, kp, sign.BundleOptions{
					Context: t.Context(), TransparencyLogs: []sign.Transparency{rekor}, TrustedRoot: tm,
				})
				if err != nil {
					return err
				}
				v, err := verify.NewVerifier(tm, verify.WithTransparencyLog(1), verify.WithNoObserverTimestamps())
				if err != nil {
					t.Fatal(err)
				}
				_, err = v.Verify(loadBundle(t, pb), verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithKey()))
				if err != nil {
					t.Fatalf("the retried run's bundle does not verify: %v", err)
				}
				if idx := pb.GetVerificationMaterial().GetTlogEntries()[0].GetLogIndex(); idx != 0 {
					t.Errorf("the retry got index %d, want the first attempt's 0", idx)
				}
				return nil
			}
			if err := signOnce(); err == nil {
				t.Fatal("the first signing run succeeded; the proxy did not simulate a timeout")
			} else {
				t.Logf("first run failed as the proxy meant it to: %v", err)
			}
			err = signOnce()
			switch {
			case tc.mode == api.DuplicatesExisting && err != nil:
				t.Fatalf("the retried signing run failed: %v", err)
			case tc.mode == api.DuplicatesConflict && err == nil:
				t.Fatal("in conflict mode the retry succeeded; want Rekor v2's 409")
			}
			cp, _, err := lg.Log.Checkpoint(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if cp.Size != 1 {
				t.Errorf("the log holds %d entries after a run and its retry, want 1", cp.Size)
			}
		})
	}
}
