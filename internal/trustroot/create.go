package trustroot

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/pkg/note"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file builds the two files from cosign v3's `trusted-root create` and
// `signing-config create` flags, for deployments that are not (only) one
// mosaicd. Each flag value is a service specification: comma-separated
// key=value pairs, such as
//
//	url=https://log.example.com,public-key=log.pub,start-time=2026-01-02T15:04:05Z
//
// Keys and values are trimmed of spaces; an optional key with an empty value
// counts as absent. Unlike cosign, an unknown or repeated key is an error, as
// is a value that does not make sense (a URL without a host, an end before
// the start, a chain that does not link up to a root).

// TrustedRootSpecs are the values of `trusted-root create`'s repeatable
// flags, each one service specification.
type TrustedRootSpecs struct {
	// Fulcio (--fulcio) are certificate authorities:
	// url=,certificate-chain=PATH[,start-time=][,end-time=]. The chain runs
	// from the issuing CA to the root; the start defaults to the root's
	// NotBefore.
	Fulcio []string
	// Rekor (--rekor) are transparency logs:
	// url=,public-key=PATH,start-time=[,end-time=][,origin=]. The log ID is
	// pkg/note.LogID of the origin, which defaults to the URL's hostname as
	// sigstore-go derives it for Rekor v2 logs.
	Rekor []string
	// CTFE (--ctfe) are certificate transparency logs, with the keys of
	// Rekor. The log ID is RFC 6962's (the SHA-256 of the DER public key),
	// or with origin= the checkpoint ID pkg/note.LogID derives, as cosign
	// does for static CT logs; the two agree for ECDSA keys.
	CTFE []string
	// TSA (--tsa) are RFC 3161 timestamp authorities:
	// url=,certificate-chain=PATH[,start-time=][,end-time=]. The chain runs
	// from the timestamping certificate to the root; the start defaults to
	// the timestamping certificate's NotBefore.
	TSA []string
}

// SigningConfigSpecs are the values of `signing-config create`'s flags.
type SigningConfigSpecs struct {
	// Fulcio (--fulcio), Rekor (--rekor), OIDC (--oidc-provider) and TSA
	// (--tsa) are services:
	// url=,api-version=N,start-time=,operator=NAME[,end-time=].
	Fulcio, Rekor, OIDC, TSA []string
	// RekorConfig (--rekor-config) and TSAConfig (--tsa-config) say how many
	// logs and TSAs a signer uses: ANY, ALL or EXACT:<count>. Each is
	// required with its services and refused without them.
	RekorConfig, TSAConfig string
}

// SpecError reports a bad value of one flag. Its message names the flag, the
// key and the bad value, such as
//
//	--rekor: start-time "yesterday" is not RFC 3339 (e.g. 2026-01-02T15:04:05Z)
type SpecError struct {
	// Flag is the flag with its dashes, such as "--rekor".
	Flag string
	// N counts the flag's values from 1 when it was given more than once,
	// to say which is bad; it is 0 otherwise.
	N int
	// Err says what is wrong.
	Err error
}

func (e *SpecError) Error() string {
	if e.N > 0 {
		return fmt.Sprintf("%s #%d: %v", e.Flag, e.N, e.Err)
	}
	return e.Flag + ": " + e.Err.Error()
}

func (e *SpecError) Unwrap() error { return e.Err }

// specKeys are the keys a kind of specification takes.
type specKeys struct {
	required, optional []string
}

var (
	authorityKeys = specKeys{required: []string{"url", "certificate-chain"}, optional: []string{"start-time", "end-time"}}
	logKeys       = specKeys{required: []string{"url", "public-key", "start-time"}, optional: []string{"end-time", "origin"}}
	serviceKeys   = specKeys{required: []string{"url", "api-version", "start-time", "operator"}, optional: []string{"end-time"}}
)

