package aofrepair

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// resp encodes commands as redis-server appends them to an AOF; each command
// is its arguments separated by spaces.
func resp(cmds ...string) string {
	var b strings.Builder
	for _, c := range cmds {
		args := strings.Fields(c)
		b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
		for _, a := range args {
			b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
		}
	}
	return b.String()
}

var (
	sel0  = resp("SELECT 0")
	block = resp("MULTI", "XADD s 1-0 c x", "HINCRBY h n 1", "SET rp v", "EXEC")
	plain = resp("SADD idx acct")
)

// keep returns what plan leaves of in.
func keep(t *testing.T, in string, last bool) (string, []Cut) {
	t.Helper()
	cuts, size, err := plan(strings.NewReader(in), int64(len(in)), last)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(in)) {
		t.Fatalf("size %d, want %d", size, len(in))
	}
	var out strings.Builder
	var at int64
	for _, c := range cuts {
		if c.Start < at || c.End < c.Start || c.End > size {
			t.Fatalf("cuts out of order or range: %+v", cuts)
		}
		out.WriteString(in[at:c.Start])
		at = c.End
	}
	out.WriteString(in[at:])
	return out.String(), cuts
}

func TestPlan(t *testing.T) {
	whole := sel0 + block + plain + block
	tests := []struct {
		name, in, want string
	}{
		{"intact", whole, whole},
		{"empty", "", ""},
		{"annotations are commands' neighbours", "#TS:1700000000\r\n" + whole, "#TS:1700000000\r\n" + whole},
		{"cut inside the last block's last argument", whole + block[:len(block)-9], whole},
		{"cut after the last block's MULTI", whole + resp("MULTI"), whole},
		{"cut after a complete command inside the block", whole + block[:strings.Index(block, "*3\r\n$3\r\nSET")], whole},
		{"cut inside a header line", whole + "*1\r", whole},
		{"cut inside a plain command", whole + plain[:7], whole},
		{"cut before EXEC's CRLF", whole + block[:len(block)-2], whole},
		{"lowercase multi", whole + resp("multi", "xadd s 2-0 c y"), whole},
		{"NUL bytes after a whole block", whole + "\x00\x00\x00", whole},
		{"NUL bytes inside a block", whole + block[:50] + strings.Repeat("\x00", 70000), whole},
		{"NUL bytes only", "\x00\x00", ""},
		{
			"half block left by aof-load-truncated yes, then a restart",
			sel0 + block + resp("MULTI", "XADD s 2-0 c y", "HINCRBY h n 1") + sel0 + block + plain,
			sel0 + block + sel0 + block + plain,
		},
		{
			"half block, then a restart that wrote plain commands only",
			sel0 + resp("MULTI", "XADD s 2-0 c y") + sel0 + plain + plain,
			sel0 + sel0 + plain + plain,
		},
		{
			"half block followed by a MULTI without SELECT",
			resp("MULTI", "XADD s 2-0 c y") + block,
			block,
		},
		{
			"two half blocks from two truncated loads, and a cut tail",
			resp("MULTI", "XADD s 2-0 c y") + sel0 + plain + resp("MULTI", "XADD s 3-0 c z") + sel0 + block + block[:20],
			sel0 + plain + sel0 + block,
		},
		{
			"a complete transaction across databases is kept",
			resp("MULTI", "SET a 1", "SELECT 1", "SET b 2", "EXEC") + block,
			resp("MULTI", "SET a 1", "SELECT 1", "SET b 2", "EXEC") + block,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cuts := keep(t, tt.in, true)
			if got != tt.want {
				t.Errorf("kept %q\nwant %q\ncuts %v", got, tt.want, cuts)
			}
			if again, more := keep(t, got, true); again != got {
				t.Errorf("a second repair cuts more: %v", more)
			}
		})
	}
}

func TestPlanRefusesDamage(t *testing.T) {
	tests := []struct {
		name, in string
		last     bool
	}{
		{"not RESP", block + "hello\r\n", true},
		{"EXEC without MULTI", block + resp("EXEC"), true},
		{"bad argument count", "*0\r\n", true},
		{"bad length", "*1\r\n$-3\r\n", true},
		{"missing CRLF after an argument", "*1\r\n$4\r\nEXECxx", true},
		{"bare LF header", "*1\n$4\r\nEXEC\r\n", true},
		{"a cut incr file that is not the last", block + block[:30], false},
		{"NUL bytes at the end of an incr file that is not the last", block + "\x00", false},
		{"NUL bytes before the end", block + "\x00\x00" + block, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := plan(strings.NewReader(tt.in), int64(len(tt.in)), tt.last)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("plan = %v, want a *FormatError", err)
			}
		})
	}
	// An unfinished MULTI at a clean end of an earlier incr file is cut: it
	// was never applied either.
	got, _ := keep(t, block+resp("MULTI", "SET a 1"), false)
	if got != block {
		t.Errorf("kept %q, want %q", got, block)
	}
}

