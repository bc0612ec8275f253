package backup_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/backup"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// validManifest is the manifest of a real one-entry backup.
func validManifest(t *testing.T) []byte {
	t.Helper()
	lg := mosaictest.NewLog(t, mosaictest.Options{})
	if _, err := lg.Log.Add(t.Context(), []byte("an entry"), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := backup.Backup(t.Context(), backup.BackupConfig{Log: openLog(t, "file:"+lg.Dir), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := backup.ParseManifest(data); err != nil {
		t.Fatalf("the manifest Backup wrote does not parse: %v", err)
	}
	return data
}

func TestParseManifestRefuses(t *testing.T) {
	valid := validManifest(t)
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	other, _ := note.GenerateKey(note.Ed25519)
	otherPEM, _ := note.MarshalPublicKey(other.Public())
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "not a backup manifest"},
		{"not JSON", "checkpoint", "not a backup manifest"},
		{"two objects", string(valid) + "{}", "data after the JSON object"},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), "unknown field"},
		{"another format", edit(func(m map[string]any) { m["format"] = "mosaic-backup/9" }), `backup format "mosaic-backup/9"`},
		{"no origin", edit(func(m map[string]any) { m["origin"] = "" }), "origin"},
		{"bad key", edit(func(m map[string]any) { m["public_key"] = "nope" }), "public_key"},
		{"another key", edit(func(m map[string]any) { m["public_key"] = string(otherPEM) }), "checkpoint"},
		{"size not the checkpoint's", edit(func(m map[string]any) { m["size"] = 2 }), "the manifest says size 2"},
		{"root not the checkpoint's", edit(func(m map[string]any) { m["root_hash"] = "AAAA" }), "the manifest says"},
		{"tampered checkpoint", edit(func(m map[string]any) {
			m["checkpoint"] = strings.Replace(m["checkpoint"].(string), "\n1\n", "\n2\n", 1)
		}), "checkpoint"},
		{"key elsewhere", edit(func(m map[string]any) { m["signing_key"] = "../../etc/key" }), "signing_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := backup.ParseManifest([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":"mosaic-backup/1","origin":"example.com","size":0}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, v, err := backup.ParseManifest(data)
		if err == nil && (m == nil || v == nil) {
			t.Fatal("accepted without a manifest and verifier")
		}
	})
}

func TestParseIdentity(t *testing.T) {
	key, _ := note.GenerateKey(note.Ed25519)
	vkey, _ := note.VerifierKey("example.com", key.Public())
	ecKey, _ := note.GenerateKey(note.ECDSAP256)
	ecPEM, _ := note.MarshalPublicKey(ecKey.Public())
	if id, err := backup.ParseIdentity(vkey, "", nil); err != nil || id.Origin != "example.com" {
		t.Fatalf("an Ed25519 vkey: %+v %v", id, err)
	}
	if id, err := backup.ParseIdentity("", "example.com", ecPEM); err != nil || len(id.PublicKey) == 0 {
		t.Fatalf("an ECDSA PEM key: %+v %v", id, err)
	}
	for _, tc := range []struct {
		name, vkey, origin string
		pem                []byte
		want               string
	}{
		{"nothing", "", "", nil, "no log verifier"},
		{"both", vkey, "", ecPEM, "not both"},
		{"garbage vkey", "example.com+zz", "", nil, "verifier key"},
		{"PEM without origin", "", "", ecPEM, "origin"},
		{"bad PEM", "", "example.com", []byte("nope"), "PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.ParseIdentity(tc.vkey, tc.origin, tc.pem)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseIdentity(f *testing.F) {
	f.Add("example.com+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "")
	f.Add("a+b+c", "x")
	f.Fuzz(func(t *testing.T, vkey, origin string) {
		id, err := backup.ParseIdentity(vkey, origin, nil)
		if err == nil && (id.Verifier == nil || len(id.PublicKey) == 0 || id.Origin == "") {
			t.Fatalf("accepted %q without a full identity", vkey)
		}
	})
}
