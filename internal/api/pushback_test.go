package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// When integration stalls and unintegrated entries pile up past the bound,
// writes get 503 with Retry-After and a message saying why; once
// integration resumes, the log recovers and the accepted entries are proven.
func TestPushbackPostgres(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Store: "postgres", PushbackMaxOutstanding: 4})
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	tx := stallIntegration(t, l.DatabaseURL)

	// Send one request at a time and wait until it is sequenced (or refused),
	// so each forms its own batch: the sixth batch finds 5 entries waiting,
	// more than the bound of 4, whatever the batcher's timing.
	const n = 12
	var mu sync.Mutex
	statuses := map[int]int{}
	var pushback string
	var wg sync.WaitGroup
	sequenced := func() int64 {
		var next int64
		if err := tx.QueryRow(t.Context(), "SELECT next FROM seq_coord").Scan(&next); err != nil {
			t.Fatal(err)
		}
		return next
	}
	for i := range n {
		body := signer.Request(t, []byte(fmt.Sprintf("pushback %d", i)))
		before := statuses503(&mu, statuses)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable {
				if resp.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After: %s", b)
				}
				pushback = string(b)
			}
		}()
		waitFor(t, func() bool { return sequenced() > int64(i) || statuses503(&mu, statuses) > before })
	}
	// Release the lock once pushback has been seen, so the rest complete.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return statuses[http.StatusServiceUnavailable] > 0 })
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if statuses[http.StatusCreated] == 0 || statuses[http.StatusServiceUnavailable] == 0 || statuses[http.StatusCreated]+statuses[http.StatusServiceUnavailable] != n {
		t.Fatalf("statuses %v: want some 201 and some 503, nothing else", statuses)
	}
	if e := errorBody(t, []byte(pushback)); e.Code != 14 || !strings.Contains(e.Message, "at capacity") {
		t.Errorf("pushback body %+v", e)
	}
	cp, _, err := l.Log.Checkpoint(t.Context())
	if err != nil || cp.Size != uint64(statuses[http.StatusCreated]) {
		t.Errorf("log size %d, want the %d accepted entries (%v)", cp.Size, statuses[http.StatusCreated], err)
	}
}

func statuses503(mu *sync.Mutex, statuses map[int]int) int {
	mu.Lock()
	defer mu.Unlock()
	return statuses[http.StatusServiceUnavailable]
}

// An entry that is stored but not covered by a checkpoint within the add
// timeout gets 504 naming its index; the retry after integration resumes
// returns the same index with a proof.
func TestStoredButUnpublishedPostgres(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Store: "postgres", AddTimeout: 500 * time.Millisecond})
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	tx := stallIntegration(t, l.DatabaseURL)
	body := signer.Request(t, []byte("stored, not yet published"))
	resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get("X-Log-Index") != "0" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d X-Log-Index %q Retry-After %q: %s, want 504 naming index 0",
			resp.StatusCode, resp.Header.Get("X-Log-Index"), resp.Header.Get("Retry-After"), b)
	}
	if e := errorBody(t, b); e.Code != 4 || !strings.Contains(e.Message, "stored at index 0") {
		t.Errorf("504 body %+v", e)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A client that obeys the 504 retries; on a loaded machine a retry may
	// itself time out once more before the checkpoint lands.
	for attempt := 0; ; attempt++ {
		resp, err = http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || attempt == 20 {
			break
		}
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(api.DuplicateHeader) != "0" {
		t.Fatalf("retry got %d %s %q: %s, want 201 with the entry at index 0", resp.StatusCode, api.DuplicateHeader, resp.Header.Get(api.DuplicateHeader), b)
	}
}

// stallIntegration holds the integration row lock in a transaction until
// the caller rolls it back (or the test ends), so nothing gets integrated.
func stallIntegration(t *testing.T, databaseURL string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM int_coord FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	return tx
}
