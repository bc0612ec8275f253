package storage

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"file:./mosaic-data", "file:./mosaic-data"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u:SECRET@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"postgres://u@h/db?password=SECRET", "postgres://u@h/db?password=xxxxx"},
		{"postgres://u@h/db?sslmode=disable&PassWord=SECRET", "postgres://u@h/db?PassWord=xxxxx&sslmode=disable"},
		{"postgresql://u@h/db?sslpassword=SECRET&sslkey=/k.pem", "postgresql://u@h/db?sslkey=%2Fk.pem&sslpassword=xxxxx"},
		{"postgres://u@h/db?pass%77ord=SECRET", "postgres://u@h/db?password=xxxxx"},
		{"postgres://u:SE%40CRET@h/db", "postgres://u:xxxxx@h/db"},
		{"host=h user=u password=SECRET dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='SE CR\\'ET' dbname=db", "host=h password=xxxxx dbname=db"},
		{"host=h PASSWORD = SECRET", "host=h PASSWORD = xxxxx"},
		{"host=h sslpassword=SECRET", "host=h sslpassword=xxxxx"},
		{"postgres://u:SECRET@h/db\x7f", "postgres://(unparseable URL hidden)"},
	} {
		got := Redact(c.in)
		if got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "SECRET") || strings.Contains(got, "SE%40CRET") {
			t.Errorf("Redact(%q) = %q still holds the secret", c.in, got)
		}
	}
}

func TestIsPostgresKeyValue(t *testing.T) {
	for spec, want := range map[string]bool{
		"postgres://h/db":             true,
		"postgresql://h/db":           true,
		"host=h dbname=db":            true,
		"user=u password=p":           true,
		"file:./data":                 false,
		"./data":                      false,
		"/var/lib/mosaic/host=a/data": false,
		"s3://bucket":                 false,
	} {
		if got := IsPostgres(spec); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", spec, got, want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("postgres://u:SECRET@h/db?password=SECRET")
	f.Add("host=h password='SECRET'")
	f.Fuzz(func(t *testing.T, spec string) {
		_ = Redact(spec) // never panics
	})
}
