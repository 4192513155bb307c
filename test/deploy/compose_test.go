package deploy

import (
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
)

const composeFile = "docker-compose.yml"

// compose is the part of docker-compose.yml the tests read.
type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
}

func readCompose(t *testing.T) compose {
	t.Helper()
	var c compose
	readYAML(t, composeFile, &c)
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return c
}

// hookstream reports whether s runs the Hookstream image built here.
func (s service) hookstream() bool { return s.Build != nil }

// flag is the value of --name in s's command ("" when absent), in either
// the "--name value" or the "--name=value" form.
func (s service) flag(name string) string {
	for i, a := range s.Command {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(s.Command) {
			return s.Command[i+1]
		}
	}
	return ""
}

// mount is one bind mount or named volume of a service.
type mount struct{ source, target string }

func (s service) mounts() []mount {
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue // an anonymous volume
		}
		out = append(out, mount{source: parts[0], target: parts[1]})
	}
	return out
}

// hostPath is the repository path bound at target inside s ("" when
// nothing is bound there). A file mounted inside a bound directory
// resolves through that directory.
func (s service) hostPath(target string) string {
	for _, m := range s.mounts() {
		if !strings.HasPrefix(m.source, "./") {
			continue
		}
		if target == m.target {
			return strings.TrimPrefix(m.source, "./")
		}
		if rest, ok := strings.CutPrefix(target, m.target+"/"); ok {
			return path.Join(strings.TrimPrefix(m.source, "./"), rest)
		}
	}
	return ""
}

func TestComposeMountsExist(t *testing.T) {
	c := readCompose(t)
	for name, s := range c.Services {
		for _, m := range s.mounts() {
			if strings.HasPrefix(m.source, "./") {
				if _, err := os.Stat(repoPath(strings.TrimPrefix(m.source, "./"))); err != nil {
					t.Errorf("service %s mounts %s: %v", name, m.source, err)
				}
				continue
			}
			if _, ok := c.Volumes[m.source]; !ok {
				t.Errorf("service %s mounts volume %q, which the top-level volumes do not declare", name, m.source)
			}
		}
	}
}

func TestComposeImagesPinned(t *testing.T) {
	for name, s := range readCompose(t).Services {
		if s.hookstream() {
			continue // built from this repository
		}
		ref := s.Image
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			ref = ref[i+1:]
		}
		_, tag, ok := strings.Cut(ref, ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
	}
}

// prometheusConfig is the part of prometheus.yml the tests read.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// readConfig decodes the configuration file service loads: the one its
// command names with flag, read through its mounts.
func readConfig[T any](t *testing.T, c compose, service, flag string) T {
	t.Helper()
	s, ok := c.Services[service]
	if !ok {
		t.Fatalf("%s has no %s service", composeFile, service)
	}
	file := s.hostPath(s.flag(flag))
	if file == "" {
		t.Fatalf("%s: %s %q is not mounted from the repository", service, flag, s.flag(flag))
	}
	var v T
	readYAML(t, file, &v)
	return v
}

// metricsListener is where the service serves /metrics: the gateway's
// --http-addr, or a process copy's --metrics-addr.
func (s service) metricsListener() string {
	if a := s.flag("--http-addr"); a != "" {
		return a
	}
	return s.flag("--metrics-addr")
}

func TestPrometheusScrapesEveryHookstreamListener(t *testing.T) {
	c := readCompose(t)
	p := readConfig[prometheusConfig](t, c, "prometheus", "--config.file")
	scraped := map[string]bool{}
	for _, sc := range p.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				s, ok := c.Services[host]
				if !ok {
					t.Errorf("job %s: target %q names no compose service", sc.JobName, target)
					continue
				}
				if !s.hookstream() {
					t.Errorf("job %s: target %q is not a Hookstream service", sc.JobName, target)
					continue
				}
				_, listen, err := net.SplitHostPort(s.metricsListener())
				if err != nil || listen != port {
					t.Errorf("job %s: target %q, but %s serves /metrics on %q", sc.JobName, target, host, s.metricsListener())
				}
				scraped[host] = true
			}
		}
	}
	// Every Hookstream service serves /metrics: a gateway on --http-addr,
	// a `process` copy on --metrics-addr; each must be scraped.
	for name, s := range c.Services {
		if !s.hookstream() {
			continue
		}
		if s.metricsListener() == "" {
			t.Errorf("service %s serves no /metrics (a process copy needs --metrics-addr)", name)
		} else if !scraped[name] {
			t.Errorf("service %s serves /metrics on %s but Prometheus does not scrape it", name, s.metricsListener())
		}
	}
	if len(scraped) == 0 {
		t.Errorf("Prometheus scrapes no Hookstream service")
	}
}

// grafanaDatasources and grafanaDashboards are Grafana's provisioning files.
type grafanaDatasources struct {
	Datasources []struct {
		Name string `yaml:"name"`
		UID  string `yaml:"uid"`
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	} `yaml:"datasources"`
}

