package localstore_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/archive/storetest"
)

func TestContract(t *testing.T) {
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, st)
}

// TestFailedPutKeepsTheObject: a body shorter than announced leaves the
// old object.
func TestFailedPutKeepsTheObject(t *testing.T) {
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(t.Context(), "a", strings.NewReader("old"), 3); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(t.Context(), "a", strings.NewReader("xy"), 5); err == nil {
		t.Fatal("short body accepted")
	}
	rc, err := st.Get(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "old" {
		t.Fatalf("object is %q", b)
	}
}

// TestOpenClearsInterruptedPuts: a temporary file a crash left behind is
// removed, and never listed.
func TestOpenClearsInterruptedPuts(t *testing.T) {
	dir := t.TempDir()
	if _, err := localstore.Open(dir); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, ".tmp", "put-123")
	if err := os.WriteFile(left, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("left-over temporary file: %v", err)
	}
	if names, err := st.List(t.Context(), ""); err != nil || len(names) != 0 {
		t.Fatalf("List: %v %v", names, err)
	}
}
