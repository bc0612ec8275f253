package bucket

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		in   string
		want Config
	}{
		{"s3://tiles", Config{Bucket: "tiles"}},
		{"s3://tiles/", Config{Bucket: "tiles"}},
		{"s3://my.tiles-1/log/a?region=eu-west-1", Config{Bucket: "my.tiles-1", Prefix: "log/a", Region: "eu-west-1"}},
		{"s3://tiles/p?endpoint=http://127.0.0.1:8333&region=us-east-1",
			Config{Bucket: "tiles", Prefix: "p", Endpoint: "http://127.0.0.1:8333", Region: "us-east-1", PathStyle: true}},
		{"s3://tiles?endpoint=https://s3.example.com/&path_style=false",
			Config{Bucket: "tiles", Endpoint: "https://s3.example.com"}},
		{"s3://tiles?path_style=true", Config{Bucket: "tiles", PathStyle: true}},
	}
	for _, tc := range good {
		got, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		again, err := ParseURL(got.String())
		if err != nil || again != got {
			t.Errorf("ParseURL(%q.String() = %q) = %+v, %v; want %+v", tc.in, got.String(), again, err, got)
		}
	}
	bad := []struct{ in, want string }{
		{"", "want s3://"},
		{"tiles", "want s3://"},
		{"file:./x", "want s3://"},
		{"gs://tiles", "want s3://"},
		{"s3:tiles", "two slashes"},
		{"s3://", "not a valid S3 bucket name"},
		{"s3://Tiles", "not a valid S3 bucket name"},
		{"s3://ab", "not a valid S3 bucket name"},
		{"s3://a..b", "not a valid S3 bucket name"},
		{"s3://-tiles", "not a valid S3 bucket name"},
		{"s3://tiles:9000", "not a valid S3 bucket name"},
		{"s3://key:secret@tiles", "credentials do not belong"},
		{"s3://tiles/a/../b", "prefix element"},
		{"s3://tiles/a//b", "prefix element"},
		{"s3://tiles/a b", "prefix element"},
		{"s3://tiles/" + strings.Repeat("a", 513), "limit 512"},
		{"s3://tiles#x", "fragment"},
		{"s3://tiles?endpoint=127.0.0.1:8333", "endpoint"},
		{"s3://tiles?endpoint=ftp://h", "endpoint"},
		{"s3://tiles?endpoint=http://", "endpoint"},
		{"s3://tiles?endpoint=http://h/path", "endpoint"},
		{"s3://tiles?endpoint=http://u:p@h", "endpoint"},
		{"s3://tiles?region=", "region"},
		{"s3://tiles?region=a/b", "region"},
		{"s3://tiles?path_style=maybe", "path_style"},
		{"s3://tiles?bucket=x", "unknown parameter"},
		{"s3://tiles?region=a&region=b", "given 2 times"},
		{"s3://tiles?%zz", "query"},
	}
	for _, tc := range bad {
		_, err := ParseURL(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParseURLHidesCredentials(t *testing.T) {
	_, err := ParseURL("s3://AKIAEXAMPLE:hunter2@tiles")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v repeats the secret", err)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://tiles/p?endpoint=http://127.0.0.1:8333&region=us-east-1", "s3://a.b/c/d?path_style=false", "s3://x", "s3://tiles?%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			if strings.Contains(s, "@") && strings.Contains(err.Error(), "@") && strings.HasPrefix(s, "s3://") && strings.Contains(err.Error(), "credentials") {
				t.Fatalf("error repeats the user info: %v", err)
			}
			return
		}
		if !bucketName.MatchString(c.Bucket) {
			t.Fatalf("accepted bucket %q", c.Bucket)
		}
		for _, part := range strings.Split(c.Prefix, "/") {
			if c.Prefix != "" && (part == "" || part == "." || part == "..") {
				t.Fatalf("accepted prefix %q", c.Prefix)
			}
		}
		again, err := ParseURL(c.String())
		if err != nil || again != c {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, c, c.String(), again, err)
		}
	})
}
