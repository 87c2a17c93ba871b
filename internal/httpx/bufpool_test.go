package httpx

import (
	"net/http/httputil"
	"testing"
)

var _ httputil.BufferPool = (*BufferPool)(nil)

func TestBufferPool(t *testing.T) {
	var p BufferPool
	b := p.Get()
	if len(b) != 32<<10 {
		t.Fatalf("buffer of %d bytes, want 32 KiB", len(b))
	}
	p.Put(b)
	if got := p.Get(); len(got) != 32<<10 {
		t.Fatalf("buffer of %d bytes after a Put", len(got))
	}
}
