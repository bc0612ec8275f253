package tlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

func body(origin string, size uint64, seed string) []byte {
	h := sha256.Sum256([]byte(seed))
	return (&log.Checkpoint{Origin: origin, Size: size, Hash: h[:]}).Marshal()
}

func TestParseRecordRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"no size", "example.com\n", "not a checkpoint body"},
		{"size not a number", "example.com\nten\nAAAA\n", "not a checkpoint body"},
		{"root not base64", "example.com\n10\n!!!\n", "not a checkpoint body"},
		{"short root", "example.com\n10\nAAAA\n", "root hash has 3 bytes"},
		{"signature after the body", string(body("example.com", 3, "a")) + "\n— example.com AAAA\n", "extension lines or signatures"},
		{"too large", strings.Repeat("x", 70<<10), "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRecord([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseRecord(%q) = %v, want an error containing %q", tc.data, err, tc.want)
			}
		})
	}
	cp, err := ParseRecord(body("example.com", 7, "a"))
	if err != nil || cp.Size != 7 || cp.Origin != "example.com" {
		t.Fatalf("a valid body: %+v %v", cp, err)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(body("example.com", 7, "a"))
	f.Add([]byte("example.com\n0\n\n"))
	f.Add([]byte("a\n18446744073709551615\nAAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := ParseRecord(data)
		if err != nil {
			return
		}
		// What parses is a body the record could have written: it parses
		// again to the same checkpoint.
		again, err := ParseRecord(cp.Marshal())
		if err != nil || again.Size != cp.Size || again.Origin != cp.Origin || !bytes.Equal(again.Hash, cp.Hash) {
			t.Fatalf("%q parsed, but its re-encoding does not: %v", data, err)
		}
	})
}

func TestRecordAdvance(t *testing.T) {
	dir := t.TempDir()
	rec, err := OpenRecord(filepath.Join(dir, "data.published"))
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := rec.Load(); err != nil || cp != nil {
		t.Fatalf("a new record: %v %v, want nothing recorded", cp, err)
	}
	steps := []struct {
		name   string
		body   []byte
		refuse string // "" = accepted
		size   uint64 // recorded afterwards
	}{
		{"first", body("example.com", 5, "five"), "", 5},
		{"the same again", body("example.com", 5, "five"), "", 5},
		{"larger", body("example.com", 9, "nine"), "", 9},
		{"with an extension line", append(body("example.com", 10, "ten"), "ext\n"...), "", 10},
		{"smaller", body("example.com", 4, "four"), "smaller than the recorded size 10", 10},
		{"same size, other root", body("example.com", 10, "other"), "another root hash", 10},
		{"another log", body("other.example", 20, "x"), `records the log "example.com"`, 10},
		{"not a checkpoint", []byte("hello"), "not a checkpoint", 10},
	}
	for _, st := range steps {
		err := rec.Advance(st.body)
		switch {
		case st.refuse == "" && err != nil:
			t.Fatalf("%s: refused: %v", st.name, err)
		case st.refuse != "" && (err == nil || !strings.Contains(err.Error(), st.refuse)):
			t.Fatalf("%s: got %v, want a refusal containing %q", st.name, err, st.refuse)
		case st.refuse != "" && strings.Contains(st.refuse, "recorded") && !errors.Is(err, ErrRecordRefused):
			t.Fatalf("%s: %v is not ErrRecordRefused", st.name, err)
		}
		cp, err := rec.Load()
		if err != nil || cp.Size != st.size {
			t.Fatalf("%s: recorded %+v %v, want size %d", st.name, cp, err, st.size)
		}
	}
	raw, _ := os.ReadFile(rec.Path())
	if want := body("example.com", 10, "ten"); !bytes.Equal(raw, want) {
		t.Fatalf("the record holds %q, want only the body %q", raw, want)
	}
	// No temporary files are left beside it.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Two processes' worth of writers advancing one record concurrently leave
// it at the largest checkpoint: it only moves forward.
func TestRecordAdvanceConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec")
	var wg sync.WaitGroup
	for w := range 2 {
		rec, err := OpenRecord(path) // one Record each, as two processes have
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := uint64(1); i <= 50; i++ {
				err := rec.Advance(body("example.com", i*2+uint64(w), string(rune(i*2+uint64(w)))))
				if err != nil && !errors.Is(err, ErrRecordRefused) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rec, _ := OpenRecord(path)
	cp, err := rec.Load()
	if err != nil || cp.Size != 101 {
		t.Fatalf("recorded %+v %v, want size 101", cp, err)
	}
}

func TestOpenRecordRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenRecord(filepath.Join(dir, "missing", "rec")); err == nil || !strings.Contains(err.Error(), "its directory") {
		t.Errorf("a record in a missing directory: %v", err)
	}
	if _, err := OpenRecord(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory as record: %v", err)
	}
	if _, err := OpenRecord(""); err == nil {
		t.Error("an empty path was accepted")
	}
}

// The signer records before it signs, and signs nothing the record
// refuses: no checkpoint the record does not cover can be published.
func TestRecordingSigner(t *testing.T) {
	skey, _, err := sumdbnote.GenerateKey(nil, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := sumdbnote.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := OpenRecord(filepath.Join(t.TempDir(), "rec"))
	if err != nil {
		t.Fatal(err)
	}
	s := recordingSigner{Signer: inner, record: rec}
	if sig, err := s.Sign(body("example.com", 8, "eight")); err != nil || len(sig) == 0 {
		t.Fatalf("signing size 8: %v", err)
	}
	if cp, _ := rec.Load(); cp == nil || cp.Size != 8 {
		t.Fatalf("after signing size 8 the record holds %+v", cp)
	}
	if sig, err := s.Sign(body("example.com", 7, "seven")); err == nil || sig != nil {
		t.Fatalf("signed size 7 after 8: %x %v", sig, err)
	}
}
