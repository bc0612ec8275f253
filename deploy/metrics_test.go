package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/witnesstest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"sigs.k8s.io/yaml"
)

// TestMetricNames requires every mosaic_* metric that the alert rules and
// the Grafana dashboard use to be one a running mosaicd exposes: a
// PostgreSQL log with the keyless services, the search index and a real
// witness, and an embedded (file) log served over TLS for the disk and
// certificate metrics, each driven
// through adds, a duplicate, refusals, a pushback and /readyz so that
// labelled series exist.
func TestMetricNames(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers")
	}
	used := map[string][]string{}
	for _, name := range alertMetrics(t) {
		used[name] = append(used[name], "prometheus/alerts.yaml")
	}
	for _, name := range dashboardMetrics(t) {
		used[name] = append(used[name], "grafana/mosaic.json")
	}
	if len(used) < 15 {
		t.Fatalf("found only %d metric names in the alerts and the dashboard", len(used))
	}

	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.VerifierKey("127.0.0.1", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	w := witnesstest.Start(t, "w1")
	w.AddLog("127.0.0.1", vkey)
	pg := mosaictest.NewLog(t, mosaictest.Options{Store: "postgres", Key: key, Keyless: true, Index: true,
		MaxInflightAdds: 1, WitnessPolicy: w.PolicyLine("w1") + "\nquorum w1\n"})
	file := mosaictest.NewLog(t, mosaictest.Options{Index: true, TLS: true})
	exposed := map[string]bool{}
	for _, l := range []*mosaictest.Log{pg, file} {
		exercise(t, l)
		for n := range scrape(t, l) {
			exposed[n] = true
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !exposed[n] {
			t.Errorf("%s (used in %s) is not among the metrics mosaicd exposes", n, strings.Join(used[n], ", "))
		}
	}
}

// exercise drives l so that its labelled series appear: adds (several at
// once, with one add allowed in flight, for a pushback), a duplicate, a
// malformed add, refused CA and TSA requests, /readyz.
func exercise(t *testing.T, l *mosaictest.Log) {
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	post := func(path string, body []byte) int {
		resp, err := l.HTTPClient().Post(l.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	first := s.Request(t, []byte("artifact 0"))
	if code := post("/api/v2/log/entries", first); code != http.StatusCreated {
		t.Fatalf("add: %d", code)
	}
	post("/api/v2/log/entries", first)           // duplicate
	post("/api/v2/log/entries", []byte("{}"))    // 400
	post("/api/v2/signingCert", []byte("{}"))    // CA refusal (when keyless)
	post("/api/v1/timestamp", []byte("garbage")) // TSA refusal (when keyless)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { post("/api/v2/log/entries", s.Request(t, fmt.Appendf(nil, "artifact %d", i+1))) })
	}
	wg.Wait()
	resp, err := l.HTTPClient().Get(l.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// scrape returns the metric names l's /metrics exposes, histograms' and
// summaries' series names included.
func scrape(t *testing.T, l *mosaictest.Log) map[string]bool {
	resp, err := l.HTTPClient().Get(l.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = true
		if f[3] == "histogram" || f[3] == "summary" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f[2]+s] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

var metricName = regexp.MustCompile(`\bmosaic_[a-z0-9_]+`)

// alertMetrics returns the metric names in the rules' expressions.
func alertMetrics(t *testing.T) []string {
	data, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, metricName.FindAllString(r.Expr, -1)...)
		}
	}
	return out
}

// dashboardMetrics returns the metric names in the dashboard's queries
// (panel targets and template variables).
func dashboardMetrics(t *testing.T) []string {
	data, err := os.ReadFile("grafana/mosaic.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Query any }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/mosaic.json: %v", err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, metricName.FindAllString(tg.Expr, -1)...)
		}
	}
	for _, v := range d.Templating.List {
		if s, ok := v.Query.(string); ok {
			out = append(out, metricName.FindAllString(s, -1)...)
		}
	}
	return out
}