// syntax describes a specification with these keys, for error messages.
func (k specKeys) syntax() string {
	parts := make([]string, 0, len(k.required)+len(k.optional))
	for _, key := range k.required {
		parts = append(parts, key+"=...")
	}
	s := strings.Join(parts, ",")
	for _, key := range k.optional {
		s += "[," + key + "=...]"
	}
	return s
}

func (k specKeys) allows(key string) bool {
	for _, list := range [][]string{k.required, k.optional} {
		for _, known := range list {
			if key == known {
				return true
			}
		}
	}
	return false
}

// parseServiceSpec splits spec into its keys and values, and checks that
// every key is known, none repeats and every required key has a value.
// Optional keys with empty values are left out of the result.
func parseServiceSpec(spec string, keys specKeys) (map[string]string, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("empty specification (want %s)", keys.syntax())
	}
	kv := make(map[string]string)
	for _, item := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("%q is not key=value (want %s)", item, keys.syntax())
		}
		if !keys.allows(k) {
			return nil, fmt.Errorf("unknown key %q (want %s)", k, keys.syntax())
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("duplicate key %s", k)
		}
		kv[k] = v
	}
	for _, k := range keys.required {
		if v, ok := kv[k]; !ok {
			return nil, fmt.Errorf("missing required key %s (want %s)", k, keys.syntax())
		} else if v == "" {
			return nil, fmt.Errorf("required key %s is empty", k)
		}
	}
	for k, v := range kv {
		if v == "" {
			delete(kv, k)
		}
	}
	return kv, nil
}

