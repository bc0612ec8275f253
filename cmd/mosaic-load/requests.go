package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaiclog/mosaic/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// KeyType names the key the load's entries are signed with.
type KeyType string

// The key types mosaic-load signs with.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	Ed25519ph KeyType = "ed25519ph"
)

// request is one distinct signed CreateEntryRequest, ready to send.
type request struct {
	// body is the protobuf-JSON CreateEntryRequest.
	body []byte
	// digest and sig are what the logged entry must contain (checked with
	// --verify).
	digest, sig []byte
}

// entrySigner builds requests for random artifacts, all signed by one key.
// It is safe for concurrent use.
type entrySigner struct {
	key crypto.Signer
}

func newEntrySigner(kt KeyType) (*entrySigner, error) {
	var key crypto.Signer
	var err error
	switch kt {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519ph:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unknown --key-type %q (want %q or %q)", kt, ECDSAP256, Ed25519ph)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", kt, err)
	}
	return &entrySigner{key: key}, nil
}

// newRequest signs a fresh random artifact and returns its request.
func (s *entrySigner) newRequest() (*request, error) {
	artifact := make([]byte, 32)
	if _, err := rand.Read(artifact); err != nil {
		return nil, fmt.Errorf("generating artifact: %w", err)
	}
	req, err := sign.HashedRekordRequest(s.key, nil, bytes.NewReader(artifact))
	if err != nil {
		return nil, fmt.Errorf("signing artifact: %w", err)
	}
	body, err := protojson.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding request: %w", err)
	}
	hr := req.GetHashedRekordRequestV002()
	return &request{body: body, digest: hr.GetDigest(), sig: hr.GetSignature().GetContent()}, nil
}

// pregenerate signs n requests using every CPU; the load has not started, so
// nothing else competes for them. Every interval (0: never) it writes how
// far it has come to progress.
func (s *entrySigner) pregenerate(ctx context.Context, n int, progress io.Writer, interval time.Duration) ([]*request, error) {
	out := make([]*request, n)
	var next, signed atomic.Int64
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		finished := make(chan struct{})
		defer close(finished)
		go func() {
			for {
				select {
				case <-t.C:
					fmt.Fprintf(progress, "mosaic-load: signed %d/%d requests\n", signed.Load(), n)
				case <-finished:
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				r, err := s.newRequest()
				if err != nil {
					errs <- err
					return
				}
				out[i] = r
				signed.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// source hands out requests: the pre-signed ones first, then requests a
// producer goroutine signs while the load runs (counted in signedLive, since
// that signing competes with the log for CPU on a shared machine).
type source struct {
	ch chan *request
	// signedLive counts requests signed after timing started.
	signedLive atomic.Int64
	// err is the producer's failure, if any; read after ch is closed.
	err error
}

// newSource starts the producer. It sends pre, then signs more until limit
// requests were sent in total (limit 0: until ctx ends), then closes ch.
func newSource(ctx context.Context, s *entrySigner, pre []*request, limit int, buffer int) *source {
	src := &source{ch: make(chan *request, buffer)}
	go func() {
		defer close(src.ch)
		for i := 0; limit == 0 || i < limit; i++ {
			var r *request
			if i < len(pre) {
				r, pre[i] = pre[i], nil // let the garbage collector have sent requests
			} else {
				var err error
				if r, err = s.newRequest(); err != nil {
					src.err = err
					return
				}
				src.signedLive.Add(1)
			}
			select {
			case src.ch <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	return src
}
