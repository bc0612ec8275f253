package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultDatabaseServer is the PostgreSQL server used when none is named:
// the one Mosaic's tests use (MOSAIC_TEST_DATABASE_URL's default).
const DefaultDatabaseServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// createDatabase creates a randomly named database on server and returns
// its URL and a function that drops it.
func createDatabase(ctx context.Context, server string) (string, func() error, error) {
	if server == "" {
		server = DefaultDatabaseServer
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" {
		return "", nil, fmt.Errorf("database server %q: want a postgres:// URL", redact(server))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(cctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s is unreachable (%w); start it, or set MOSAIC_TEST_DATABASE_URL "+
			"(or --database-url) to a server the soak may create a database on", redact(server), err)
	}
	defer admin.Close(context.Background())
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "mosaic_soak_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), func() error { return dropDatabase(server, name) }, nil
}

// dropDatabase drops name, closing the connections still open to it.
func dropDatabase(server, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("connecting to drop database %s: %w", name, err)
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
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

// redact hides a password in a URL for messages.
func redact(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
