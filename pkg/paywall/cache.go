package paywall

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// days gives the name of a time's UTC day, remembering the last one: every
// charged request asks for it, and nearly all of them ask for the same.
type days struct{ last atomic.Pointer[dayName] }

type dayName struct {
	n    int64 // days since 1970-01-01
	name string
}

func (d *days) of(t time.Time) string {
	n := t.Unix()
	if n < 0 {
		return day(t)
	}
	n /= 24 * 3600
	if l := d.last.Load(); l != nil && l.n == n {
		return l.name
	}
	l := &dayName{n: n, name: day(t)}
	d.last.Store(l)
	return l.name
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// jwks remembers the public JWK of the keys that signed charged requests
// (each commitment carries its key's, for the ledger's archive), by the
// public key; at most jwksMax, then it starts over.
type jwks struct {
	mu sync.Mutex
	m  map[string]jwkEntry
}

type jwkEntry struct{ id, jwk string }

const jwksMax = 4096

func (j *jwks) of(k deferred.Key) string {
	j.mu.Lock()
	e, ok := j.m[string(k.Public)]
	j.mu.Unlock()
	if ok && e.id == k.ID {
		return e.jwk
	}
	e = jwkEntry{id: k.ID, jwk: string(k.JWK())}
	j.mu.Lock()
	if j.m == nil || len(j.m) >= jwksMax {
		j.m = make(map[string]jwkEntry)
	}
	j.m[string(k.Public)] = e
	j.mu.Unlock()
	return e.jwk
}
