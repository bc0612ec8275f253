package sign

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// SigningConfigMediaType is the media type of the signing_config.json this
// package reads (protobuf-specs SigningConfig v0.2).
const SigningConfigMediaType = "application/vnd.dev.sigstore.signingconfig.v0.2+json"

// The major API versions this package speaks: Rekor v2 logs, Fulcio v2's
// API (listed as major version 1 in signing configs), RFC 3161 TSAs.
const (
	RekorAPIVersion = 2
	CAAPIVersion    = 1
	TSAAPIVersion   = 1
	OIDCAPIVersion  = 1
)

// ErrNoService is wrapped when a signing config lists no usable service of
// a kind this package needs.
var ErrNoService = errors.New("no usable service")

// maxSigningConfigBytes bounds a signing config.
const maxSigningConfigBytes = 1 << 20

// ParseSigningConfig decodes a signing_config.json and checks its media
// type. Unknown fields are ignored, as newer minor versions may add them.
func ParseSigningConfig(data []byte) (*prototrustroot.SigningConfig, error) {
	if len(data) > maxSigningConfigBytes {
		return nil, fmt.Errorf("signing config of %d bytes exceeds %d", len(data), maxSigningConfigBytes)
	}
	var sc prototrustroot.SigningConfig
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &sc); err != nil {
		return nil, fmt.Errorf("not a signing config: %w", err)
	}
	if sc.GetMediaType() != SigningConfigMediaType {
		return nil, fmt.Errorf("signing config media type %q, want %q", sc.GetMediaType(), SigningConfigMediaType)
	}
	return &sc, nil
}

// ConfigFromSigningConfig selects the services to sign with at now, with
// the rules sigstore-go applies:
//   - a service counts only if its majorApiVersion is the one this package
//     speaks (RekorAPIVersion and so on) and validFor contains now;
//   - the CA (and OIDC provider) is the matching service whose validity
//     starts last;
//   - logs and TSAs are the matching services, newest first, at most one per
//     operator, then chosen by the config's selector: ALL keeps them all,
//     ANY picks one at random, EXACT picks count at random (count must be
//     at least 1 and at most the number matching).
//
// At least one log must match. A CA or TSA list that is empty leaves that
// service unset; one with no matching service is an error.
func ConfigFromSigningConfig(sc *prototrustroot.SigningConfig, now time.Time) (Config, error) {
	var cfg Config
	var err error
	if cfg.LogURLs, err = selectMany("Rekor log", sc.GetRekorTlogUrls(), sc.GetRekorTlogConfig(), RekorAPIVersion, now); err != nil {
		return Config{}, err
	}
	if len(sc.GetCaUrls()) > 0 {
		if cfg.CAURL, err = selectOne("CA", sc.GetCaUrls(), CAAPIVersion, now); err != nil {
			return Config{}, err
		}
	}
	if len(sc.GetOidcUrls()) > 0 {
		// Informational: an unusable OIDC entry does not stop signing.
		cfg.OIDCURL, _ = selectOne("OIDC provider", sc.GetOidcUrls(), OIDCAPIVersion, now)
	}
	if len(sc.GetTsaUrls()) > 0 {
		if cfg.TSAURLs, err = selectMany("TSA", sc.GetTsaUrls(), sc.GetTsaConfig(), TSAAPIVersion, now); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// validAt reports whether s's validity window contains t; an absent bound
// does not constrain.
func validAt(s *prototrustroot.Service, t time.Time) bool {
	vf := s.GetValidFor()
	if start := vf.GetStart(); start != nil && t.Before(start.AsTime()) {
		return false
	}
	if end := vf.GetEnd(); end != nil && t.After(end.AsTime()) {
		return false
	}
	return true
}

// matching returns the services of version valid at now, newest first.
func matching(services []*prototrustroot.Service, version uint32, now time.Time) []*prototrustroot.Service {
	var out []*prototrustroot.Service
	for _, s := range services {
		if s.GetMajorApiVersion() == version && validAt(s, now) && s.GetUrl() != "" {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b *prototrustroot.Service) int {
		return cmp.Compare(b.GetValidFor().GetStart().AsTime().UnixNano(), a.GetValidFor().GetStart().AsTime().UnixNano())
	})
	return out
}

func noService(what string, listed int, version uint32, now time.Time) error {
	return fmt.Errorf("%w: the signing config lists %d %s service(s) but none has API version %d and is valid at %s",
		ErrNoService, listed, what, version, now.UTC().Format(time.RFC3339))
}

func selectOne(what string, services []*prototrustroot.Service, version uint32, now time.Time) (string, error) {
	m := matching(services, version, now)
	if len(m) == 0 {
		return "", noService(what, len(services), version, now)
	}
	return m[0].GetUrl(), nil
}

func selectMany(what string, services []*prototrustroot.Service, conf *prototrustroot.ServiceConfiguration, version uint32, now time.Time) ([]string, error) {
	var picked []*prototrustroot.Service
	operators := map[string]bool{}
	for _, s := range matching(services, version, now) {
		if !operators[s.GetOperator()] {
			operators[s.GetOperator()] = true
			picked = append(picked, s)
		}
	}
	if len(picked) == 0 {
		return nil, noService(what, len(services), version, now)
	}
	switch conf.GetSelector() {
	case prototrustroot.ServiceSelector_ALL:
	case prototrustroot.ServiceSelector_ANY:
		picked = []*prototrustroot.Service{picked[rand.IntN(len(picked))]}
	case prototrustroot.ServiceSelector_EXACT:
		n := conf.GetCount()
		if n == 0 || int(n) > len(picked) {
			return nil, fmt.Errorf("%w: the %s selector is EXACT %d but %d distinct operators' services match",
				ErrNoService, what, n, len(picked))
		}
		rand.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
		picked = picked[:n]
	default:
		return nil, fmt.Errorf("the signing config's %s selector is %s; want ALL, ANY or EXACT", what, conf.GetSelector())
	}
	urls := make([]string, len(picked))
	for i, s := range picked {
		urls[i] = s.GetUrl()
	}
	return urls, nil
}
