package archtest

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTracked is the largest file the repository may hold. The biggest source
// file today is well under 100 KB; a build output is tens of megabytes.
const maxTracked = 1 << 20

// executable magic numbers: ELF, Mach-O (both byte orders, 32 and 64 bit,
// universal), PE.
var magics = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xce, 0xfa, 0xed, 0xfe},
	{0xfe, 0xed, 0xfa, 0xcf}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	[]byte("MZ"),
}

// trackedFiles lists the repository's files relative to its root: git's index
// when the tree is a checkout, else every file under the root but for
// dependency and output folders (a source archive has no index).
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	if out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "var", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestNoBuildOutputsTracked fails when the repository holds a compiled binary
// or an oversized file: `go build` inside a command's folder leaves one
// behind, and two such binaries of 36 and 83 MB were once committed.
func TestNoBuildOutputsTracked(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := trackedFiles(t, root)
	if len(files) < 100 {
		t.Fatalf("found only %d files under the repository root: wrong root?", len(files))
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		info, err := os.Lstat(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if info.Size() > maxTracked {
			t.Errorf("%s: %d bytes, over the %d a source file may have (a build output? add it to .gitignore)", f, info.Size(), maxTracked)
			continue
		}
		head := make([]byte, 4)
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.ReadFull(fh, head)
		fh.Close()
		for _, m := range magics {
			if n >= len(m) && bytes.Equal(head[:len(m)], m) {
				t.Errorf("%s is an executable (magic % x): build outputs do not belong in the repository", f, m)
			}
		}
	}
}
