package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "deploy/grafana/dashboards/hookstream.json"

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"` // a string, or {query, refId}
	Definition string `json:"definition"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	readJSON(t, dashboardFile, &d)
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no uid or no panels", dashboardFile)
	}
	return d
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func (d dashboard) variable(name string) variable {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v
		}
	}
	return variable{}
}

// query is one PromQL expression of the dashboard and where it sits.
type query struct{ where, expr string }

// queries are every panel target's expression and every query variable's
// PromQL (label_values(metric, label) is checked as metric{label=""}).
func (d dashboard) queries() []query {
	var out []query
	for _, p := range d.allPanels() {
		for i, tg := range p.Targets {
			out = append(out, query{where: p.Title + " target " + string(rune('A'+i)), expr: tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Definition
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		} else if s, ok := v.Query.(string); ok {
			q = s
		}
		if m := labelValuesRe.FindStringSubmatch(q); m != nil {
			q = m[1] + `{` + m[2] + `=""}`
		}
		out = append(out, query{where: "variable " + v.Name, expr: q})
	}
	return out
}

var labelValuesRe = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

func TestDashboardPanels(t *testing.T) {
	d := readDashboard(t)
	byTitle := map[string]panel{}
	for _, p := range d.allPanels() {
		byTitle[p.Title] = p
	}
	tests := []struct {
		title   string
		metrics []string // each must appear in some target of the panel
		also    []string // substrings some target must contain
	}{
		{"Ingest rate by route", []string{"hookstream_http_requests_total"}, []string{"by (route"}},
		{"Ingest errors by route", []string{"hookstream_http_requests_total", "hookstream_verification_failures_total"}, []string{"by (route"}},
		{"Publish latency", []string{"hookstream_publish_duration_seconds_bucket"},
			[]string{"histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,"}},
		{"Consumer lag by processor", []string{"hookstream_consumer_pending"}, nil},
		{"Dead letters by processor", []string{"hookstream_processor_dead_letters_total", "hookstream_dlq_messages"}, []string{"by (processor)"}},
		{"Processing rate by processor", []string{"hookstream_processor_processed_total"}, []string{"by (processor"}},
		{"Processing latency by processor", []string{"hookstream_processor_duration_seconds_bucket"}, []string{"by (processor, le)"}},
		{"Circuit breaker state by destination", []string{"hookstream_outbound_circuit_state"}, []string{"by (destination)"}},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			p, ok := byTitle[tt.title]
			if !ok {
				t.Fatalf("no panel titled %q", tt.title)
			}
			var exprs []string
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			all := strings.Join(exprs, "\n")
			for _, m := range tt.metrics {
				if !slices.Contains(metricRe.FindAllString(all, -1), m) {
					t.Errorf("no target reads %s: %q", m, exprs)
				}
			}
			for _, s := range tt.also {
				if !strings.Contains(all, s) {
					t.Errorf("no target contains %q: %q", s, exprs)
				}
			}
		})
	}
}

func TestDashboardDatasourceIsTemplated(t *testing.T) {
	d := readDashboard(t)
	v := d.variable("datasource")
	if v.Type != "datasource" || v.Query != "prometheus" {
		t.Fatalf("variable datasource = %+v, want a datasource variable over prometheus", v)
	}
	check := func(where string, ds *datasource) {
		if ds == nil || ds.UID != "${datasource}" || ds.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want prometheus ${datasource}", where, ds)
		}
	}
	for _, p := range d.allPanels() {
		if p.Type == "row" {
			continue
		}
		check("panel "+p.Title, p.Datasource)
		for _, tg := range p.Targets {
			check("panel "+p.Title+" target", tg.Datasource)
		}
	}
}

func TestDashboardPanelIDsUnique(t *testing.T) {
	seen := map[int]string{}
	for _, p := range readDashboard(t).allPanels() {
		if prev, ok := seen[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		seen[p.ID] = p.Title
	}
}
