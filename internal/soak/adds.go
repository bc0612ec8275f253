package soak

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	routeEntries = "POST /api/v2/log/entries"
	// attemptTimeout bounds one HTTP attempt: longer than mosaicd's
	// longest add wait (--add-timeout, 30 s by default).
	attemptTimeout = 60 * time.Second
	// maxAttempts bounds the tries of one add answered 503/504 or not at
	// all; maxRetryWait caps the wait between them.
	maxAttempts  = 10
	maxRetryWait = 5 * time.Second
	// maxAnswerBytes bounds what is read of an answer.
	maxAnswerBytes = 4 << 20
)

// submission is what a valid request carries that its logged entry must
// carry too.
type submission struct {
	digest, sig []byte
	// keyFingerprint is "sha256:<hex>" of the signer's PKIX public key, as
	// POST /api/v2/log/search takes it.
	keyFingerprint string
}

// parseRequest reads a hashedrekord v0.0.2 CreateEntryRequest.
func parseRequest(body []byte) (*submission, error) {
	var req pb.CreateEntryRequest
	if err := protojson.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("not a CreateEntryRequest: %w", err)
	}
	hr := req.GetHashedRekordRequestV002()
	key := hr.GetSignature().GetVerifier().GetPublicKey().GetRawBytes()
	if hr == nil || len(key) == 0 {
		return nil, errors.New("not a hashedrekord v0.0.2 request with a public key verifier")
	}
	fp := sha256.Sum256(key)
	return &submission{digest: hr.GetDigest(), sig: hr.GetSignature().GetContent(),
		keyFingerprint: "sha256:" + hex.EncodeToString(fp[:])}, nil
}

// acknowledged reads a 201 answer: the index and the logged leaf.
func acknowledged(body []byte) (uint64, []byte, error) {
	var tle rekorpb.TransparencyLogEntry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &tle); err != nil {
		return 0, nil, fmt.Errorf("201 answer is not a TransparencyLogEntry: %w", err)
	}
	if tle.GetLogIndex() < 0 || len(tle.GetCanonicalizedBody()) == 0 {
		return 0, nil, fmt.Errorf("201 answer has index %d and %d body bytes", tle.GetLogIndex(), len(tle.GetCanonicalizedBody()))
	}
	return uint64(tle.GetLogIndex()), tle.GetCanonicalizedBody(), nil
}

// loggedEntryIs checks that a logged hashedrekord carries sub's digest and
// signature.
func loggedEntryIs(leaf []byte, sub *submission) error {
	var e pb.Entry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(leaf, &e); err != nil {
		return fmt.Errorf("canonicalizedBody is not a Rekor v2 Entry: %w", err)
	}
	hr := e.GetSpec().GetHashedRekordV002()
	if !bytes.Equal(hr.GetData().GetDigest(), sub.digest) || !bytes.Equal(hr.GetSignature().GetContent(), sub.sig) {
		return errors.New("the logged entry is not the one submitted (digest or signature differ)")
	}
	return nil
}

// leafHash is the RFC 6962 leaf hash of a logged entry.
func leafHash(leaf []byte) [32]byte {
	var h [32]byte
	copy(h[:], rfc6962.DefaultHasher.HashLeaf(leaf))
	return h
}

// adder sends valid entries until load ends, each answered or given up
// before it returns; a ResubmitFraction of them are acknowledged entries
// sent again.
func (s *soaker) adder(load, drain context.Context) {
	for load.Err() == nil {
		if rand.Float64() < s.cfg.ResubmitFraction {
			if r, ok := s.led.pick(); ok {
				s.resubmit(load, drain, r)
				continue
			}
		}
		if err := s.addFresh(load, drain); err != nil {
			s.rec.sample("request source", err.Error())
			return
		}
	}
}

