package server_test

import (
	"bytes"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/witnesstest"
	"github.com/mosaiclog/mosaic/openapi"
	"github.com/mosaiclog/mosaic/pkg/note"
	fnote "github.com/transparency-dev/formats/note"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// These tests run real C2SP witnesses (litewitness, see witnesstest) in
// front of real logs on both stores: the checkpoints a log publishes, and
// those its adds are proven against, carry the witnesses' cosignatures,
// checked with x/mod's note and the cosignature/v1 verifier of
// transparency-dev/formats, not with Mosaic's code.

// witnessed is a log whose checkpoints the witnesses ws cosign under policy.
type witnessed struct {
	*mosaictest.Log
	ws     []*witnesstest.Witness
	signer *mosaictest.Signer
	n      int // entries added, to make each artifact new
}

// startWitnesses starts n witnesses named w1, w2, ... that know a log of
// origin 127.0.0.1 (every mosaictest log's) signed by key.
func startWitnesses(t *testing.T, key crypto.Signer, n int) []*witnesstest.Witness {
	t.Helper()
	vkey, err := note.VerifierKey("127.0.0.1", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var ws []*witnesstest.Witness
	for i := range n {
		w := witnesstest.Start(t, fmt.Sprintf("w%d", i+1))
		w.AddLog("127.0.0.1", vkey)
		ws = append(ws, w)
	}
	return ws
}

// policy is a witness policy for ws: each by its name, and a group of
// them with threshold n ("all", "any" or a number) as the quorum.
func policy(ws []*witnesstest.Witness, n string) string {
	var b strings.Builder
	var names []string
	for _, w := range ws {
		fmt.Fprintln(&b, w.PolicyLine(w.Name))
		names = append(names, w.Name)
	}
	fmt.Fprintf(&b, "group quorum-group %s %s\nquorum quorum-group\n", n, strings.Join(names, " "))
	return b.String()
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// add posts a new entry and returns the checkpoint its proof is against,
// after checking the entry as a strict verifier would.
func (l *witnessed) add(t *testing.T) []byte {
	t.Helper()
	l.n++
	body := l.signer.Request(t, fmt.Appendf(nil, "witnessed artifact %d of %s", l.n, t.Name()))
	resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: %d %s", resp.StatusCode, b)
	}
	tle, err := l.CheckEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(tle.GetInclusionProof().GetCheckpoint().GetEnvelope())
}

// cosigners returns the names of the witnesses among ws whose valid
// cosignature the checkpoint carries, after checking the log's signature.
func (l *witnessed) cosigners(t *testing.T, cp []byte) []string {
	t.Helper()
	logV, err := note.NewVerifier(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	vs := []sumdbnote.Verifier{logV}
	for _, w := range l.ws {
		v, err := fnote.NewVerifierForCosignatureV1(w.VKey)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	n, err := sumdbnote.Open(cp, sumdbnote.VerifierList(vs...))
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, cp)
	}
	var names []string
	logSigned := false
	for _, s := range n.Sigs {
		if s.Name == l.Origin && s.Hash == logV.KeyHash() {
			logSigned = true
			continue
		}
		names = append(names, s.Name)
	}
	if !logSigned {
		t.Fatalf("checkpoint lacks the log's signature:\n%s", cp)
	}
	slices.Sort(names)
	return names
}

// addUntil adds entries until the checkpoint of one is cosigned by
// exactly the witnesses named want, and returns that checkpoint.
func (l *witnessed) addUntil(t *testing.T, want ...string) []byte {
	t.Helper()
	var got []string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		cp := l.add(t)
		if got = l.cosigners(t, cp); slices.Equal(got, want) {
			return cp
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no checkpoint cosigned by exactly %v within 30 s; the last one by %v", want, got)
	return nil
}

// metric returns the value of the sample of the named metric with the
// given labels (besides log="main"), or -1 if there is none.
func (l *witnessed) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := l.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"log": "main"}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// readyz returns /readyz's status code and its degraded reasons, after
// checking a 200 answer against the API document.
func (l *witnessed) readyz(t *testing.T) (int, []string) {
	t.Helper()
	code, body := get(t, l.URL+"/readyz")
	var r struct {
		Degraded []string `json:"degraded"`
	}
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz: %v: %s", err, body)
		}
		checkReadyzDocumented(t, body)
	}
	return code, r.Degraded
}

