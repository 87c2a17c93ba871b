package archtest

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/paycrawl/paycrawl"

// rule is one row of a table in docs/ARCHITECTURE.md.
type rule struct {
	pkgs, forbid, except []string
	line                 int
}

var code = regexp.MustCompile("`([^`]+)`")

// backticked returns the backticked entries of a table cell, without any
// reason in parentheses.
func backticked(cell string) []string {
	if i := strings.Index(cell, "("); i >= 0 {
		cell = cell[:i]
	}
	var out []string
	for _, m := range code.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

func readRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	var rules []rule
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("docs/ARCHITECTURE.md:%d: want 4 columns (package, owns, must not import, except), got %d", i+1, len(cells))
		}
		rules = append(rules, rule{pkgs: backticked(cells[0]), forbid: backticked(cells[2]), except: backticked(cells[3]), line: i + 1})
	}
	if len(rules) == 0 {
		t.Fatal("docs/ARCHITECTURE.md has no package table")
	}
	return rules
}

// match reports whether path (module-relative for the module's packages)
// matches pattern: exact, "x/..." for x and below, "..." for all.
func match(pattern, path string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

// packages returns the module's packages (module-relative) and the imports
// of their non-test files for this platform, module-relative where they are
// the module's.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no buildable Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		var imports []string
		for _, imp := range p.Imports {
			if r, ok := strings.CutPrefix(imp, module+"/"); ok {
				imp = r
			}
			imports = append(imports, imp)
		}
		out[rel] = imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportsFollowTheTable: no package imports what a row of
// docs/ARCHITECTURE.md that covers it forbids, unless its own row allows
// it; and every package under pkg/ and internal/ has its own row.
func TestImportsFollowTheTable(t *testing.T) {
	rules := readRules(t)
	pkgs := packages(t)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages: is the module root ../..?", len(pkgs))
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		var except []string
		own := false
		for _, r := range rules {
			for _, pat := range r.pkgs {
				if pat == p {
					own = true
					except = append(except, r.except...)
				}
			}
		}
		if !own && (strings.HasPrefix(p, "pkg/") || strings.HasPrefix(p, "internal/")) {
			t.Errorf("%s has no row in docs/ARCHITECTURE.md: add one (package, owns, must not import, except)", p)
		}
		for _, imp := range pkgs[p] {
			if matchAny(except, imp) {
				continue
			}
			for _, r := range rules {
				if matchAny(r.pkgs, p) && matchAny(r.forbid, imp) && imp != p {
					t.Errorf("%s imports %s, which docs/ARCHITECTURE.md:%d forbids", p, imp, r.line)
				}
			}
		}
	}
	for _, r := range rules {
		for _, pat := range r.pkgs {
			if strings.Contains(pat, "...") {
				continue
			}
			if _, ok := pkgs[pat]; !ok {
				t.Errorf("docs/ARCHITECTURE.md:%d names %s, which is not a package", r.line, pat)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, path string
		want          bool
	}{
		{"pkg/...", "pkg/registry", true},
		{"pkg/...", "pkg", true},
		{"pkg/...", "pkgs/x", false},
		{"...", "cmd/gateway", true},
		{"net/http", "net/http", true},
		{"net/http", "net/http/httptest", false},
		{"github.com/redis/go-redis/...", "github.com/redis/go-redis/v9", true},
	} {
		if got := match(tt.pattern, tt.path); got != tt.want {
			t.Errorf("match(%q, %q) = %v", tt.pattern, tt.path, got)
		}
	}
}
