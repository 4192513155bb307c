// Package layout holds tests about the shape of the code base itself: which
// package may depend on which. The rules keep each room to what it owns:
// ingest does not know the processors, processors do not know each other,
// and the lead schema and the projections sit below everything that uses
// them.
package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hookstream/hookstream"

// pkg is what `go list -deps` reports of one package of this module.
type pkg struct {
	ImportPath string
	Deps       []string // every package it depends on, directly or not
}

// listPackages runs `go list -json` over the whole module and returns this
// module's packages with their dependencies. Tests are left out: an
// end-to-end test of a processor may well run the gateway in front of it.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !within(p.ImportPath, module) {
			continue
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// processorPackages are the processors: each one consumes streams and owns
// its effects. processors (the runner), processors/events (the domain event
// types) and processors/outbound (the HTTP client for destinations) are
// shared libraries, not processors.
var processorPackages = []string{"boards", "contacts", "crm", "ga4", "mailerlite", "notify", "payments"}

func isProcessor(path string) (string, bool) {
	for _, name := range processorPackages {
		if within(path, module+"/processors/"+name) {
			return name, true
		}
	}
	return "", false
}

// rule forbids packages under from to depend on packages under any of deny
// ("" denies every package of ours outside from), except those under allow.
type rule struct {
	from  string
	deny  []string
	allow []string
	why   string
}

var rules = []rule{
	{from: "gateway", deny: []string{"processors", "ops", "admin"},
		why: "ingest verifies and publishes; it knows nothing of what consumes the streams"},
	{from: "lead", deny: []string{""}, allow: []string{"internal/textcut", "internal/panics"},
		why: "the lead schema is pure: parsing, mapping and validation only"},
	{from: "projections", deny: []string{"processors", "gateway", "ops", "admin"},
		why: "projections own the schema and its queries; their users depend on them, not the reverse"},
	{from: "streams", deny: []string{"processors", "gateway", "ops", "admin", "projections"},
		why: "streams are the bottom of the data flow"},
	{from: "processors", deny: []string{"gateway", "ops", "admin"},
		why: "processors consume streams; they do not reach into ingest or operator tooling"},
	{from: "ops", deny: []string{"gateway", "admin"},
		why: "operator operations are used by the CLI and the admin API, not the other way round"},
	{from: "admin", deny: []string{"processors"},
		why: "the admin API serves operator operations over HTTP; it reads what the processors wrote, it does not run them"},
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, r := range rules {
			if !within(rel, r.from) {
				continue
			}
			for _, d := range p.Deps {
				if !within(d, module) || within(d, module+"/internal/testutil") {
					continue
				}
				drel := strings.TrimPrefix(strings.TrimPrefix(d, module), "/")
				if slices.ContainsFunc(r.allow, func(a string) bool { return within(drel, a) }) {
					continue
				}
				for _, deny := range r.deny {
					if (deny == "" && !within(drel, r.from)) || (deny != "" && within(drel, deny)) {
						t.Errorf("%s depends on %s: %s", rel, drel, r.why)
					}
				}
			}
		}
		// No processor depends on a sibling processor: they meet only
		// through the streams.
		if name, ok := isProcessor(p.ImportPath); ok {
			for _, d := range p.Deps {
				if other, ok := isProcessor(d); ok && other != name {
					t.Errorf("processor %s depends on processor %s: processors meet only through the streams", name, other)
				}
			}
		}
	}
}
