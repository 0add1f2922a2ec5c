//go:build ignore

// Command vulndb-index turns a flat directory of Go vulnerability reports
// in OSV JSON (data/osv in the golang.org/x/vulndb module) into the v1
// database layout that `govulncheck -db file://DIR` reads:
//
//	DIR/index/db.json       {"modified": T}
//	DIR/index/modules.json  [{"path": M, "vulns": [{"id": ID, "modified": T}]}]
//	DIR/ID/<ID>.json        the OSV entry, unchanged
//
// Format: "API" in https://go.dev/security/vuln/database, and the client
// types in golang.org/x/vuln/internal/client/schema.go (dbMeta, moduleMeta,
// moduleVuln). A file:// database is read without the .json.gz copies an
// HTTP server needs, so none are written.
//
// The optional "fixed" hint of modules.json is left out: govulncheck then
// fetches every entry of the module and decides from the entry's own
// version ranges, which is what it does after the hint anyway.
//
// The files in data/osv carry zero "modified" times (vuln.go.dev fills them
// in from the repository's history when it deploys), so -modified, the
// time of the vulndb commit, stands in for the database's date.
//
// Usage: go run scripts/vulndb-index.go -osv SRC -modified RFC3339 -out DIR
// DIR must not exist; it is written through a temporary sibling and renamed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

var idPattern = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]+$`)

func main() {
	src := flag.String("osv", "", "directory of OSV JSON files (<ID>.json)")
	out := flag.String("out", "", "directory to create")
	mod := flag.String("modified", "", "database date (RFC 3339), if later than every entry's")
	flag.Parse()
	if *src == "" || *out == "" {
		log.Fatal("vulndb-index: -osv and -out are required")
	}
	if err := run(*src, *out, *mod); err != nil {
		log.Fatalf("vulndb-index: %v", err)
	}
}

func run(src, out, mod string) error {
	var dbModified time.Time
	if mod != "" {
		t, err := time.Parse(time.RFC3339, mod)
		if err != nil {
			return fmt.Errorf("-modified: %v", err)
		}
		dbModified = t.UTC()
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s already exists", out)
	}
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", src)
	}

	tmp, err := os.MkdirTemp(filepath.Dir(out), ".vulndb-index-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	for _, d := range []string{"index", "ID"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return err
		}
	}

	modules := map[string]*moduleMeta{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		if !idPattern.MatchString(e.ID) || filepath.Base(f) != e.ID+".json" {
			return fmt.Errorf("%s: entry id %q does not match the file name", f, e.ID)
		}
		if len(e.Affected) == 0 {
			return fmt.Errorf("%s: no affected modules", f)
		}
		if e.Modified.After(dbModified) {
			dbModified = e.Modified.UTC()
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			path := a.Package.Name
			if a.Package.Ecosystem != "Go" || path == "" || strings.ContainsAny(path, " \t\n") {
				return fmt.Errorf("%s: unexpected package %q (ecosystem %q)", f, path, a.Package.Ecosystem)
			}
			if seen[path] {
				continue
			}
			seen[path] = true
			m := modules[path]
			if m == nil {
				m = &moduleMeta{Path: path}
				modules[path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified.UTC()})
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), b, 0o644); err != nil {
			return err
		}
	}

	list := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })

	if err := writeJSON(filepath.Join(tmp, "index", "modules.json"), list); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, "index", "db.json"), map[string]time.Time{"modified": dbModified}); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("%d entries, %d modules, modified %s\n", len(files), len(list), dbModified.Format(time.RFC3339))
	return nil
}

func writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o644)
}