// checkReadyzDocumented validates a 200 /readyz body against its schema
// in openapi/openapi.yaml.
func checkReadyzDocumented(t *testing.T, body string) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Paths.Find("/readyz").Get.Responses.Status(http.StatusOK).Value.Content.Get("application/json").Schema.Value
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if err := schema.VisitJSON(v); err != nil {
		t.Errorf("/readyz answered %s, which its documented schema refuses: %v", body, err)
	}
}

// eventually waits (up to 30 s) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func newWitnessed(t *testing.T, store string, key crypto.Signer, ws []*witnesstest.Witness, opts mosaictest.Options) *witnessed {
	t.Helper()
	opts.Store, opts.Key = store, key
	return &witnessed{Log: mosaictest.NewLog(t, opts), ws: ws, signer: mosaictest.NewSigner(t, mosaictest.ECDSAP256)}
}

// A 2-of-2 policy: every checkpoint carries both cosignatures. With one
// witness stopped mid-run adds keep working, their checkpoints carry the
// other's cosignature only, and the metrics and /readyz say so; once it is
// back (behind: it answers 409 with its size, and is asked again with a
// proof from there) both cosign again.
func TestWitnessAllOfTwo(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			key := newKey(t)
			ws := startWitnesses(t, key, 2)
			l := newWitnessed(t, store, key, ws, mosaictest.Options{WitnessPolicy: policy(ws, "all")})

			cp := l.addUntil(t, "w1", "w2")
			_, published := get(t, l.URL+"/api/v2/checkpoint")
			if got := l.cosigners(t, []byte(published)); !slices.Equal(got, []string{"w1", "w2"}) {
				t.Errorf("GET /api/v2/checkpoint is cosigned by %v, want w1 and w2:\n%s", got, published)
			}
			if l.metric(t, "mosaic_witness_requests_total", "witness", "w2", "outcome", "cosigned") < 1 ||
				l.metric(t, "mosaic_witness_request_duration_seconds", "witness", "w1") < 1 {
				t.Error("no cosigned requests or latencies counted")
			}
			if got := l.metric(t, "mosaic_witness_cosigned_size_entries", "witness", "w1"); got < 1 {
				t.Errorf("w1's cosigned size is %v after cosigning %s", got, cp)
			}
			eventually(t, "the quorum is seen met", func() bool { return l.metric(t, "mosaic_witness_quorum_met") == 1 })
			if code, degraded := l.readyz(t); code != http.StatusOK || len(degraded) > 0 {
				t.Errorf("/readyz with both witnesses cosigning: %d %v", code, degraded)
			}

			ws[1].Stop()
			l.addUntil(t, "w1")
			eventually(t, "the missing quorum is seen", func() bool { return l.metric(t, "mosaic_witness_quorum_met") == 0 })
			if got := l.metric(t, "mosaic_witness_healthy", "witness", "w2"); got != 0 {
				t.Errorf("mosaic_witness_healthy{witness=w2} = %v with w2 stopped", got)
			}
			if l.metric(t, "mosaic_witness_requests_total", "witness", "w2", "outcome", "unreachable") < 1 {
				t.Error("no unreachable requests to w2 counted")
			}
			code, degraded := l.readyz(t)
			if code != http.StatusOK || !strings.Contains(strings.Join(degraded, "\n"), "w2") {
				t.Errorf("/readyz with w2 stopped (failing open): %d %q, want 200 naming w2 as degraded", code, degraded)
			}

			ws[1].Restart()
			l.addUntil(t, "w1", "w2")
			if l.metric(t, "mosaic_witness_requests_total", "witness", "w2", "outcome", "behind") < 1 {
				t.Error("w2 came back behind, but no 409 with its size was counted")
			}
			eventually(t, "the quorum is seen met again", func() bool { return l.metric(t, "mosaic_witness_quorum_met") == 1 })
			eventually(t, "/readyz is no longer degraded", func() bool { code, d := l.readyz(t); return code == 200 && len(d) == 0 })
		})
	}
}