// CreateTrustedRoot returns trusted_root.json (media type
// TrustedRootMediaType) for the services s specifies, in the order given.
// readFile reads the certificate chains and public keys the specifications
// name (os.ReadFile if nil). Errors about one flag's value are *SpecError.
func CreateTrustedRoot(s TrustedRootSpecs, readFile func(string) ([]byte, error)) ([]byte, error) {
	if len(s.Fulcio)+len(s.Rekor)+len(s.CTFE)+len(s.TSA) == 0 {
		return nil, errors.New("nothing to trust: give at least one --fulcio, --rekor, --ctfe or --tsa")
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	var err error
	tr := &prototrustroot.TrustedRoot{MediaType: TrustedRootMediaType}
	if tr.CertificateAuthorities, err = eachSpec("--fulcio", s.Fulcio, func(spec string) (*prototrustroot.CertificateAuthority, error) {
		return authoritySpec(spec, false, readFile)
	}); err != nil {
		return nil, err
	}
	if tr.Tlogs, err = eachSpec("--rekor", s.Rekor, func(spec string) (*prototrustroot.TransparencyLogInstance, error) {
		return logSpec(spec, false, readFile)
	}); err != nil {
		return nil, err
	}
	if tr.Ctlogs, err = eachSpec("--ctfe", s.CTFE, func(spec string) (*prototrustroot.TransparencyLogInstance, error) {
		return logSpec(spec, true, readFile)
	}); err != nil {
		return nil, err
	}
	if tr.TimestampAuthorities, err = eachSpec("--tsa", s.TSA, func(spec string) (*prototrustroot.CertificateAuthority, error) {
		return authoritySpec(spec, true, readFile)
	}); err != nil {
		return nil, err
	}
	if err := distinctLogIDs("--rekor", tr.Tlogs); err != nil {
		return nil, err
	}
	if err := distinctLogIDs("--ctfe", tr.Ctlogs); err != nil {
		return nil, err
	}
	return marshal(tr)
}

// CreateSigningConfig returns signing_config.json (media type
// SigningConfigMediaType) for the services s specifies, in the order given.
// A selector whose services are absent is written as ANY, because
// sigstore-go reads both selectors without checking for their absence.
// Errors about one flag's value are *SpecError.
func CreateSigningConfig(s SigningConfigSpecs) ([]byte, error) {
	if len(s.Fulcio)+len(s.Rekor)+len(s.OIDC)+len(s.TSA) == 0 {
		return nil, errors.New("no services: give at least one --fulcio, --rekor, --oidc-provider or --tsa")
	}
	var err error
	sc := &prototrustroot.SigningConfig{MediaType: SigningConfigMediaType}
	for _, f := range []struct {
		flag  string
		specs []string
		out   *[]*prototrustroot.Service
	}{
		{"--fulcio", s.Fulcio, &sc.CaUrls},
		{"--oidc-provider", s.OIDC, &sc.OidcUrls},
		{"--rekor", s.Rekor, &sc.RekorTlogUrls},
		{"--tsa", s.TSA, &sc.TsaUrls},
	} {
		if *f.out, err = eachSpec(f.flag, f.specs, serviceSpec); err != nil {
			return nil, err
		}
	}
	if sc.RekorTlogConfig, err = selector("--rekor-config", "--rekor", s.RekorConfig, sc.RekorTlogUrls); err != nil {
		return nil, err
	}
	if sc.TsaConfig, err = selector("--tsa-config", "--tsa", s.TSAConfig, sc.TsaUrls); err != nil {
		return nil, err
	}
	return marshal(sc)
}

// eachSpec parses every value of flag with parse, reporting the first bad
// one as a *SpecError.
func eachSpec[T any](flag string, specs []string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for i, spec := range specs {
		v, err := parse(spec)
		if err != nil {
			return nil, specError(flag, i, len(specs), err)
		}
		out = append(out, v)
	}
	return out, nil
}

func specError(flag string, i, count int, err error) *SpecError {
	e := &SpecError{Flag: flag, Err: err}
	if count > 1 {
		e.N = i + 1
	}
	return e
}

// authoritySpec parses a --fulcio (or, if tsa, a --tsa) specification of a
// trusted root.
func authoritySpec(spec string, tsa bool, readFile func(string) ([]byte, error)) (*prototrustroot.CertificateAuthority, error) {
	kv, err := parseServiceSpec(spec, authorityKeys)
	if err != nil {
		return nil, err
	}
	if err := checkURL(kv["url"]); err != nil {
		return nil, err
	}
	chain, err := readChain(kv["certificate-chain"], tsa, readFile)
	if err != nil {
		return nil, err
	}
	// As cosign: a CA is trusted from its root's start, a TSA from its
	// timestamping certificate's.
	defaultStart := chain[len(chain)-1].NotBefore
	what := "CA"
	if tsa {
		defaultStart, what = chain[0].NotBefore, "TSA"
	}
	start, end, err := validity(kv, defaultStart)
	if err != nil {
		return nil, err
	}
	ca, err := authority(what, kv["url"], chain, start)
	if err != nil {
		return nil, err
	}
	setEnd(ca.ValidFor, end)
	return ca, nil
}

// readChain reads and checks the certificate chain at path: ordered, each
// certificate signed by the next, ending with a self-signed root (which
// crypto/x509 accepts only as a CA). A CA chain starts with a CA
// certificate; a TSA chain with the timestamping certificate, which is not
// one, so it holds at least two.
func readChain(path string, tsa bool, readFile func(string) ([]byte, error)) ([]*x509.Certificate, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate-chain %q: %w", path, err)
	}
	chain, err := pki.ParseChain(data)
	if err != nil {
		return nil, fmt.Errorf("certificate-chain %q: %w", path, err)
	}
	first := chain[0]
	switch {
	case !tsa && !first.IsCA:
		return nil, fmt.Errorf("certificate-chain %q starts with %s, which is not a CA certificate; "+
			"list the issuing CA first, then its parents up to the root", path, first.Subject)
	case tsa && first.IsCA:
		return nil, fmt.Errorf("certificate-chain %q starts with the CA certificate %s; "+
			"list the timestamping certificate first, then its parents up to the root", path, first.Subject)
	}
	return chain, nil
}

