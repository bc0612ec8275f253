package idtile

import (
	"bytes"
	"compress/gzip"
	"reflect"
	"strings"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

func records() []Record {
	recs := make([]Record, Width)
	for i := range recs {
		recs[i] = Record{Digest: "sha256:" + strings.Repeat("ab", 32), Key: "sha256:" + strings.Repeat("cd", 32)}
	}
	recs[7] = Record{Digest: "sha512:00", Key: "sha256:ff", SANs: []string{"dev@example.com", "https://github.com/o/r/.github/workflows/r.yml@refs/heads/main"}, Issuer: "https://token.actions.githubusercontent.com"}
	recs[9] = Record{}
	return recs
}

func TestRoundTrip(t *testing.T) {
	data, err := Marshal(records())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, records()) {
		t.Fatalf("round trip changed the records")
	}
}

func TestPath(t *testing.T) {
	for _, n := range []uint64{0, 1, 999, 1000, 1234067, 1 << 40} {
		want := strings.Replace(layout.EntriesPath(n, 0), "tile/entries/", "tile/identities/", 1)
		if got := Path(n); got != want {
			t.Errorf("Path(%d) = %q, want %q", n, got, want)
		}
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestParseRefuses(t *testing.T) {
	line := `{"digest":"sha256:00"}` + "\n"
	full := strings.Repeat(line, Width)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte(full), "not gzip"},
		{"empty", gz(""), "newline"},
		{"too few", gz(strings.Repeat(line, Width-1)), "255 records"},
		{"too many", gz(full + line), "more than 256"},
		{"no final newline", gz(strings.TrimSuffix(full, "\n")), "newline"},
		{"blank line", gz("\n" + full[len(line):]), "not a JSON object"},
		{"array", gz("[]\n" + full[len(line):]), "not a JSON object"},
		{"unknown field", gz(`{"digest":"x","extra":1}` + "\n" + full[len(line):]), "unknown field"},
		{"trailing text", gz(`{"digest":"x"} {}` + "\n" + full[len(line):]), "after the object"},
		{"carriage return", gz(`{"digest":"x"}` + "\r\n" + full[len(line):]), "after the object"},
		{"two lines", gz(`{"digest":` + "\n" + `"x"}` + "\n" + full[2*len(line):]), "more than one line"},
		{"wrong type", gz(`{"sans":"a"}` + "\n" + full[len(line):]), "cannot unmarshal"},
		{"empty SAN", gz(`{"sans":[""]}` + "\n" + full[len(line):]), "empty SAN"},
		{"bomb", gz(strings.Repeat(" ", MaxSize+10)), "more than"},
	} {
		if _, err := Parse(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Marshal(records()[:10]); err == nil {
		t.Error("Marshal of 10 records succeeded")
	}
	bad := records()
	bad[3].SANs = []string{"\xff"}
	if _, err := Marshal(bad); err == nil {
		t.Error("Marshal of a non-UTF-8 SAN succeeded")
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Marshal(records())
	f.Add(good)
	f.Add(gz(`{"digest":"x"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Marshal(recs)
		if err != nil {
			t.Fatalf("parsed records do not marshal: %v", err)
		}
		back, err := Parse(again)
		if err != nil || !reflect.DeepEqual(back, recs) {
			t.Fatalf("re-marshalled records parse to %v, %v", back, err)
		}
	})
}
