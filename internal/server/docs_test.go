package server_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/testkit"
)

// docHeading is a level-3 heading that names one thing in backquotes.
var docHeading = regexp.MustCompile("^### `([^`]+)`\\s*$")

// docHeadings returns the names of the level-3 headings of the Markdown file
// at path, in order. A level-3 heading of another shape fails the test: the
// list is meant to be complete, so a heading the parser skips is a hole.
// Fenced code blocks are not headings.
func docHeadings(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	fenced := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(text), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(text, "### ") {
			continue
		}
		m := docHeading.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s:%d: level-3 heading %q is not of the form ### `name`", filepath.Base(path), line, text)
			continue
		}
		names = append(names, strings.Join(strings.Fields(m[1]), " "))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("%s: no level-3 headings found", path)
	}
	return names
}

// docCompare fails listing what one side has and the other lacks, and any
// name listed twice on either side.
func docCompare(t *testing.T, what, docName string, documented []string, implName string, implemented []string) {
	t.Helper()
	set := func(side string, names []string) map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			if m[n] {
				t.Errorf("%s %q listed twice in %s", what, n, side)
			}
			m[n] = true
		}
		return m
	}
	doc, impl := set(docName, documented), set(implName, implemented)
	var undocumented, missing []string
	for n := range impl {
		if !doc[n] {
			undocumented = append(undocumented, n)
		}
	}
	for n := range doc {
		if !impl[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(missing)
	if len(undocumented) > 0 {
		t.Errorf("%s in %s but not documented in %s:\n\t%s", what, implName, docName, strings.Join(undocumented, "\n\t"))
	}
	if len(missing) > 0 {
		t.Errorf("%s documented in %s but not in %s:\n\t%s", what, docName, implName, strings.Join(missing, "\n\t"))
	}
}

func TestDocumentedRoutes(t *testing.T) {
	t.Parallel()
	documented := docHeadings(t, filepath.Join("..", "..", "docs", "api.md"))
	n := testkit.Start(t, "", nil)
	registered := n.Node.Router.Patterns()
	if len(registered) == 0 {
		t.Fatal("the router has no routes")
	}
	docCompare(t, "route", "docs/api.md", documented, "the router", registered)
}

func TestDocumentedFrames(t *testing.T) {
	t.Parallel()
	documented := docHeadings(t, filepath.Join("..", "..", "docs", "protocol.md"))
	docCompare(t, "frame type", "docs/protocol.md", documented, "wire.AllTypes", wire.AllTypes)
}