// logSpec parses a --rekor (or, if ct, a --ctfe) specification.
func logSpec(spec string, ct bool, readFile func(string) ([]byte, error)) (*prototrustroot.TransparencyLogInstance, error) {
	kv, err := parseServiceSpec(spec, logKeys)
	if err != nil {
		return nil, err
	}
	logURL := kv["url"]
	if err := checkURL(logURL); err != nil {
		return nil, err
	}
	pub, err := readPublicKey(kv["public-key"], readFile)
	if err != nil {
		return nil, err
	}
	start, end, err := validity(kv, time.Time{})
	if err != nil {
		return nil, err
	}
	id, err := logID(kv, ct, pub)
	if err != nil {
		return nil, err
	}
	l := &TLog{PublicKey: pub, LogID: id, Start: start}
	inst, err := logInstance(fmt.Sprintf("public-key %q", kv["public-key"]), logURL, l, ct && id == nil)
	if err != nil {
		return nil, err
	}
	setEnd(inst.PublicKey.ValidFor, end)
	return inst, nil
}

// logID returns a log's ID: the checkpoint ID for its origin, which for a
// Rekor log defaults to the URL's hostname; or nil for a CT log without an
// origin, whose RFC 6962 ID logInstance computes.
func logID(kv map[string]string, ct bool, pub crypto.PublicKey) ([]byte, error) {
	origin, ok := kv["origin"]
	if !ok {
		if ct {
			return nil, nil
		}
		var err error
		if origin, err = note.OriginFromURL(kv["url"]); err != nil {
			return nil, err
		}
	}
	if err := note.ValidOrigin(origin); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	id, err := note.LogID(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("origin %q: %w", origin, err)
	}
	return id, nil
}

// readPublicKey reads a PKIX "PUBLIC KEY" PEM file holding a key a log can
// use (Ed25519 or ECDSA).
func readPublicKey(path string, readFile func(string) ([]byte, error)) (crypto.PublicKey, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("public-key %q: %w", path, err)
	}
	if block, _ := pem.Decode(data); block != nil && strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("public-key %q holds a private key; give its public key "+
			"(openssl pkey -in %s -pubout -out key.pub)", path, path)
	}
	pub, err := note.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public-key %q: %w", path, err)
	}
	if _, err := keyDetails(pub); err != nil {
		return nil, fmt.Errorf("public-key %q: %w", path, err)
	}
	return pub, nil
}

// serviceSpec parses a service specification of a signing config.
func serviceSpec(spec string) (*prototrustroot.Service, error) {
	kv, err := parseServiceSpec(spec, serviceKeys)
	if err != nil {
		return nil, err
	}
	if err := checkURL(kv["url"]); err != nil {
		return nil, err
	}
	v := kv["api-version"]
	version, err := strconv.ParseUint(v, 10, 32)
	if err != nil || version == 0 {
		return nil, fmt.Errorf("api-version %q is not a positive integer (the service's major API version, e.g. 1)", v)
	}
	start, end, err := validity(kv, time.Time{})
	if err != nil {
		return nil, err
	}
	svc := service(kv["url"], uint32(version), start)
	svc.Operator = kv["operator"]
	setEnd(svc.ValidFor, end)
	return svc, nil
}

// selector parses the value of flag (--rekor-config or --tsa-config), which
// chooses among the services of servicesFlag.
func selector(flag, servicesFlag, value string, services []*prototrustroot.Service) (*prototrustroot.ServiceConfiguration, error) {
	value = strings.TrimSpace(value)
	switch {
	case value == "" && len(services) == 0:
		return &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY}, nil
	case value == "":
		return nil, fmt.Errorf("%s is required with %s (ANY, ALL or EXACT:<count>)", flag, servicesFlag)
	case len(services) == 0:
		return nil, fmt.Errorf("%s is given without %s; add the services it selects among", flag, servicesFlag)
	}
	cfg, err := parseSelector(value, operators(services))
	if err != nil {
		return nil, &SpecError{Flag: flag, Err: err}
	}
	return cfg, nil
}