// writeDir writes an AOF directory: a manifest and its files.
func writeDir(t *testing.T, manifest string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "appendonly.aof.manifest"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRepairDirectory(t *testing.T) {
	const manifest = "file appendonly.aof.1.base.rdb seq 1 type b\n" +
		"file appendonly.aof.1.incr.aof seq 1 type h\n" +
		"file appendonly.aof.3.incr.aof seq 3 type i\n" +
		"file appendonly.aof.2.incr.aof seq 2 type i\n"
	base := "REDIS0010 not parsed: base files are never cut"
	orphan := resp("MULTI", "XADD s 2-0 c y")
	dir := writeDir(t, manifest, map[string]string{
		"appendonly.aof.1.base.rdb": base,
		"appendonly.aof.1.incr.aof": block + block[:10], // history: not loaded, not touched
		"appendonly.aof.2.incr.aof": block + orphan + sel0 + block,
		"appendonly.aof.3.incr.aof": block + block[:40],
	})

	rep, err := Repair(dir, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rep.Scanned, ","), "appendonly.aof.2.incr.aof,appendonly.aof.3.incr.aof"; got != want {
		t.Errorf("scanned %s, want %s", got, want)
	}
	if len(rep.Cuts) != 2 || readFile(t, filepath.Join(dir, "appendonly.aof.3.incr.aof")) != block+block[:40] {
		t.Fatalf("dry run: cuts %v, or it changed a file", rep.Cuts)
	}

	rep, err = Repair(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	for name, want := range map[string]string{
		"appendonly.aof.1.base.rdb": base,
		"appendonly.aof.1.incr.aof": block + block[:10],
		"appendonly.aof.2.incr.aof": block + sel0 + block,
		"appendonly.aof.3.incr.aof": block,
	} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "appendonly.aof.2.incr.aof.aofrepair.tmp")); err == nil {
		t.Error("temporary file left behind")
	}
	rep, err = Repair(dir, Options{})
	if err != nil || rep.Changed() {
		t.Errorf("second repair: %v, %v", rep, err)
	}
}

func TestRepairNothingThere(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		rep, err := Repair(dir, Options{})
		if err != nil || rep.Changed() || rep.Manifest != "" {
			t.Errorf("Repair(%s) = %v, %v; want nothing to do", dir, rep, err)
		}
	}
}

func TestRepairLeavesDamageAlone(t *testing.T) {
	bad := block + "garbage\r\n" + block[:20]
	dir := writeDir(t, "file appendonly.aof.1.incr.aof seq 1 type i\n",
		map[string]string{"appendonly.aof.1.incr.aof": bad})
	_, err := Repair(dir, Options{})
	var fe *FormatError
	if !errors.As(err, &fe) || fe.File != "appendonly.aof.1.incr.aof" || fe.Offset != int64(len(block)) {
		t.Fatalf("Repair = %v, want a *FormatError at %d", err, len(block))
	}
	if got := readFile(t, filepath.Join(dir, "appendonly.aof.1.incr.aof")); got != bad {
		t.Error("Repair changed a damaged file")
	}
}

// FuzzPlan checks that plan never panics, that its cuts are ordered and in
// range, and that what it keeps is a fixed point: no unfinished MULTI, no
// incomplete command.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(sel0+block+plain), true)
	f.Add([]byte(block+block[:33]), true)
	f.Add([]byte(resp("MULTI", "XADD s 2-0 c y")+sel0+block), false)
	f.Add([]byte("#TS:1\r\n*1\r\n$5\r\nMULTI\r\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, last bool) {
		cuts, size, err := plan(bytes.NewReader(in), int64(len(in)), last)
		if err != nil {
			return
		}
		if size != int64(len(in)) {
			t.Fatalf("size %d of %d bytes", size, len(in))
		}
		var out []byte
		var at int64
		for _, c := range cuts {
			if c.Start < at || c.End < c.Start || c.End > size {
				t.Fatalf("bad cuts %+v", cuts)
			}
			out = append(out, in[at:c.Start]...)
			at = c.End
		}
		out = append(out, in[at:]...)
		again, _, err := plan(bytes.NewReader(out), int64(len(out)), last)
		if err != nil || len(again) > 0 {
			t.Fatalf("kept bytes are not clean: %v %v", again, err)
		}
	})
}
