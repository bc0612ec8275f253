package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAlertRules checks the rules with promtool and runs their unit tests
// (prometheus/alerts_test.yaml), and that a rule whose expression is
// broken is refused, so that the check can fail.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", promtoolVersion)
	run(t, promtool, "check", "rules", "prometheus/alerts.yaml")
	run(t, promtool, "test", "rules", "prometheus/alerts_test.yaml")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	data, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bad, bytes.Replace(data, []byte("> 300"), []byte("> > 300"), 1), 0o644)
	if out, err := exec.Command(promtool, "check", "rules", bad).CombinedOutput(); err == nil {
		t.Errorf("promtool accepted a broken expression:\n%s", out)
	}
}

// TestDashboard checks that the Grafana dashboard is valid JSON with the
// panels deploy/README.md lists, each with at least one query, and unique
// panel ids. (TestMetricNames checks the metric names in the queries.)
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/mosaic.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string
		Title  string
		Panels []struct {
			ID      int
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard lacks uid or title")
	}
	ids := map[int]bool{}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID], titles[p.Title] = true, true
	}
	for _, want := range []string{"Adds per second", "Add → proof latency", "Tree size", "Checkpoint age",
		"Search index lag", "Duplicate submissions by mode", "4xx by route and code"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}
