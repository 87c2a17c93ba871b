package paywall

import (
	"sync"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

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
