// Package aofrepair makes a Redis 7 append-only file safe to load after a
// crash, before redis-server starts on it.
//
// Redis 7 propagates the writes of a script (or a MULTI) that changes more
// than one key as one block, MULTI ... EXEC, and appends it to the AOF's last
// "incr" file. A crash can cut that append short, inside the block.
// redis-server's own answer, aof-load-truncated yes, cuts the file after its
// last complete command, which leaves MULTI and the block's first writes
// without their EXEC; the next writes are appended after them and the next
// load applies the half block (valkey-io/valkey#4342). For paycrawl's ledger
// that resurrects a commitment whose replay keys never landed, and a resend of
// the same request is then recorded twice.
//
// So paycrawl runs redis-server with aof-load-truncated no (a cut AOF stops
// it from starting) and calls Repair before every start. Repair reads the
// manifest of the AOF directory and every incr file it lists, and cuts:
//
//   - an incomplete command at the end of the last incr file (the cut write),
//     and NUL bytes after it (a machine crash can leave the file longer than
//     the data that reached the disk);
//   - a MULTI whose EXEC never came, with the commands after it up to the end
//     of the file: the transaction was never applied nor acknowledged;
//   - a MULTI without EXEC followed by later writes, as left by an earlier
//     load with aof-load-truncated yes: the block is removed, the writes after
//     it are kept. A restart begins its first write with a SELECT, so the
//     block ends at the first SELECT (or MULTI) after its MULTI. This assumes
//     that no transaction switches database before its EXEC, which holds for
//     paycrawl: its scripts and transactions use one database.
//
// redis-check-aof --fix does the first two (it asks for confirmation first),
// but on the third it truncates the file at the unfinished MULTI and drops
// every later write, acknowledged ones included.
//
// Repair never changes base files (an RDB, the aof-use-rdb-preamble yes
// default, or a RESP base): a rewrite writes them to a temporary file and
// renames it, so a crash never leaves one half written. History files are not
// loaded by redis-server and are left alone. A file that is not RESP, or an
// incr file other than the last one that ends inside a command, is damage
// rather than a cut write: Repair returns a *FormatError and changes nothing,
// and redis-server refuses the file too.
//
// Repair must run while redis-server is stopped.
package aofrepair

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DirName is redis-server's default appenddirname: the AOF directory inside
// its data directory.
const DirName = "appendonlydir"

// Options tune Repair. The zero value repairs.
type Options struct {
	// DryRun reports what Repair would cut and changes nothing.
	DryRun bool
}

// Cut is one byte range [Start, End) that Repair removed from a file (or,
// with DryRun, would remove).
type Cut struct {
	// File is the file's name inside the AOF directory.
	File       string
	Start, End int64
	// Reason says why the range goes.
	Reason string
	// Commands names the commands in the range, in order, at most
	// maxCommands of them ("..." marks more).
	Commands []string
}

func (c Cut) String() string {
	return fmt.Sprintf("%s: cut bytes %d-%d (%d bytes: %s): %s",
		c.File, c.Start, c.End, c.End-c.Start, strings.Join(c.Commands, " "), c.Reason)
}

// Report says what Repair found.
type Report struct {
	// Manifest is the manifest's file name, "" when the directory has none
	// (redis-server never wrote an AOF there).
	Manifest string
	// Scanned lists the incr files read, in load order.
	Scanned []string
	// Cuts lists what was (with DryRun: would be) removed.
	Cuts []Cut
}

// Changed reports whether Repair found something to cut.
func (r *Report) Changed() bool { return len(r.Cuts) > 0 }

func (r *Report) String() string {
	if r.Manifest == "" {
		return "no AOF manifest: nothing to repair"
	}
	if !r.Changed() {
		return fmt.Sprintf("%s: %d incr file(s) intact", r.Manifest, len(r.Scanned))
	}
	lines := make([]string, len(r.Cuts))
	for i, c := range r.Cuts {
		lines[i] = c.String()
	}
	return strings.Join(lines, "\n")
}

const maxCommands = 8

