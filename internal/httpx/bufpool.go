package httpx

import "sync"

// BufferPool is an httputil.BufferPool of 32 KiB buffers, the size
// httputil.ReverseProxy allocates for every response it copies when it has
// no pool. The zero value is ready to use.
type BufferPool struct{ p sync.Pool }

// Get returns a buffer from the pool, or a new one.
func (b *BufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

// Put returns buf to the pool.
func (b *BufferPool) Put(buf []byte) { b.p.Put(&buf) }
