package witnesstest

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// A witness starts, prints its key, answers HTTP, survives a restart with
// the same key, and takes a log with witnessctl.
func TestWitness(t *testing.T) {
	w := Start(t, "witness.example")
	if !strings.HasPrefix(w.VKey, "witness.example+") {
		t.Fatalf("vkey %q", w.VKey)
	}
	resp, err := http.Get(w.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, vkey, err := note.GenerateKey(rand.Reader, "log.example")
	if err != nil {
		t.Fatal(err)
	}
	w.AddLog("log.example", vkey)
	key := w.VKey
	w.Stop()
	if _, err := http.Get(w.URL + "/"); err == nil {
		t.Error("the witness answers after Stop")
	}
	w.Restart()
	if w.VKey != key {
		t.Errorf("the key changed across a restart: %s, then %s", key, w.VKey)
	}
}
