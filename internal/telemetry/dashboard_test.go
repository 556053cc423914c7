package telemetry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// metricName finds the metric names a PromQL expression selects: identifiers of the
// project's metrics and of the Go runtime and process collectors.
var metricName = regexp.MustCompile(`\b(?:wrpckv|go|process)_[a-zA-Z0-9_]+\b`)

type dashboardPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // of collapsed rows
}

// Every panel of every dashboard in deploy/grafana queries only metrics the gateway and
// provider export; a renamed or dropped metric fails here instead of showing an empty panel.
func TestDashboardsQueryExportedMetrics(t *testing.T) {
	files, err := filepath.Glob("../../deploy/grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in deploy/grafana (%v)", err)
	}
	exported := New().Names()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title  string           `json:"title"`
			UID    string           `json:"uid"`
			Panels []dashboardPanel `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d.Title == "" || d.UID == "" {
			t.Errorf("%s: no title or uid", file)
		}
		var walk func([]dashboardPanel)
		queried := 0
		walk = func(panels []dashboardPanel) {
			for _, p := range panels {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", file, p.Title)
				}
				for _, tg := range p.Targets {
					names := metricName.FindAllString(tg.Expr, -1)
					if len(names) == 0 {
						t.Errorf("%s: panel %q: query %q names no metric", file, p.Title, tg.Expr)
					}
					for _, n := range names {
						queried++
						if !exported[n] {
							t.Errorf("%s: panel %q queries %s, which is not exported", file, p.Title, n)
						}
					}
				}
			}
		}
		walk(d.Panels)
		if queried == 0 {
			t.Errorf("%s queries nothing", file)
		}
	}
}
