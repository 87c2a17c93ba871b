package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	block := "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nEXEC\r\n"
	incr := filepath.Join(dir, "appendonly.aof.1.incr.aof")
	for name, data := range map[string]string{
		"appendonly.aof.manifest":   "file appendonly.aof.1.incr.aof seq 1 type i\n",
		"appendonly.aof.1.incr.aof": block + block[:20],
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int64 {
		st, err := os.Stat(incr)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	var out bytes.Buffer
	if err := run([]string{"-n", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would repair") || size() != int64(len(block)+20) {
		t.Fatalf("-n: %q, size %d", out.String(), size())
	}
	out.Reset()
	if err := run([]string{dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "repaired") || size() != int64(len(block)) {
		t.Fatalf("repair: %q, size %d", out.String(), size())
	}
	out.Reset()
	if err := run([]string{dir}, &out); err != nil || !strings.Contains(out.String(), "intact") {
		t.Fatalf("second run: %q, %v", out.String(), err)
	}
	if err := run(nil, &out); err == nil {
		t.Error("no directory: want a usage error")
	}
}
