package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A private cluster keeps committed data across a crash and a clean stop,
// refuses connections while down, and keeps its URL.
func TestClusterCrashAndRestart(t *testing.T) {
	c := NewCluster(t)
	url := c.CreateDatabase("crashme")
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE t (v int); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	c.Crash()
	if err := exec(`SELECT 1`); err == nil {
		t.Fatal("a crashed server accepted a connection")
	}
	c.Start()
	if err := exec(`DO $$ BEGIN IF (SELECT v FROM t) <> 42 THEN RAISE 'lost'; END IF; END $$`); err != nil {
		t.Fatalf("committed row after crash recovery: %v", err)
	}
	c.Stop()
	c.Start()
	if err := exec(`INSERT INTO t VALUES (43)`); err != nil {
		t.Fatalf("after a clean stop and start: %v", err)
	}
}