// parseSelector parses ANY, ALL or EXACT:<count> (in any case) for services
// run by operators distinct operators.
func parseSelector(value string, operators int) (*prototrustroot.ServiceConfiguration, error) {
	mode, count, hasCount := strings.Cut(value, ":")
	switch strings.ToUpper(mode) {
	case "ANY", "ALL":
		if hasCount {
			return nil, fmt.Errorf("%q: %s takes no count", value, strings.ToUpper(mode))
		}
		sel := prototrustroot.ServiceSelector_ANY
		if strings.EqualFold(mode, "ALL") {
			sel = prototrustroot.ServiceSelector_ALL
		}
		return &prototrustroot.ServiceConfiguration{Selector: sel}, nil
	case "EXACT":
		n, err := strconv.ParseUint(count, 10, 32)
		if !hasCount || err != nil || n == 0 {
			return nil, fmt.Errorf("%q: EXACT needs a count of at least 1, such as EXACT:2", value)
		}
		if n > uint64(operators) {
			return nil, fmt.Errorf("%q: the services have only %d distinct operators, and a signer uses at most one service per operator", value, operators)
		}
		return &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_EXACT, Count: uint32(n)}, nil
	default:
		return nil, fmt.Errorf("%q is not ANY, ALL or EXACT:<count>", value)
	}
}

// operators counts the distinct operators of services.
func operators(services []*prototrustroot.Service) int {
	seen := make(map[string]bool)
	for _, s := range services {
		seen[s.GetOperator()] = true
	}
	return len(seen)
}

// checkURL checks that v is an absolute http(s) URL with a host.
func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("url %q is not an absolute http(s) URL (e.g. https://log.example.com)", v)
	}
	return nil
}

// validity returns the start-time (defaultStart if absent) and end-time
// (zero if absent) of kv, checking that the end comes after the start.
func validity(kv map[string]string, defaultStart time.Time) (start, end time.Time, err error) {
	if start, err = timeKey(kv, "start-time"); err != nil {
		return start, end, err
	}
	if start.IsZero() {
		start = defaultStart
	}
	if end, err = timeKey(kv, "end-time"); err != nil {
		return start, end, err
	}
	if !end.IsZero() && !end.After(start) {
		return start, end, fmt.Errorf("end-time %s is not after the start time %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return start, end, nil
}

// timeKey parses kv[key] as an RFC 3339 time; zero if absent.
func timeKey(kv map[string]string, key string) (time.Time, error) {
	v, ok := kv[key]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not RFC 3339 (e.g. 2026-01-02T15:04:05Z)", key, v)
	}
	// A zone offset can carry a time just outside the years a protobuf
	// Timestamp holds.
	if err := timestamppb.New(t).CheckValid(); err != nil || t.IsZero() {
		return time.Time{}, fmt.Errorf("%s %q is out of range", key, v)
	}
	return t, nil
}

// setEnd sets the end of r, unless end is zero.
func setEnd(r *protocommon.TimeRange, end time.Time) {
	if !end.IsZero() {
		r.End = timestamppb.New(end)
	}
}

// distinctLogIDs checks that no two logs of flag share an ID: verifiers find
// a log by its ID, so only one of them could be used.
func distinctLogIDs(flag string, logs []*prototrustroot.TransparencyLogInstance) error {
	seen := make(map[string]int)
	for i, l := range logs {
		id := string(l.GetLogId().GetKeyId())
		if j, dup := seen[id]; dup {
			return specError(flag, i, len(logs), fmt.Errorf("log ID %s is also that of %s #%d (the same key and origin); list each log once",
				base64.StdEncoding.EncodeToString(l.GetLogId().GetKeyId()), flag, j+1))
		}
		seen[id] = i
	}
	return nil
}
