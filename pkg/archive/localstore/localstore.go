// Package localstore is an archive.Store on a local directory: each
// object is a file under the root, written to a temporary file, fsynced,
// renamed into place and its directory fsynced, so that a Put that
// returned survives a crash and a crash mid-Put leaves the old object or
// none, never a part.
package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/archive"
)

// tmpDir is the root's directory of objects being written; List skips it
// and Open clears it.
const tmpDir = ".tmp"

// Store is a directory of archive objects. Build it with Open.
type Store struct {
	root string
}

var _ archive.Store = (*Store)(nil)

// Open returns the store rooted at dir, creating the directory if needed,
// and removes what an interrupted Put left.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("localstore: a directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o750); err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	left, _ := os.ReadDir(filepath.Join(abs, tmpDir))
	for _, e := range left {
		os.Remove(filepath.Join(abs, tmpDir, e.Name()))
	}
	return &Store{root: abs}, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) path(name string) (string, error) {
	if err := archive.ValidName(name); err != nil {
		return "", err
	}
	if strings.HasPrefix(name, tmpDir+"/") || name == tmpDir {
		return "", fmt.Errorf("localstore: object name %q is reserved", name)
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// Put writes the object durably: temporary file, fsync, rename, fsync of
// the directory (and of each directory it had to create).
func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := s.mkdirs(filepath.Dir(p)); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "put-*")
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: r})
	if err == nil && n != size {
		err = fmt.Errorf("localstore: put %s: read %d bytes, want %d", name, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	if err != nil {
		return fmt.Errorf("localstore: put %s: %w", name, err)
	}
	return nil
}

// mkdirs creates dir and its missing parents under the root, fsyncing
// each parent that gained an entry.
func (s *Store) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && len(parent) >= len(s.root) {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("localstore: %w", err)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get opens the object's file.
func (s *Store) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", archive.ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	return f, nil
}

// List walks the directory of prefix and returns the names under it that
// start with prefix, sorted.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		if _, err := s.path(prefix[:i]); err != nil {
			return nil, err
		}
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var out []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == tmpDir {
				return fs.SkipDir
			}
			return ctx.Err()
		}
		if strings.HasPrefix(rel, prefix) && archive.ValidName(rel) == nil {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: list %s: %w", prefix, err)
	}
	sort.Strings(out)
	return out, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