// addFresh sends one new entry and records its answer. It fails only when
// no request could be built.
func (s *soaker) addFresh(load, drain context.Context) error {
	body, err := s.cfg.Source()
	if err != nil {
		return err
	}
	sub, err := parseRequest(body)
	if err != nil {
		return err
	}
	start := time.Now()
	res, o := s.submit(load, drain, body)
	if o.status == http.StatusCreated {
		s.addLatencies.observe(time.Since(start))
		index, leaf, err := acknowledged(res.body)
		if err == nil {
			err = loggedEntryIs(leaf, sub)
		}
		if err == nil && !s.led.record(index, leafHash(leaf), body) {
			err = fmt.Errorf("index %d was acknowledged before for another entry", index)
		}
		if err != nil {
			o.mismatch = true
			s.rec.sample("ack mismatch", err.Error())
		} else {
			o.acked = true
		}
	} else if o.status != 0 {
		s.rec.sample(fmt.Sprintf("add HTTP %d", o.status), errorMessage(res.body))
	}
	s.rec.fresh(o)
	return nil
}

// duplicateAt reads the index a 409 names ("... at index N").
var duplicateAt = regexp.MustCompile(`at index (\d+)`)

// resubmit sends an acknowledged entry again: the log must answer with its
// original index (201 with the entry, or 409 naming it).
func (s *soaker) resubmit(load, drain context.Context, r resubmittable) {
	res, o := s.submit(load, drain, r.body)
	var got uint64
	var err error
	switch o.status {
	case http.StatusCreated:
		got, _, err = acknowledged(res.body)
	case http.StatusConflict:
		m := duplicateAt.FindStringSubmatch(errorMessage(res.body))
		if m == nil {
			err = fmt.Errorf("409 names no index: %s", errorMessage(res.body))
		} else {
			got, err = strconv.ParseUint(m[1], 10, 64)
		}
	default:
		s.rec.resubmit(resubmitUnresolved)
		return
	}
	switch {
	case err != nil:
		s.rec.sample("resubmission", err.Error())
		s.rec.resubmit(resubmitUnresolved)
	case got != r.index:
		s.rec.sample("resubmission", fmt.Sprintf("entry acknowledged at %d answered with index %d", r.index, got))
		s.rec.resubmit(resubmitOther)
	default:
		s.rec.resubmit(resubmitSame)
	}
}

// submit posts body, retrying (while load is live) after 503/504/429 and
// after connection failures, since a valid entry may have been sequenced
// anyway and its retry must resolve to it. An attempt already sent is
// awaited under drain.
func (s *soaker) submit(load, drain context.Context, body []byte) (*answer, addOutcome) {
	var o addOutcome
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(drain, attemptTimeout)
		res, err := s.do(ctx, routeEntries, http.MethodPost, "/api/v2/log/entries", bytes.NewReader(body), "application/json")
		cancel()
		retry := attempt < maxAttempts && load.Err() == nil
		if err != nil {
			o.transport++
			s.rec.sample("add transport", err.Error())
			if !retry {
				return &answer{}, o
			}
			sleep(load, time.Second)
			continue
		}
		switch res.status {
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			if retry {
				o.retried++
				sleep(load, retryWait(res.header.Get("Retry-After")))
				continue
			}
		}
		o.status = res.status
		return res, o
	}
}

// retryWait is the wait a Retry-After header asks for, between 100 ms and
// maxRetryWait (1 s when absent).
func retryWait(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return time.Second
	}
	return min(max(time.Duration(n)*time.Second, 100*time.Millisecond), maxRetryWait)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// answer is an HTTP answer, its body read (up to maxAnswerBytes).
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the target and reads its answer. A 5xx is
// counted against route (unless route is "").
func (s *soaker) do(ctx context.Context, route, method, path string, body io.Reader, contentType string) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the %d answer: %w", res.StatusCode, err)
	}
	if res.StatusCode >= 500 && route != "" {
		s.rec.serverError(route)
	}
	return &answer{status: res.StatusCode, header: res.Header, body: b}, nil
}
