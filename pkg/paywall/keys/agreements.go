package keys

import (
	"context"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/paywall"
)

// agreementRefresh bounds a background re-read of an account's agreements.
const agreementRefresh = 2 * time.Second

// agreementCache holds, per crawler account, the accepted versions of its
// agreements as the registry last gave them. It serves what it holds
// without waiting: an entry older than the resolver's TTL is served while
// one background read refreshes it, and a failed refresh keeps it (the
// last good answer) until a later one succeeds. Accepted versions change
// only by new acceptances (never in place), each applying from its own
// start, and every acceptance is announced as "agreements <account>",
// which drops the entry: the next request reads the registry again. Offers,
// declines and withdrawals change nothing the cache holds and announce
// nothing, so a publisher's offers never empty it.
type agreementCache struct {
	mu      sync.Mutex
	gen     map[string]uint64 // bumped by each invalidation of an account
	entries map[string]*agreementEntry
}

type agreementEntry struct {
	versions []agreement.Agreement
	read     time.Time
	// refreshing is set while a background read is in flight.
	refreshing bool
}

// Agreements returns the accepted versions of account's agreements (every
// version ever accepted, superseded ones included: a period's quota
// depends on when the agreement first came into force). The first read of
// an account waits for the registry; a Redis failure then is
// CodeDirectoryUnavailable. Later reads never wait: see agreementCache.
func (r *Resolver) Agreements(ctx context.Context, account string) ([]agreement.Agreement, error) {
	c := &r.agrs
	now := r.now()
	c.mu.Lock()
	e, ok := c.entries[account]
	if ok {
		if !e.refreshing && !now.Before(e.read.Add(r.ttl)) {
			e.refreshing = true
			go r.refreshAgreements(account, c.gen[account], e)
		}
		v := e.versions
		c.mu.Unlock()
		return v, nil
	}
	gen := c.gen[account]
	c.mu.Unlock()
	v, err := r.readAgreements(ctx, account)
	if err != nil {
		return nil, r.protocol(err)
	}
	c.store(account, gen, &agreementEntry{versions: v, read: now}, r.maxEntries)
	return v, nil
}

// refreshAgreements re-reads account's agreements for the entry e, in the
// background; a failure keeps e, to be tried again after retryAfter.
func (r *Resolver) refreshAgreements(account string, gen uint64, e *agreementEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), agreementRefresh)
	defer cancel()
	v, err := r.readAgreements(ctx, account)
	c := &r.agrs
	if err != nil {
		r.log.Warn("keys: agreements re-read failed; serving the last answer", "account", account, "read", e.read, "err", err)
		c.mu.Lock()
		e.refreshing = false
		// Try again after retryAfter, not on the very next request.
		e.read = r.now().Add(retryAfter - r.ttl)
		c.mu.Unlock()
		return
	}
	c.store(account, gen, &agreementEntry{versions: v, read: r.now()}, r.maxEntries)
}

// readAgreements reads the accepted versions of account's agreements from
// the registry's index of them (registry.Store.AcceptedAgreements), whose
// cost does not grow with the offers the account was made.
func (r *Resolver) readAgreements(ctx context.Context, account string) ([]agreement.Agreement, error) {
	return r.store.AcceptedAgreements(ctx, account)
}

// store caches e for account unless an invalidation of the account came
// after the read began (gen).
func (c *agreementCache) store(account string, gen uint64, e *agreementEntry, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[account] != gen {
		return
	}
	if c.entries == nil {
		c.entries = map[string]*agreementEntry{}
	}
	if _, ok := c.entries[account]; !ok && len(c.entries) >= max {
		clear(c.entries) // forgetting costs one read per account
	}
	c.entries[account] = e
}

// invalidate drops account's entry ("" drops every entry).
func (c *agreementCache) invalidate(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == nil {
		c.gen = map[string]uint64{}
	}
	if account == "" {
		for a := range c.entries {
			c.gen[a]++
		}
		clear(c.entries)
		return
	}
	c.gen[account]++
	if len(c.gen) > 100_000 {
		// Generations only guard reads in flight; a fresh map loses none
		// that matter but for those, which then store what they read.
		c.gen = map[string]uint64{account: 1}
	}
	delete(c.entries, account)
}

// Agreements adapts a resolver to the paywall's Agreements.
func Agreements(r *Resolver) paywall.Agreements { return r }

var (
	_ paywall.Agreements   = (*Resolver)(nil)
	_ deferred.KeyResolver = (*Resolver)(nil)
)
