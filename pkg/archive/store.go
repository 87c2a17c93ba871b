package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is returned by Store.Get for a name the store does not hold.
var ErrNotFound = errors.New("archive: not found")

// Store holds archive objects by name. Names are slash-separated paths of
// characters [A-Za-z0-9._:@=-], never with an empty, "." or ".." element
// (ValidName). Implementations: localstore (a directory) and s3store (any
// S3-compatible object store).
type Store interface {
	// Put stores size bytes read from r under name, replacing any object of
	// that name atomically (a reader sees the old or the new, never a
	// part), and returns once the object is durable.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get opens the object; a missing one gives an error wrapping
	// ErrNotFound. The caller closes the reader.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the names that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// ValidName checks that name is a store name (see Store). Stores call it
// on every name so that no name escapes their root.
func ValidName(name string) error {
	if name == "" || len(name) > 1024 {
		return fmt.Errorf("archive: object name %q: want 1 to 1024 characters", clip(name))
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("archive: object name %q: empty, . or .. element", clip(name))
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '@', c == '=', c == '/':
		default:
			return fmt.Errorf("archive: object name %q: character %q not allowed", clip(name), c)
		}
	}
	return nil
}

// SegmentName is the name of a crawler-day's segment.
func SegmentName(account, day string) string {
	return "segments/" + day + "/" + account + ".ndjson.zst"
}

// manifestPrefix starts every manifest's name.
const manifestPrefix = "manifests/"

// manifestName is the name of the seq-th manifest, of day.
func manifestName(seq int64, day string) string {
	return fmt.Sprintf("%s%012d-%s.json", manifestPrefix, seq, day)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