type grafanaDashboards struct {
	Providers []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

// grafanaProvisioning is where the grafana image reads provisioning files.
const grafanaProvisioning = "/etc/grafana/provisioning"

func TestGrafanaProvisioning(t *testing.T) {
	c := readCompose(t)
	g, ok := c.Services["grafana"]
	if !ok {
		t.Fatalf("%s has no grafana service", composeFile)
	}
	prov := g.hostPath(grafanaProvisioning)
	if prov == "" {
		t.Fatalf("grafana: nothing from the repository is mounted at %s", grafanaProvisioning)
	}

	t.Run("datasource is the compose Prometheus", func(t *testing.T) {
		var ds grafanaDatasources
		readYAML(t, path.Join(prov, "datasources", "prometheus.yaml"), &ds)
		if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
			t.Fatalf("datasources = %+v, want one of type prometheus", ds.Datasources)
		}
		u, err := url.Parse(ds.Datasources[0].URL)
		if err != nil {
			t.Fatalf("datasource url: %v", err)
		}
		if _, ok := c.Services[u.Hostname()]; !ok || u.Hostname() != "prometheus" {
			t.Errorf("datasource url %q: want the prometheus service", ds.Datasources[0].URL)
		}
		if u.Port() != "9090" {
			t.Errorf("datasource url %q: Prometheus listens on 9090", ds.Datasources[0].URL)
		}
		var d dashboard
		readJSON(t, dashboardFile, &d)
		if got := d.variable("datasource").Current.Value; got != ds.Datasources[0].UID {
			t.Errorf("dashboard's datasource variable starts on %q, the provisioned uid is %q", got, ds.Datasources[0].UID)
		}
	})

	t.Run("home dashboard is the mounted dashboard", func(t *testing.T) {
		home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
		if got := g.hostPath(home); got != dashboardFile {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH %q is %q in the repository, want %s", home, got, dashboardFile)
		}
	})

	t.Run("dashboard provider reads the dashboard folder", func(t *testing.T) {
		var db grafanaDashboards
		readYAML(t, path.Join(prov, "dashboards", "hookstream.yaml"), &db)
		if len(db.Providers) == 0 {
			t.Fatalf("no dashboard providers")
		}
		for _, p := range db.Providers {
			if p.Type != "file" {
				t.Errorf("provider %s: type %q, want file", p.Name, p.Type)
			}
			dir := g.hostPath(p.Options.Path)
			if dir == "" {
				t.Errorf("provider %s: path %q is not mounted from the repository", p.Name, p.Options.Path)
				continue
			}
			if path.Join(dir, path.Base(dashboardFile)) != dashboardFile {
				t.Errorf("provider %s reads %s; the dashboard is %s", p.Name, dir, dashboardFile)
			}
		}
	})
}

// collectorConfig is the part of the OpenTelemetry Collector's
// configuration the tests read.
type collectorConfig struct {
	Receivers map[string]struct {
		Protocols map[string]struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"protocols"`
	} `yaml:"receivers"`
	Exporters map[string]struct {
		Endpoint string `yaml:"endpoint"`
	} `yaml:"exporters"`
	Service struct {
		Pipelines map[string]struct {
			Receivers []string `yaml:"receivers"`
			Exporters []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

func TestCollectorExportsTracesToJaeger(t *testing.T) {
	c := readCompose(t)
	cc := readConfig[collectorConfig](t, c, "otel-collector", "--config")
	traces, ok := cc.Service.Pipelines["traces"]
	if !ok || len(traces.Exporters) == 0 {
		t.Fatalf("collector: no traces pipeline with an exporter")
	}
	for _, name := range traces.Exporters {
		e, ok := cc.Exporters[name]
		if !ok {
			t.Errorf("traces pipeline uses exporter %q, which is not defined", name)
			continue
		}
		host, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(e.Endpoint, "http://"), "https://"))
		if err != nil {
			t.Errorf("exporter %s: endpoint %q: %v", name, e.Endpoint, err)
			continue
		}
		if host != "jaeger" || port != "4317" {
			t.Errorf("exporter %s: endpoint %q, want Jaeger's OTLP gRPC receiver jaeger:4317", name, e.Endpoint)
		}
		if _, ok := c.Services[host]; !ok {
			t.Errorf("exporter %s: endpoint host %q is not a compose service", name, host)
		}
	}
	for _, name := range traces.Receivers {
		if _, ok := cc.Receivers[name]; !ok {
			t.Errorf("traces pipeline uses receiver %q, which is not defined", name)
		}
	}
}

func TestHookstreamServicesSendTracesToCollector(t *testing.T) {
	c := readCompose(t)
	cc := readConfig[collectorConfig](t, c, "otel-collector", "--config")
	_, httpPort, err := net.SplitHostPort(cc.Receivers["otlp"].Protocols["http"].Endpoint)
	if err != nil {
		t.Fatalf("collector otlp http receiver: %v", err)
	}
	var names []string
	for name, s := range c.Services {
		if !s.hookstream() {
			continue
		}
		names = append(names, name)
		u, err := url.Parse(s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
		if err != nil || u.Hostname() != "otel-collector" || u.Port() != httpPort || u.Scheme != "http" {
			t.Errorf("service %s: OTEL_EXPORTER_OTLP_ENDPOINT = %q, want http://otel-collector:%s (OTLP over HTTP, the SDK's default protocol)",
				name, s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"], httpPort)
		}
		if s.Environment["OTEL_SERVICE_NAME"] == "" {
			t.Errorf("service %s: OTEL_SERVICE_NAME unset", name)
		}
		// The merged environment must still carry the connections.
		if s.Environment["NATS_URL"] == "" || s.Environment["DATABASE_URL"] == "" {
			t.Errorf("service %s: environment lost NATS_URL or DATABASE_URL: %v", name, slices.Sorted(maps.Keys(s.Environment)))
		}
	}
	if len(names) == 0 {
		t.Fatalf("no Hookstream services in %s", composeFile)
	}
}