// A 1-of-2 policy: with one witness stopped the quorum is still met; the
// failing witness shows in the metrics and as degraded in /readyz.
func TestWitnessAnyOfTwo(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			key := newKey(t)
			ws := startWitnesses(t, key, 2)
			l := newWitnessed(t, store, key, ws, mosaictest.Options{WitnessPolicy: policy(ws, "1")})
			l.add(t)
			ws[0].Stop()
			l.addUntil(t, "w2")
			eventually(t, "w1 is seen failing", func() bool { return l.metric(t, "mosaic_witness_healthy", "witness", "w1") == 0 })
			if got := l.metric(t, "mosaic_witness_quorum_met"); got != 1 {
				t.Errorf("mosaic_witness_quorum_met = %v with 1 of 2 required and w2 cosigning", got)
			}
			code, degraded := l.readyz(t)
			if code != http.StatusOK || len(degraded) != 1 || !strings.Contains(degraded[0], "witnesses failing: w1 (unreachable") {
				t.Errorf("/readyz with w1 stopped: %d %q, want 200 and w1 failing", code, degraded)
			}
		})
	}
}

// Failing closed, a checkpoint without the quorum is not published: adds
// time out (their entries kept) and /readyz says not ready; once the
// witness is back the timed-out entry is in the log, proven under a
// cosigned checkpoint.
func TestWitnessFailClosed(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			key := newKey(t)
			ws := startWitnesses(t, key, 1)
			l := newWitnessed(t, store, key, ws, mosaictest.Options{WitnessPolicy: policy(ws, "all"),
				WitnessTimeout: time.Second, WitnessFailClosed: true, AddTimeout: 3 * time.Second})
			l.addUntil(t, "w1")
			ws[0].Stop()
			body := l.signer.Request(t, []byte("held back"))
			resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusGatewayTimeout {
				t.Fatalf("add with the only witness stopped, failing closed: %d %s, want 504", resp.StatusCode, msg)
			}
			eventually(t, "/readyz says the quorum is unreachable", func() bool {
				code, body := get(t, l.URL+"/readyz")
				return code == http.StatusServiceUnavailable && strings.Contains(body, "witness quorum unreachable")
			})
			ws[0].Restart()
			// Retrying after a 504 is safe; on a busy machine the first
			// retry may time out too.
			eventually(t, "the entry is proven again", func() bool {
				resp, err = http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				msg, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode != http.StatusGatewayTimeout
			})
			if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Mosaic-Duplicate") == "" {
				t.Fatalf("the timed-out entry again: %d %q %s, want 201 naming it a duplicate", resp.StatusCode, resp.Header.Get("X-Mosaic-Duplicate"), msg)
			}
			tle, err := l.CheckEntry(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.cosigners(t, []byte(tle.GetInclusionProof().GetCheckpoint().GetEnvelope())); !slices.Equal(got, []string{"w1"}) {
				t.Errorf("the checkpoint after the witness came back is cosigned by %v", got)
			}
			eventually(t, "/readyz is ready again", func() bool { code, _ := get(t, l.URL+"/readyz"); return code == http.StatusOK })
		})
	}
}

// A second log with the same origin and key but other entries (a split
// view) is refused by the witness that cosigned the first: its checkpoints
// carry no cosignature, it counts the refusals and says so in /readyz,
// and the first log is still cosigned.
func TestWitnessRefusesInconsistentLog(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			key := newKey(t)
			ws := startWitnesses(t, key, 1)
			opts := mosaictest.Options{WitnessPolicy: policy(ws, "all")}
			first := newWitnessed(t, store, key, ws, opts)
			first.addUntil(t, "w1")
			first.add(t)

			fork := newWitnessed(t, store, key, ws, opts)
			for range 3 {
				if got := fork.cosigners(t, fork.add(t)); len(got) > 0 {
					t.Fatalf("the fork's checkpoint is cosigned by %v", got)
				}
			}
			refused := func() float64 {
				return fork.metric(t, "mosaic_witness_requests_total", "witness", "w1", "outcome", "inconsistent") +
					fork.metric(t, "mosaic_witness_requests_total", "witness", "w1", "outcome", "ahead")
			}
			if refused() < 1 || fork.metric(t, "mosaic_witness_requests_total", "witness", "w1", "outcome", "cosigned") > 0 {
				t.Errorf("the fork counted %v refusals and %v cosignatures", refused(),
					fork.metric(t, "mosaic_witness_requests_total", "witness", "w1", "outcome", "cosigned"))
			}
			eventually(t, "the fork is seen without its quorum", func() bool { return fork.metric(t, "mosaic_witness_quorum_met") == 0 })
			code, degraded := fork.readyz(t)
			if code != http.StatusOK || !strings.Contains(strings.Join(degraded, "\n"), "without the witness quorum") {
				t.Errorf("the fork's /readyz: %d %q, want degraded", code, degraded)
			}
			first.addUntil(t, "w1")
		})
	}
}
