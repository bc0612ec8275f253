// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// Tests run against a real server, named by the environment variable
// MOSAIC_TEST_DATABASE_URL (default DefaultURL). Each call to NewDatabase
// creates a randomly named database on that server and drops it when the test
// ends, so tests never see each other's data and may run in parallel.
//
// When the server cannot be reached the test is skipped with a hint on how to
// start one, except under CI (CI=true), where it fails: CI must never pass
// by skipping the PostgreSQL tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultURL is the server used when MOSAIC_TEST_DATABASE_URL is unset: a
// local PostgreSQL with trust authentication, as on a developer machine.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// EnvURL names the environment variable holding the server's URL. The URL's
// database is only used to connect and create or drop test databases.
const EnvURL = "MOSAIC_TEST_DATABASE_URL"

// startHint tells a developer how to get a server on the machines Mosaic is
// developed on (Debian packages, no systemd).
const startHint = "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
	"(or point " + EnvURL + " at a server)"

// ServerURL returns the URL of the server tests create databases on.
func ServerURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database with a random name on the test server
// and returns a URL for it. The database is dropped (its connections closed
// first) when t and its subtests finish. The server being unreachable skips
// t, or fails it when the environment variable CI is "true".
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		unreachable(t, server, err)
		return ""
	}
	defer admin.Close(context.Background())

	name := "mosaic_test_" + randomSuffix(t)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, server, name) })

	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" {
		t.Fatalf("pgtest: %s must be a postgres:// URL, got %q", EnvURL, server)
	}
	u.Path = "/" + name
	return u.String()
}

// unreachable skips or fails t because the server did not answer.
func unreachable(t testing.TB, server string, err error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: PostgreSQL at %s is unreachable (%v); %s", redact(server), err, startHint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// dropDatabase removes a test database, closing any connections still open
// to it (a test's pools may outlive it by a moment).
func dropDatabase(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Errorf("pgtest: connecting to drop database %s: %v", name, err)
		return
	}
	defer admin.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42601" {
		// Servers before PostgreSQL 13 lack WITH (FORCE).
		_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		if err == nil {
			_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident)
		}
	}
	if err != nil {
		t.Errorf("pgtest: dropping database %s: %v", name, err)
	}
}

// randomSuffix returns 16 random hex digits.
func randomSuffix(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random database name: %v", err)
	}
	return hex.EncodeToString(b[:])
}

// redact hides a password in a URL for messages.
func redact(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// CopyDatabase makes a copy of the database at dbURL (created by
// NewDatabase on the test server), as a snapshot of it at this moment,
// and returns the copy's URL; the copy is dropped when t finishes. Nothing
// may be connected to the database meanwhile (PostgreSQL copies it as a
// template).
func CopyDatabase(t testing.TB, dbURL string) string {
	t.Helper()
	src, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	server := ServerURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		unreachable(t, server, err)
		return ""
	}
	defer admin.Close(context.Background())
	name := "mosaic_test_" + randomSuffix(t)
	from := strings.TrimPrefix(src.Path, "/")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{from}.Sanitize()); err != nil {
		t.Fatalf("pgtest: copying database %s: %v", from, err)
	}
	t.Cleanup(func() { dropDatabase(t, server, name) })
	src.Path = "/" + name
	return src.String()
}
