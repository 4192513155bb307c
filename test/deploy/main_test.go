// Package deploy keeps the deployment files honest without Docker:
// docker-compose.yml, the Prometheus, Grafana and OpenTelemetry Collector
// configurations under deploy/ and the Grafana dashboard are read as the
// tools would read them and checked against each other and against the
// metrics a real pipeline registers.
package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hookstream/hookstream/projections/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// root is the repository root, relative to this package.
const root = "../.."

// repoPath is path (slash-separated, relative to the repository root) on disk.
func repoPath(path string) string { return filepath.Join(root, filepath.FromSlash(path)) }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(path))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// readYAML decodes a repository file into v, resolving anchors and merge
// keys as Compose does.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}
