package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mosaiclog/mosaic/pkg/sign"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
)

// cmdAttest is `mosaic attest`: cosign attest-blob's job. The statement is
// an in-toto Statement v1 about FILE (its base name and SHA-256) with the
// predicate from --predicate; it is signed as a DSSE envelope and logged
// as cosign v3 logs one in a Rekor v2 log.
func cmdAttest(e *env, args []string) error {
	fs, output := newFlags(e, "attest", "attest FILE --predicate P --type URI --bundle OUT "+
		"[--url URL | --signing-config F | --ca-url U --log-url U --tsa-url U] [--identity-token T | --key KEY]")
	bundlePath := fs.String("bundle", "", "where to write the Sigstore bundle (required)")
	predicatePath := fs.String("predicate", "", "the predicate: a file holding a JSON object (required)")
	predicateType := fs.String("type", "", "the predicate type, a URI such as https://slsa.dev/provenance/v1 (required)")
	sf := addSignerFlags(fs)
	pos, err := parse(fs, output, args, 1, 1)
	if err != nil {
		return err
	}
	switch {
	case *bundlePath == "" || *predicatePath == "" || *predicateType == "":
		return usagef("--bundle, --predicate and --type are required")
	case !isURI(*predicateType):
		return usagef("--type %q: want the predicate type's URI, such as https://slsa.dev/provenance/v1 "+
			"(cosign's short names such as slsaprovenance are not taken)", *predicateType)
	}
	predicate, err := os.ReadFile(*predicatePath)
	if err != nil {
		return usagef("--predicate: %v", err)
	}
	statement, err := attestStatement(pos[0], *predicateType, predicate, *predicatePath)
	if err != nil {
		return err
	}
	s, err := sf.signer(e)
	if err != nil {
		return err
	}
	var b *protobundle.Bundle
	if sf.keyPath != "" {
		key, err := loadSigningKey(sf.keyPath, sf.keyPassEnv)
		if err != nil {
			return err
		}
		if b, err = s.AttestWithKey(e.ctx, key, statement); err != nil {
			return err
		}
	} else {
		tok, err := sign.ResolveToken(sf.token)
		if err != nil {
			return usagef("identity token: %v", err)
		}
		if b, err = s.AttestKeyless(e.ctx, tok, statement); err != nil {
			return err
		}
	}
	return writeBundle(e, *output, *bundlePath, b, sf.keyPath == "", *predicateType)
}

// attestStatement builds the statement about the file at path.
func attestStatement(path, predicateType string, predicate []byte, predicatePath string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sub, err := sign.ArtifactSubject(filepath.Base(path), f)
	if err != nil {
		return nil, err
	}
	statement, err := sign.NewStatement(predicateType, predicate, sub)
	if err != nil {
		return nil, usagef("--predicate %s: %v", predicatePath, err)
	}
	return statement, nil
}

// isURI reports whether s is an absolute URI without spaces.
func isURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && !strings.ContainsAny(s, " \t\n")
}
