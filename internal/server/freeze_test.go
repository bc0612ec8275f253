package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
)

// acked is an entry the log acknowledged (201): its index and leaf.
type acked struct {
	index uint64
	leaf  []byte
}

// TestFreezeUnderLoad freezes a log while writers add to it, on both
// stores: on PostgreSQL through the database, as `mosaicd freeze` does
// beside running frontends; on the embedded store by request to the
// server that writes it. Every acknowledged entry is in the final
// checkpoint and readable; every write after is refused with 410 naming
// the successor; the checkpoint served stays the final one; a restarted
// server keeps the freeze.
func TestFreezeUnderLoad(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) { testFreezeUnderLoad(t, store) })
	}
}

func testFreezeUnderLoad(t *testing.T, store string) {
	l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Index: true})
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	storageSpec := "file:" + l.Dir
	if store == "postgres" {
		storageSpec = l.DatabaseURL
	}
	const successor = "https://log.example.com (shard 2026b)"

	var mu sync.Mutex
	var acks []acked
	refused := make(chan string, 16)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				art := make([]byte, 16)
				rand.Read(art)
				code, body := post(t, l.URL+"/api/v2/log/entries", signer.Request(t, art))
				switch code {
				case http.StatusCreated:
					tle, err := l.CheckEntry(body)
					if err != nil {
						t.Errorf("acknowledged entry does not verify: %v", err)
						return
					}
					mu.Lock()
					acks = append(acks, acked{uint64(tle.GetLogIndex()), tle.GetCanonicalizedBody()})
					mu.Unlock()
				case http.StatusGone:
					refused <- string(body)
					return
				case http.StatusServiceUnavailable:
				default:
					t.Errorf("add: %d %s", code, body)
					return
				}
			}
		}()
	}
	// Freeze once the writers are well under way.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 40 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := server.Freeze(ctx, server.FreezeConfig{
		Storage: storageSpec, Key: l.Key, Successor: successor, Log: freezeLogConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every writer is refused within a few seconds of the freeze.
	for range 8 {
		select {
		case msg := <-refused:
			// Refused while being frozen (PostgreSQL's other frontends
			// learn the successor from the record) or after.
			checkRefusal(t, msg, "")
		case <-time.After(20 * time.Second):
			t.Fatal("a writer was not refused after the freeze")
		}
	}
	close(stop)
	wg.Wait()
	final := res.Frozen
	if store == "posix" && !res.ByServer {
		t.Errorf("the embedded store's server holds the writer lock, but Freeze froze the log itself")
	}
	cp := checkFinal(t, l, final.Checkpoint)
	if cp.Size != final.Size {
		t.Fatalf("final checkpoint of size %d, record says %d", cp.Size, final.Size)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) < 40 {
		t.Fatalf("only %d entries acknowledged before the freeze", len(acks))
	}
	checkReads := func(l *mosaictest.Log) {
		t.Helper()
		// Frontends learn of a freeze recorded elsewhere within their
		// watch interval; log info says when.
		for deadline := time.Now().Add(10 * time.Second); ; {
			_, info := get(t, l.URL+"/api/v2/log/info")
			if strings.Contains(info, `"frozen"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("log info does not show the freeze: %s", info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		code, served := get(t, l.URL+"/api/v2/checkpoint")
		if code != http.StatusOK {
			t.Fatalf("checkpoint: %d", code)
		}
		if got := checkFinal(t, l, []byte(served)); got.Size != cp.Size || !bytes.Equal(got.Hash, cp.Hash) {
			t.Fatalf("served checkpoint %d %x, final %d %x", got.Size, got.Hash, cp.Size, cp.Hash)
		}
		for _, a := range acks {
			if a.index >= cp.Size {
				t.Fatalf("acknowledged index %d is not in the final checkpoint of size %d", a.index, cp.Size)
			}
		}
		for _, a := range []acked{acks[0], acks[len(acks)-1]} {
			code, body := get(t, fmt.Sprintf("%s/api/v2/log/proof/inclusion?index=%d&treeSize=%d", l.URL, a.index, cp.Size))
			if code != http.StatusOK {
				t.Fatalf("inclusion proof of %d: %d %s", a.index, code, body)
			}
			code, body = get(t, fmt.Sprintf("%s/shards/main/api/v2/log/entries/%d", l.URL, a.index))
			if code != http.StatusOK || !strings.Contains(body, string(jsonB64(a.leaf))) {
				t.Fatalf("entry %d under /shards/main: %d %s", a.index, code, body)
			}
		}
		code, body := post(t, l.URL+"/api/v2/log/entries", signer.Request(t, []byte("after the freeze")))
		if code != http.StatusGone {
			t.Fatalf("add after the freeze: %d %s, want 410", code, body)
		}
		checkRefusal(t, string(body), successor)
		if code, body := get(t, l.URL+"/readyz"); code != http.StatusOK {
			t.Fatalf("readyz of a frozen log: %d %s", code, body)
		}
	}
	checkReads(l)
	// The freeze survives a restart, on the same store and key.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := l.Server.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	l2 := mosaictest.NewLog(t, mosaictest.Options{Store: store, Dir: l.Dir, DatabaseURL: l.DatabaseURL, Key: l.Key, Index: true})
	checkReads(l2)
	// Freezing again says so and changes nothing.
	again, err := server.Freeze(ctx, server.FreezeConfig{Storage: storageSpec, Key: l.Key, Log: freezeLogConfig()})
	if err != nil || !again.Already || again.Frozen.Size != final.Size {
		t.Fatalf("second freeze: %+v, %v", again, err)
	}
}

func post(t *testing.T, u string, body []byte) (int, []byte) {
	resp, err := http.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// checkRefusal checks a 410's JSON body: it says the log is frozen and
// where entries go instead.
func checkRefusal(t *testing.T, body, successor string) {
	t.Helper()
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("refusal is not JSON: %s", body)
	}
	if e.Code == 0 || !strings.Contains(e.Message, "127.0.0.1") || !strings.Contains(e.Message, "takes no new entries") ||
		!strings.Contains(e.Message, successor) {
		t.Fatalf("refusal %q does not name the log, the freeze and the successor", e.Message)
	}
}

// checkFinal verifies a checkpoint with the log's key.
func checkFinal(t *testing.T, l *mosaictest.Log, raw []byte) *log.Checkpoint {
	t.Helper()
	v, err := note.NewVerifier(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := log.ParseCheckpoint(raw, l.Origin, v)
	if err != nil {
		t.Fatalf("checkpoint %q: %v", raw, err)
	}
	return cp
}

func jsonB64(b []byte) []byte {
	js, _ := json.Marshal(b)
	return bytes.Trim(js, `"`)
}

func freezeLogConfig() tlog.Config {
	return tlog.Config{
		BatchMaxSize: 1, BatchMaxAge: 10 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond,
		CheckpointRepublishInterval: time.Minute, AwaitPoll: 10 * time.Millisecond, PushbackMaxOutstanding: 1,
	}
}