// Repair checks the AOF directory dir (the data directory joined with
// DirName, unless appenddirname says otherwise) and cuts what a crash or an
// earlier truncated load left there that redis-server must not load; the
// package comment lists the cases. A missing directory or manifest is a
// fresh server: nothing to do. Repair changes a file only after scanning all
// of them without error, and fsyncs what it changes.
func Repair(dir string, opts Options) (*Report, error) {
	rep := &Report{}
	manifest, err := findManifest(dir)
	if err != nil || manifest == "" {
		return rep, err
	}
	rep.Manifest = manifest
	incr, err := readManifest(filepath.Join(dir, manifest))
	if err != nil {
		return rep, err
	}
	sizes := make([]int64, len(incr))
	for i, name := range incr {
		rep.Scanned = append(rep.Scanned, name)
		cuts, size, err := scanFile(filepath.Join(dir, name), name, i == len(incr)-1)
		if err != nil {
			return rep, err
		}
		sizes[i] = size
		rep.Cuts = append(rep.Cuts, cuts...)
	}
	if opts.DryRun {
		return rep, nil
	}
	for i, name := range incr {
		var cuts []Cut
		for _, c := range rep.Cuts {
			if c.File == name {
				cuts = append(cuts, c)
			}
		}
		if len(cuts) > 0 {
			if err := apply(dir, name, sizes[i], cuts); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func findManifest(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("aofrepair: %w", err)
	}
	var found []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".manifest") {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("aofrepair: %s holds several manifests (%s): which one redis-server loads depends on appendfilename",
		dir, strings.Join(found, ", "))
}

// readManifest returns the names of the manifest's incr files in load order
// (by seq). Lines look like "file <name> seq <n> type <b|h|i>".
func readManifest(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("aofrepair: %w", err)
	}
	type entry struct {
		name string
		seq  int64
	}
	var incr []entry
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("aofrepair: %s line %d: %q is not key/value pairs", path, n+1, line)
		}
		kv := map[string]string{}
		for i := 0; i < len(f); i += 2 {
			kv[f[i]] = f[i+1]
		}
		name, typ := kv["file"], kv["type"]
		if name == "" || typ == "" || strings.ContainsAny(name, `"/\`) {
			return nil, fmt.Errorf("aofrepair: %s line %d: unsupported entry %q", path, n+1, line)
		}
		if typ != "i" {
			continue
		}
		seq, err := strconv.ParseInt(kv["seq"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("aofrepair: %s line %d: bad seq in %q", path, n+1, line)
		}
		incr = append(incr, entry{name, seq})
	}
	sort.SliceStable(incr, func(i, j int) bool { return incr[i].seq < incr[j].seq })
	names := make([]string, len(incr))
	for i, e := range incr {
		names[i] = e.name
	}
	return names, nil
}

func scanFile(path, name string, last bool) ([]Cut, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		// redis-server creates a listed incr file that is missing; nothing
		// to load, nothing to cut.
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("aofrepair: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("aofrepair: %w", err)
	}
	cuts, size, err := plan(f, st.Size(), last)
	var fe *FormatError
	if errors.As(err, &fe) {
		fe.File = name
	}
	for i := range cuts {
		cuts[i].File = name
	}
	return cuts, size, err
}

// plan scans one incr file of size bytes and returns the ranges to cut and
// the size. last says whether it is the last incr file, the only one a crash
// can cut. There, NUL bytes at the end are cut too: a machine crash can leave
// the file longer than the data that reached the disk.
func plan(r io.ReaderAt, size int64, last bool) ([]Cut, int64, error) {
	end := size
	if last {
		var err error
		if end, err = trailingNUL(r, size); err != nil {
			return nil, 0, err
		}
	}
	cuts, scanned, err := planCommands(io.NewSectionReader(r, 0, end), last)
	if err != nil {
		return nil, 0, err
	}
	if scanned != end {
		return nil, 0, fmt.Errorf("aofrepair: read %d bytes of %d", scanned, end)
	}
	if end < size {
		const nul = "NUL bytes at the end of the file (a machine crash before the data reached the disk)"
		if n := len(cuts); n > 0 && cuts[n-1].End == end {
			cuts[n-1].End = size
			cuts[n-1].Reason += "; then " + nul
		} else {
			cuts = append(cuts, Cut{Start: end, End: size, Commands: []string{"NUL"}, Reason: nul})
		}
	}
	return cuts, size, nil
}

// trailingNUL returns where the run of NUL bytes that ends the input starts
// (size if there is none).
func trailingNUL(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := r.ReadAt(buf[:n], end-n); err != nil && err != io.EOF {
			return 0, fmt.Errorf("aofrepair: %w", err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				return end - n + i + 1, nil
			}
		}
		end -= n
	}
	return 0, nil
}

// planCommands is plan on the commands, without NUL tail: it returns the
// cuts and the number of bytes read.
func planCommands(r io.Reader, last bool) ([]Cut, int64, error) {
	s := newScanner(r)
	var (
		cuts     []Cut
		inMulti  bool
		multi    int64         // offset of the open MULTI
		sel      int64    = -1 // first SELECT after it, -1 none
		names    []string      // commands from the MULTI to sel
		partial  int64    = -1
		lastName string
	)
	addName := func(n string) {
		switch {
		case len(names) < maxCommands:
			names = append(names, n)
		case len(names) == maxCommands:
			names = append(names, "...")
		}
	}
	for {
		c, err := s.next()
		if err == io.EOF {
			break
		}
		if err == errPartial {
			if !last {
				return nil, 0, &FormatError{Offset: c.start, Msg: "file ends inside a command, and it is not the last incr file (a crash only cuts the last one)"}
			}
			partial, lastName = c.start, c.name
			break
		}
		if err != nil {
			return nil, 0, err
		}
		switch c.name {
		case "MULTI":
			if inMulti {
				to := c.start
				if sel >= 0 {
					to = sel
				}
				cuts = append(cuts, Cut{Start: multi, End: to, Commands: names,
					Reason: "MULTI without EXEC followed by later writes (left by a load with aof-load-truncated yes); the block was never applied, the later writes are kept"})
			}
			inMulti, multi, sel, names = true, c.start, -1, nil
		case "SELECT":
			if inMulti && sel < 0 {
				sel = c.start
			}
		case "EXEC":
			if !inMulti {
				return nil, 0, &FormatError{Offset: c.start, Msg: "EXEC without MULTI"}
			}
			inMulti = false
		}
		if inMulti && sel < 0 {
			addName(c.name)
		}
	}
	size := s.off
	if inMulti {
		if sel < 0 {
			if partial >= 0 {
				addName(lastName + "(incomplete)")
			}
			return append(cuts, Cut{Start: multi, End: size, Commands: names,
				Reason: "MULTI without EXEC at the end of the file (a crash cut the block short); it was never applied nor acknowledged"}), size, nil
		}
		cuts = append(cuts, Cut{Start: multi, End: sel, Commands: names,
			Reason: "MULTI without EXEC followed by later writes (left by a load with aof-load-truncated yes); the block was never applied, the later writes are kept"})
	}
	if partial >= 0 {
		cuts = append(cuts, Cut{Start: partial, End: size, Commands: []string{lastName + "(incomplete)"},
			Reason: "incomplete command at the end of the file (a crash cut the write short); it was never applied nor acknowledged"})
	}
	return cuts, size, nil
}

// apply removes cuts (sorted, disjoint) from the file. A single cut at the
// end truncates the file; any other set rewrites it to a temporary file that
// replaces it with a rename.
func apply(dir, name string, size int64, cuts []Cut) error {
	path := filepath.Join(dir, name)
	if len(cuts) == 1 && cuts[0].End == size {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("aofrepair: %w", err)
		}
		if err := f.Truncate(cuts[0].Start); err != nil {
			f.Close()
			return fmt.Errorf("aofrepair: truncate %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("aofrepair: fsync %s: %w", name, err)
		}
		return f.Close()
	}
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("aofrepair: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("aofrepair: %w", err)
	}
	tmp := path + ".aofrepair.tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("aofrepair: %w", err)
	}
	fail := func(err error) error {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("aofrepair: rewrite %s: %w", name, err)
	}
	w := bufio.NewWriterSize(dst, 1<<20)
	var at int64
	for _, c := range append(cuts, Cut{Start: size, End: size}) {
		if _, err := io.Copy(w, io.NewSectionReader(src, at, c.Start-at)); err != nil {
			return fail(err)
		}
		at = c.End
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := dst.Sync(); err != nil {
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("aofrepair: rewrite %s: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("aofrepair: rewrite %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("aofrepair: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("aofrepair: fsync %s: %w", dir, err)
	}
	return nil
}
