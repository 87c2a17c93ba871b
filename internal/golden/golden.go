// Package golden compares test output with golden files in a package's
// testdata/ directory, and rewrites them when the test binary runs with
// -update:
//
//	go test ./internal/gateway/ -run Golden -update
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// update is the -update flag of every test binary that imports golden.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/ instead of comparing")

// Compare checks got against testdata/name, or writes it there under
// -update; a missing file or a difference fails t and says how to refresh.
func Compare(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run the test with -update if the change is meant):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// CompareYAML compares v, marshalled as YAML, with testdata/name (see
// Compare): a loaded configuration, defaults included, for instance.
func CompareYAML(t testing.TB, name string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	Compare(t, name, b)
}
