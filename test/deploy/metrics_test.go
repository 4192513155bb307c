package deploy

import (
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// family is one metric family a pipeline registers.
type family struct {
	typ    dto.MetricType
	labels map[string]bool
}

// servePipeline is a pipeline as `serve` builds it (gateway and every
// processor in one process, so one registry holds every family), its
// gateway served over HTTP.
func servePipeline(t *testing.T) *pipelinetest.Env {
	t.Helper()
	return pipelinetest.New(t, pipelinetest.Options{
		Pipeline: func(c *pipeline.Config) { c.Processors = true },
	})
}

// exercise makes every labelled family of env's registry hold a series: a
// vector exports nothing until a child exists, and a family that is not
// exported cannot be told apart from one that does not exist.
func exercise(t *testing.T, env *pipelinetest.Env) {
	t.Helper()
	wh := env.CreateWebhook("ws1", nil)
	body := []byte(`{"email":"deploy@example.com"}`)
	// A sender's retry: the same webhook-id twice is a duplicate the second
	// time.
	for i := range 2 {
		if res := env.PostWebhook(wh, body, pipelinetest.WebhookPost{ID: "msg_deploy"}); res.Status/100 != 2 {
			t.Fatalf("post %d: %d %s", i, res.Status, res.Body)
		}
	}
	bad := http.Header{}
	bad.Set("webhook-id", "msg_forged")
	bad.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	bad.Set("webhook-signature", "v1,Zm9yZ2Vk")
	if res := env.Post("/webhooks/"+wh.ID, "application/json", body, bad); res.Status != http.StatusUnauthorized {
		t.Fatalf("forged post: %d %s, want 401", res.Status, res.Body)
	}

	// The runner reports every delivery's outcome through Observe; a dead
	// second attempt feeds all four per-processor families without a
	// failing destination.
	env.Pipeline.Runner.Observe(processors.Outcome{Processor: "contacts", Status: processors.StatusDead, Attempts: 2, Duration: time.Millisecond})

	ctx := env.Ctx(10 * time.Second)
	// The consumer collector reports durable consumers and DLQ subjects.
	if _, err := env.JS.CreateOrUpdateConsumer(ctx, streams.StreamEvents, jetstream.ConsumerConfig{
		Durable: "deploy-test", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	if _, err := env.JS.Publish(ctx, "dlq.contacts", []byte(`{}`)); err != nil {
		t.Fatalf("publish dead letter: %v", err)
	}
}

// gather reads env's registry.
func gather(t *testing.T, env *pipelinetest.Env) map[string]family {
	t.Helper()
	mfs, err := env.Pipeline.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]family{}
	for _, mf := range mfs {
		f := family{typ: mf.GetType(), labels: map[string]bool{}}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
			}
		}
		out[mf.GetName()] = f
	}
	return out
}

var (
	metricRe  = regexp.MustCompile(`\bhookstream_[a-z0-9_]+\b`)
	groupRe   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	selectRe  = regexp.MustCompile(`\{([^}]*)\}`)
	matcherRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
)

// series resolves a name as PromQL sees it (a histogram's _bucket, _sum
// and _count included) to the labels it carries.
func series(fams map[string]family, name string) (map[string]bool, bool) {
	if f, ok := fams[name]; ok {
		return f.labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if f, found := fams[base]; ok && found && f.typ == dto.MetricType_HISTOGRAM {
			if suffix != "_bucket" {
				return f.labels, true
			}
			labels := map[string]bool{"le": true}
			for l := range f.labels {
				labels[l] = true
			}
			return labels, true
		}
	}
	return nil, false
}

// labelNames are the label names expr groups by or matches on.
func labelNames(expr string) []string {
	var out []string
	for _, m := range groupRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	for _, sel := range selectRe.FindAllStringSubmatch(expr, -1) {
		for _, m := range matcherRe.FindAllStringSubmatch(sel[1], -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func TestDashboardMatchesRegisteredMetrics(t *testing.T) {
	env := servePipeline(t)
	exercise(t, env)
	fams := gather(t, env)
	d := readDashboard(t)

	t.Run("every query reads registered series and labels", func(t *testing.T) {
		for _, q := range d.queries() {
			names := metricRe.FindAllString(q.expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: %q reads no hookstream_ metric", q.where, q.expr)
			}
			for _, name := range names {
				labels, ok := series(fams, name)
				if !ok {
					t.Errorf("%s: %s is not registered by the pipeline", q.where, name)
					continue
				}
				for _, l := range labelNames(q.expr) {
					if !labels[l] {
						t.Errorf("%s: %s has no label %q (has %v)", q.where, name, l, slices.Sorted(maps.Keys(labels)))
					}
				}
			}
		}
	})

	t.Run("every hookstream family has a panel", func(t *testing.T) {
		used := map[string]bool{}
		for _, q := range d.queries() {
			for _, name := range metricRe.FindAllString(q.expr, -1) {
				used[name] = true
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					used[strings.TrimSuffix(name, suffix)] = true
				}
			}
		}
		for name := range fams {
			if strings.HasPrefix(name, "hookstream_") && !used[name] {
				t.Errorf("%s is registered but no panel shows it", name)
			}
		}
	})

	t.Run("the scrape path serves the registry", func(t *testing.T) {
		p := readConfig[prometheusConfig](t, readCompose(t), "prometheus", "--config.file")
		for _, sc := range p.ScrapeConfigs {
			path := sc.MetricsPath
			if path == "" {
				path = "/metrics" // Prometheus's default
			}
			resp, err := env.Client.Get(env.HTTP.URL + path)
			if err != nil {
				t.Fatalf("job %s: GET %s: %v", sc.JobName, path, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("job %s: GET %s: %d %v", sc.JobName, path, resp.StatusCode, err)
			}
			if !strings.Contains(string(b), "# TYPE hookstream_http_requests_total counter") {
				t.Errorf("job %s: %s does not serve hookstream_http_requests_total", sc.JobName, path)
			}
		}
	})
}
