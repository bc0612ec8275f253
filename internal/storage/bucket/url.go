package bucket

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// bucketName is S3's rule for bucket names: 3-63 lower-case letters,
// digits, dots and hyphens, starting and ending with a letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// prefixPart is one '/'-separated element of a key prefix.
var prefixPart = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ParseURL parses an s3:// URL (serve --tiles, backup --to, restore
// --from): s3://BUCKET[/PREFIX][?endpoint=URL][&region=R][&path_style=BOOL].
// endpoint is the base URL of an S3-compatible service (default: AWS);
// region defaults to the AWS chain's; path_style defaults to true when an
// endpoint is given. Credentials are never part of the URL. Errors quote
// the URL and leave naming the flag to the caller.
func ParseURL(s string) (Config, error) {
	var c Config
	u, err := url.Parse(s)
	if err != nil {
		return c, fmt.Errorf("%q: %w", s, err)
	}
	switch {
	case u.Scheme != "s3":
		return c, fmt.Errorf("%q: want s3://BUCKET/PREFIX?endpoint=…&region=…", s)
	case u.User != nil:
		return c, fmt.Errorf("%q: credentials do not belong in the URL; they come from the AWS environment or config files", redact(u))
	case u.Opaque != "":
		return c, fmt.Errorf("%q: want s3://BUCKET/…, with two slashes", s)
	case u.Fragment != "":
		return c, fmt.Errorf("%q: unexpected #fragment", s)
	case !bucketName.MatchString(u.Host) || strings.Contains(u.Host, ".."):
		return c, fmt.Errorf("%q: bucket name %q is not a valid S3 bucket name (3-63 lower-case letters, digits, '.' and '-')", s, u.Host)
	}
	c.Bucket = u.Host
	if c.Prefix, err = parsePrefix(u.Path); err != nil {
		return c, fmt.Errorf("%q: %w", s, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("%q: query: %w", s, err)
	}
	if err := c.setQuery(q); err != nil {
		return c, fmt.Errorf("%q: %w", s, err)
	}
	return c, nil
}

func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

// parsePrefix checks the key prefix: plain path elements, no empty, "." or
// ".." ones.
func parsePrefix(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > 512 {
		return "", fmt.Errorf("prefix is %d bytes long, limit 512", len(p))
	}
	for _, part := range strings.Split(p, "/") {
		if part == "." || part == ".." || !prefixPart.MatchString(part) {
			return "", fmt.Errorf("prefix element %q: use letters, digits, '.', '_' and '-' (no empty, '.' or '..' elements)", part)
		}
	}
	return p, nil
}

// setQuery reads the query parameters, refusing unknown and repeated ones.
func (c *Config) setQuery(q url.Values) error {
	pathStyle := ""
	for k, vs := range q {
		if len(vs) != 1 {
			return fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil ||
				e.RawQuery != "" || e.Fragment != "" || strings.Trim(e.Path, "/") != "" {
				return fmt.Errorf("endpoint %q: want http(s)://HOST[:PORT], without a path, user or query", v)
			}
			c.Endpoint = strings.TrimSuffix(v, "/")
		case "region":
			if v == "" || len(v) > 64 || strings.ContainsAny(v, " /?#&") {
				return fmt.Errorf("region %q is not a region name", v)
			}
			c.Region = v
		case "path_style":
			pathStyle = v
		default:
			return fmt.Errorf("unknown parameter %q: want endpoint, region or path_style", k)
		}
	}
	c.PathStyle = c.Endpoint != ""
	if pathStyle != "" {
		b, err := strconv.ParseBool(pathStyle)
		if err != nil {
			return errors.New("path_style: want true or false")
		}
		c.PathStyle = b
	}
	return nil
}

// String writes c back as an s3:// URL that ParseURL reads as c (without
// Credentials and Timeout).
func (c Config) String() string {
	u := url.URL{Scheme: "s3", Host: c.Bucket}
	if c.Prefix != "" {
		u.Path = "/" + c.Prefix
	}
	q := url.Values{}
	if c.Endpoint != "" {
		q.Set("endpoint", c.Endpoint)
	}
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	if c.PathStyle != (c.Endpoint != "") {
		q.Set("path_style", strconv.FormatBool(c.PathStyle))
	}
	u.RawQuery = q.Encode()
	return u.String()
}
