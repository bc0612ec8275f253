package storage

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted stands in for a secret in anything printed.
const redacted = "xxxxx"

// secretParams are the connection parameters that carry secrets, in
// PostgreSQL's (and pgx's) spelling, matched without regard to case.
var secretParams = []string{"password", "sslpassword"}

// kvSecret matches a secret in a key/value connection string
// ("host=db password='a b' user=u"): a quoted value, with \' and \\
// escapes, or a bare one up to the next space.
var kvSecret = regexp.MustCompile(`(?i)\b(` + strings.Join(secretParams, "|") + `)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

// Redact returns spec with every secret in it replaced, so that it can be
// logged or put in an error: the password of a URL's user info, a
// password or sslpassword query parameter, and password= or sslpassword=
// in a key/value connection string. Anything else is kept as given.
func Redact(spec string) string {
	if !strings.Contains(spec, "://") {
		return kvSecret.ReplaceAllString(spec, "${1}${2}"+redacted)
	}
	u, err := url.Parse(spec)
	if err != nil {
		// Unparseable: show only the scheme, so that nothing secret can leak.
		scheme, _, _ := strings.Cut(spec, "://")
		return scheme + "://(unparseable URL hidden)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for key := range q {
			if isSecretParam(key) {
				q[key] = []string{redacted}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func isSecretParam(key string) bool {
	for _, p := range secretParams {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// isKeyValueDSN reports whether spec is a PostgreSQL key/value connection
// string ("host=db user=mosaic dbname=mosaic ...").
func isKeyValueDSN(spec string) bool {
	if strings.Contains(spec, "://") {
		return false
	}
	for _, field := range strings.Fields(spec) {
		key, _, ok := strings.Cut(field, "=")
		switch strings.ToLower(key) {
		case "host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "service":
			if ok {
				return true
			}
		}
	}
	return false
}
